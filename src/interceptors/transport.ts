// The innermost client layer: one attempt on the grpc-js channel, as the listener of its call.
// Together with adapter.ts this is the only code that touches grpc-js's calls.
import { Metadata, status as Status, type InterceptingListener, type StatusObject } from '@grpc/grpc-js';
import { makeStatus } from '../call/status.js';
import { PREVIOUS_ATTEMPTS_HEADER } from '../call/wire.js';
import { abortStatus, failedResult } from './call.js';
import { Outpaced } from './outpaced.js';
import { setTimer, unrefTimer } from '../clock.js';
import type {
  AttemptChannel,
  AttemptHandle,
  AttemptRecord,
  AttemptTrace,
  ClientCall,
  ClientDone,
  ClientNext,
  ClientResult,
  ClientSend,
} from './types.js';
import { fromNext, soon } from './send.js';
import { errorText } from '../errors.js';
import { listenForAbort, stopListening, type AbortHandler, type AbortListener } from '../call/cancellation.js';

// An attempt's handle is a grpc-js InterceptingCall or raw Call (adapter.ts opens it).
export type { AttemptChannel, AttemptHandle } from './types.js';

/**
 * The metadata one attempt sends, before any routing hint: the call's own, plus gRPC A6's
 * `grpc-previous-rpc-attempts` on a retry or hedge, and the attempt's span context when the
 * call is traced (each attempt its own span id). The call's own object when there is neither:
 * an untraced first attempt costs no copy.
 */
export function attemptMetadata(call: ClientCall, trace: AttemptTrace | undefined): Metadata {
  const previous = call.attempt === undefined ? 0 : call.attempt.index - 1;
  if (previous === 0 && trace === undefined) return call.metadata;
  const metadata = call.metadata.clone();
  if (previous > 0) metadata.set(PREVIOUS_ATTEMPTS_HEADER, String(previous));
  trace?.inject(metadata);
  return metadata;
}

/**
 * Sends one attempt of `call` on `channel` and calls `done` with how it ended (ClientSend's
 * rules: once, never before it has returned, never with an exception).
 */
export function sendAttempt(channel: AttemptChannel, call: ClientCall, done: ClientDone): void {
  if (call.signal.aborted) {
    const result = failedResult(abortStatus(call.signal));
    soon(() => done(result));
    return;
  }
  const trace = call.trace?.startAttempt(call);
  const attempt = new Attempt(call, channel, done, trace);
  // The channel carries call.hint to the picker (AttemptChannel.open).
  attempt.open(channel, attemptMetadata(call, trace));
  trace?.sent(channel.requestBytes?.(call.message));
}

/**
 * The bottom of a stack in callback form: the attempt on the grpc-js call it came through
 * (ClientCall.via), else the call's own transport (a promise).
 */
export const dispatchSend: ClientSend = (call, done) => {
  // A layer that gave the call a transport of its own is obeyed.
  if (call.via !== undefined && call.transport === sendVia) sendAttempt(call.via, call, done);
  else fromNext(call.transport)(call, done);
};

/** The grpc-js adapter's ClientCall.transport: sendAttempt on the call's `via`, as a promise. */
export const sendVia: ClientNext = (call) => new Promise<ClientResult>((resolve) => sendAttempt(call.via!, call, resolve));

/**
 * One attempt on the channel, as the grpc-js listener of its call. A class rather than a
 * bundle of closures: this runs once per attempt, and fewer objects per call is measurably
 * less garbage-collection time under load.
 *
 * Once it has ended it lets go of the call, the channel, where its result went and the
 * response (#end). grpc-js's call objects still hold it as their listener for a while, and a
 * dead object the garbage collector has moved to the old generation (an attempt in flight
 * during a young collection) keeps all it points to alive through every young collection
 * until the next full one: the caller's listener, request and response would be copied and
 * promoted with it, and their own references after them.
 */
class Attempt implements InterceptingListener, AbortHandler {
  /** Set as soon as the channel has started the attempt (before any of its events). */
  handle: AttemptHandle | undefined;
  /** The call, its channel and where its result goes, until it has ended (see the class). */
  #call: ClientCall | undefined;
  #done: ClientDone | undefined;
  readonly #started = performance.now();
  readonly #streaming: boolean;
  readonly #decode: ((message: Buffer) => unknown) | undefined;
  #channel: AttemptChannel | undefined;
  /** Response bytes received, when they come serialized (`decode`). */
  #receivedBytes = 0;
  #headers: Metadata | undefined;
  /** grpc-js hands a unary call that ended OK without a message null (its client says "No message received"). */
  #message: unknown = null;
  #messages = 0;
  #readError: StatusObject | undefined;
  /** The attempt's span, when the call is traced. */
  readonly #trace: AttemptTrace | undefined;
  /** Ends the wait of an outpaced loser for its per-attempt timeout. */
  #linger: (() => void) | undefined;
  /** Inside a call of ours into grpc-js (open, cancel): a status reported there is handed on later. */
  #inside = false;
  #ended = false;
  /** How it listens to the call's signal (listenForAbort). */
  readonly #listener: AbortListener;

  constructor(call: ClientCall, channel: AttemptChannel, done: ClientDone, trace: AttemptTrace | undefined) {
    this.#call = call;
    this.#streaming = channel.streaming;
    this.#decode = channel.decode;
    this.#channel = channel;
    this.#done = done;
    this.#trace = trace;
    this.#listener = listenForAbort(call.signal, this);
  }

