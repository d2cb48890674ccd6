// Where grpc-js's callback-based client interceptor machinery meets our `(next) => next`
// layers: a grpc-js call on the outside, the layer chain inside, and the transport
// (transport.ts) at the bottom. Nothing else in the toolkit touches InterceptingCall.
import {
  InterceptingCall,
  Metadata,
  status as Status,
  type Interceptor as GrpcInterceptor,
  type InterceptingListener,
  type InterceptorOptions,
  type NextCall,
} from '@grpc/grpc-js';
import type { InterceptingCallInterface } from '@grpc/grpc-js/build/src/client-interceptors.js';
import { Cancellation } from '../call/cancellation.js';
import { deadlineMs } from '../call/deadline.js';
import { methodCache, type MethodInfo } from '../call/method.js';
import { withoutRoutingHint } from '../call/routing-hint.js';
import { makeStatus } from '../call/status.js';
import { failedResult } from './call.js';
import { methodLookup, type MethodTable } from '../call/method-table.js';
import { sendAttempt, type AttemptChannel } from './transport.js';
import { dispatch, type ClientCall, type ClientLayer, type ClientNext, type ClientResult, type ResponseSink } from './types.js';

/**
 * Turns our layers into one grpc-js client interceptor, usable with any client on any target:
 * `new Client(target, creds, { interceptors: [toGrpcInterceptor(layer)] })`.
 *
 * Unary and server-streaming calls run through the layers. Client-streaming and bidi calls
 * pass through untouched: their requests cannot be replayed, so no layer could retry them.
 */
export function toGrpcInterceptor(layer: ClientLayer, options: AdapterOptions = {}): GrpcInterceptor {
  const methodOf = methodCache();
  const waitsForReady = methodLookup(options.waitForReady, false);
  const chain = layer(dispatch);
  return (callOptions, nextCall) => {
    const definition = callOptions.method_definition;
    if (definition.requestStream) return new InterceptingCall(nextCall(callOptions));
    const method = methodOf(definition.path, definition.requestStream, definition.responseStream);
    return new InterceptingCall(new LayeredCall(method, callOptions, nextCall, chain, waitsForReady(method)));
  };
}

export interface AdapterOptions {
  /**
   * Methods whose calls wait for a ready endpoint (grpc-js `waitForReady`) although their
   * metadata does not say so, keyed like a service config's names: "pkg.Service/Method",
   * "pkg.Service" or "*". The layers and grpc-js then see it on the call's metadata.
   */
  waitForReady?: MethodTable<boolean>;
}

/**
 * Server-streaming flow control across attempts: the caller asks for one message at a time
 * (startRead); the request is forwarded to whichever attempt is current, including one that
 * starts after the request was made.
 */
class ReadFlow {
  #wanted = false;
  #call: InterceptingCallInterface | undefined;

  attach(call: InterceptingCallInterface): void {
    this.#call = call;
    if (this.#wanted) call.startRead();
  }

  request(): void {
    this.#wanted = true;
    this.#call?.startRead();
  }

  delivered(): void {
    this.#wanted = false;
  }
}

/** The grpc-js call the caller holds; its request runs through the layers once it is complete. */
class LayeredCall implements InterceptingCallInterface, ResponseSink, AttemptChannel {
  readonly #method: MethodInfo;
  readonly #options: InterceptorOptions;
  readonly #nextCall: NextCall;
  readonly #chain: ClientNext;
  readonly #abort = new Cancellation();
  readonly #flow = new ReadFlow();
  readonly streaming: boolean;
  #listener: Partial<InterceptingListener> = {};
  #metadata: Metadata | undefined;
  #message: unknown;
  #current: InterceptingCallInterface | undefined;
  #peer: string | undefined;
  #headersDelivered = false;
  readonly #waitForReady: boolean;

  constructor(method: MethodInfo, options: InterceptorOptions, nextCall: NextCall, chain: ClientNext, waitForReady: boolean) {
    this.#method = method;
    this.#options = options;
    this.#nextCall = nextCall;
    this.#chain = chain;
    this.#waitForReady = waitForReady;
    this.streaming = method.kind === 'server_stream';
  }

  start(metadata: Metadata, listener?: Partial<InterceptingListener>): void {
    this.#metadata = metadata;
    this.#listener = listener ?? {};
  }

  sendMessageWithContext(_context: unknown, message: unknown): void {
    this.#message = message;
  }

  sendMessage(message: unknown): void {
    this.#message = message;
  }

  halfClose(): void {
    let metadata = withoutRoutingHint(this.#metadata ?? new Metadata());
    if (this.#waitForReady && !metadata.getOptions().waitForReady) {
      metadata = metadata.clone();
      metadata.setOptions({ ...metadata.getOptions(), waitForReady: true });
    }
    const call: ClientCall = {
      method: this.#method,
      message: this.#message,
      metadata,
      deadline: deadlineMs(this.#options.deadline),
      signal: this.#abort,
      sink: this,
      hint: undefined,
      callOptions: this.#options,
      transport: this.#transport,
    };
    this.#chain(call).then(
      (result) => this.#finish(result),
      (error: unknown) => this.#finish(failedResult(makeStatus(Status.INTERNAL, `grpc-meshlite layer failed: ${String(error)}`))),
    );
  }

  startRead(): void {
    this.#flow.request();
  }

  cancelWithStatus(code: Status, details: string): void {
    this.#abort.abort(makeStatus(code, details));
  }

  getPeer(): string {
    return this.#peer ?? this.#current?.getPeer() ?? '';
  }

  getAuthContext() {
    return this.#current?.getAuthContext() ?? null;
  }

  /** ResponseSink: a server stream's headers, delivered once. */
  headers(metadata: Metadata): void {
    if (this.#headersDelivered) return;
    this.#headersDelivered = true;
    this.#listener.onReceiveMetadata?.(metadata);
  }

  /** ResponseSink: a server stream's message, as it arrives. */
  message(message: unknown): void {
    this.#flow.delivered();
    this.#listener.onReceiveMessage?.(message);
  }

  /** AttemptChannel: a new attempt on the channel, with the caller's options and its own deadline. */
  open(deadline: number): InterceptingCallInterface {
    return this.#nextCall({ ...this.#options, deadline });
  }

  /** AttemptChannel: the attempt the caller's reads and peer now come from. */
  started(attempt: InterceptingCallInterface, streaming: boolean): void {
    this.#current = attempt;
    if (streaming) this.#flow.attach(attempt);
  }

  #finish(result: ClientResult): void {
    this.#peer = result.peer ?? this.#peer;
    this.headers(result.headers ?? new Metadata());
    if (this.#method.kind === 'unary' && result.status.code === Status.OK) {
      this.#listener.onReceiveMessage?.(result.message);
    }
    this.#listener.onReceiveStatus?.(result.status);
  }

  /** The innermost layer: one attempt on the channel. */
  readonly #transport: ClientNext = (call) => sendAttempt(this, call);
}
