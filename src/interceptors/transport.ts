// The innermost client layer: one attempt on the grpc-js channel, as the listener of its call.
// Together with adapter.ts this is the only code that touches grpc-js's InterceptingCall.
import { Metadata, status as Status, type InterceptingListener, type StatusObject } from '@grpc/grpc-js';
import type { InterceptingCallInterface } from '@grpc/grpc-js/build/src/client-interceptors.js';
import { withRoutingHint } from '../call/routing-hint.js';
import { abortStatus, failedResult } from './call.js';
import type { AttemptRecord, ClientCall, ClientResult } from './types.js';

/** What the transport needs from the grpc-js call it serves. */
export interface AttemptChannel {
  /** Starts a new attempt on the channel with the caller's options and this deadline. */
  open(deadline: number): InterceptingCallInterface;
  /** The attempt started: it is now the one reads go to and the peer comes from. */
  started(attempt: InterceptingCallInterface, streaming: boolean): void;
  readonly streaming: boolean;
}

/** Sends one attempt of `call` and resolves with how it ended; never rejects. */
export function sendAttempt(channel: AttemptChannel, call: ClientCall): Promise<ClientResult> {
  return new Promise<ClientResult>((resolve) => {
    if (call.signal.aborted) {
      resolve(failedResult(abortStatus(call.signal)));
      return;
    }
    const grpcCall = channel.open(call.deadline);
    const attempt = new Attempt(call, grpcCall, channel.streaming, resolve);
    grpcCall.start(call.hint ? withRoutingHint(call.metadata, call.hint) : call.metadata, attempt);
    grpcCall.sendMessage(call.message);
    grpcCall.halfClose();
    channel.started(grpcCall, channel.streaming);
  });
}

/**
 * One attempt on the channel, as the grpc-js listener of its call. A class rather than a
 * bundle of closures: this runs once per attempt, and fewer objects per call is measurably
 * less garbage-collection time under load.
 */
class Attempt implements InterceptingListener {
  readonly #call: ClientCall;
  readonly #grpcCall: InterceptingCallInterface;
  readonly #resolve: (result: ClientResult) => void;
  readonly #started = performance.now();
  readonly #streaming: boolean;
  #headers: Metadata | undefined;
  #message: unknown;
  #messages = 0;

  constructor(call: ClientCall, grpcCall: InterceptingCallInterface, streaming: boolean, resolve: (result: ClientResult) => void) {
    this.#call = call;
    this.#grpcCall = grpcCall;
    this.#streaming = streaming;
    this.#resolve = resolve;
    call.signal.addEventListener('abort', this.#onAbort, { once: true });
  }

  readonly #onAbort = () => {
    const reason = abortStatus(this.#call.signal);
    this.#grpcCall.cancelWithStatus(reason.code, reason.details);
  };

  /** grpc-js knows the peer once the call is committed; before that, the picker's word counts. */
  #peer(): string | undefined {
    const value = this.#grpcCall.getPeer();
    return looksLikeEndpoint(value) ? value : this.#call.hint?.picked();
  }

  onReceiveMetadata(metadata: Metadata): void {
    this.#headers = metadata;
  }

  onReceiveMessage(received: unknown): void {
    if (!this.#streaming) {
      this.#message = received;
      return;
    }
    const { sink } = this.#call;
    if (this.#messages++ === 0) sink.headers(this.#headers ?? new Metadata());
    sink.message(received);
  }

  onReceiveStatus(status: StatusObject): void {
    this.#call.signal.removeEventListener('abort', this.#onAbort);
    const endpoint = this.#peer();
    const record: AttemptRecord = {
      code: status.code,
      peer: endpoint,
      mayHaveReachedServer: this.#headers !== undefined || endpoint !== undefined,
      startedAt: this.#started,
      durationMs: performance.now() - this.#started,
    };
    this.#resolve({
      status,
      headers: this.#headers,
      message: status.code === Status.OK ? this.#message : undefined,
      peer: endpoint,
      attempts: [record],
    });
  }
}

/**
 * grpc-js reports the channel target (a URI such as "mesh:///orders") as the peer of a call
 * that never got a connection, and "host:port" once it did.
 */
function looksLikeEndpoint(peer: string): boolean {
  return /^(\[[0-9a-fA-F:.%\w]+\]|[\w.-]+):\d+$/.test(peer);
}