  /** Starts the attempt on the channel; a channel that refuses it (a closed client) ends it UNAVAILABLE. */
  open(channel: AttemptChannel, metadata: Metadata): void {
    this.#inside = true;
    try {
      this.handle = channel.open(this.#call!, metadata, this);
    } catch (error) {
      // grpc-js throws at once when the client was closed under a call that wants another attempt.
      soon(() => this.notStarted(error));
    } finally {
      this.#inside = false;
    }
  }

  /** Cancels the grpc-js call; a status it reports at once is handed on after this returns. */
  #cancel(code: Status, details: string): void {
    this.#inside = true;
    try {
      this.handle?.cancelWithStatus(code, details);
    } finally {
      this.#inside = false;
    }
  }

  /** Hands the result on once, in the caller's async context, never inside a call of ours into grpc-js. */
  #end(result: ClientResult): void {
    if (this.#ended) return;
    this.#ended = true;
    const channel = this.#channel!;
    const done = this.#done!;
    this.#call = this.#channel = this.#done = this.#headers = undefined;
    this.#message = null;
    // In the caller's async context: grpc-js reports the end from its connection's.
    if (this.#inside) soon(() => channel.inCallerContext(done, result));
    else channel.inCallerContext(done, result);
  }

  /** The call's signal aborted (AbortHandler: the attempt listens itself, no closure per attempt). */
  handleEvent(): void {
    const call = this.#call!;
    const reason = abortStatus(call.signal);
    // The span ends as the mesh gave the attempt up (a hedge that lost, a cut, the caller's
    // cancel), not whenever grpc-js reports the cancelled stream.
    this.#trace?.end(reason, this.#peer());
    const outpaced = call.signal.reason;
    if (outpaced instanceof Outpaced) {
      // Over for the call; the stream runs on to its per-attempt timeout (see Outpaced).
      const { clock, lingerMs } = outpaced;
      const timer = unrefTimer(
        setTimer(
          clock,
          () => this.#cancel(Status.DEADLINE_EXCEEDED, `outpaced by a hedge, then no answer within its per-attempt timeout`),
          lingerMs,
        ),
      );
      this.#linger = () => clock.clearTimeout(timer);
      return;
    }
    this.#cancel(reason.code, reason.details);
  }

  /** grpc-js knows the peer once the call is committed; before that, the picker's word counts. */
  #peer(): string | undefined {
    const value = this.handle?.getPeer() ?? '';
    return looksLikeEndpoint(value) ? value : this.#call?.hint?.picked();
  }

  /** The channel refused to start the attempt: it ends UNAVAILABLE, having never left the client. */
  notStarted(error: unknown): void {
    // A channel that reported a status before it threw has ended the attempt already.
    if (this.#ended) return;
    stopListening(this.#call!.signal, this.#listener);
    const details = `attempt not started: ${errorText(error)}`;
    this.#trace?.end(makeStatus(Status.UNAVAILABLE, details), undefined);
    const record: AttemptRecord = {
      code: Status.UNAVAILABLE,
      peer: undefined,
      mayHaveReachedServer: false,
      startedAt: this.#started,
      durationMs: 0,
    };
    this.#end(failedResult(makeStatus(Status.UNAVAILABLE, details), [record]));
  }

  onReceiveMetadata(metadata: Metadata): void {
    this.#headers = metadata;
  }

  onReceiveMessage(received: unknown): void {
    // Nothing comes after the status; were it to, the attempt has let go of its call (#end).
    if (this.#ended) return;
    this.#trace?.received(Buffer.isBuffer(received) ? received.length : undefined);
    let message = received;
    if (this.#decode) {
      if (this.#readError) return;
      this.#receivedBytes += (received as Buffer).length;
      try {
        message = this.#decode(received as Buffer);
      } catch (error) {
        // As grpc-js's own bottom call does: the attempt ends INTERNAL, whatever the server says.
        const details = `Response message parsing error: ${errorText(error)}`;
        this.#readError = makeStatus(Status.INTERNAL, details);
        this.#cancel(Status.INTERNAL, details);
        return;
      }
    }
    if (!this.#streaming) {
      this.#message = message;
      return;
    }
    const { sink } = this.#call!;
    if (this.#messages++ === 0) sink.headers(this.#headers ?? new Metadata());
    sink.message(message);
  }

  onReceiveStatus(received: StatusObject): void {
    if (this.#ended) return;
    this.#linger?.();
    this.#linger = undefined;
    const call = this.#call!;
    const status = this.#readError ?? received;
    stopListening(call.signal, this.#listener);
    const endpoint = this.#peer();
    const sentBytes = this.#decode ? this.#channel!.requestBytes?.(call.message) : undefined;
    this.#trace?.end(status, endpoint);
    const mayHaveReachedServer = this.#headers !== undefined || endpoint !== undefined;
    const durationMs = performance.now() - this.#started;
    const record: AttemptRecord =
      sentBytes === undefined
        ? { code: status.code, peer: endpoint, mayHaveReachedServer, startedAt: this.#started, durationMs }
        : {
            code: status.code,
            peer: endpoint,
            mayHaveReachedServer,
            startedAt: this.#started,
            durationMs,
            sentBytes,
            receivedBytes: this.#receivedBytes,
          };
    this.#end({
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
  let known = endpointLike.get(peer);
  if (known === undefined) {
    // Peers are the endpoints' addresses and the channel targets: few, asked about on every call.
    if (endpointLike.size >= 10_000) endpointLike.clear();
    endpointLike.set(peer, (known = /^(\[[0-9a-fA-F:.%\w]+\]|[\w.-]+):\d+$/.test(peer)));
  }
  return known;
}

const endpointLike = new Map<string, boolean>();
