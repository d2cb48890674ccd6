// The one place where grpc-js's server interceptor machinery meets our `(next) => next`
// server layers. Nothing else in the toolkit touches ServerInterceptingCall.
import {
  Metadata,
  ServerInterceptingCall,
  status as Status,
  type ServerInterceptingCallInterface,
  type ServerInterceptor,
} from '@grpc/grpc-js';
import type { InterceptingServerListener } from '@grpc/grpc-js/build/src/server-interceptors.js';
import { context, type Context } from '@opentelemetry/api';
import { deadlineMs } from '../call/deadline.js';
import { methodCache, type MethodInfo } from '../call/method.js';
import { identityOf } from '../security/identity.js';
import type { ServerCall, ServerLayer, ServerResult, ServerStatus } from './types.js';

/**
 * Turns server layers into one grpc-js server interceptor:
 * `new grpc.Server({ interceptors: [toGrpcServerInterceptor(layer)] })`.
 */
export function toGrpcServerInterceptor(layer: ServerLayer): ServerInterceptor {
  const methodOf = methodCache();
  return (descriptor, transport) => {
    const method = methodOf(descriptor.path, descriptor.requestStream, descriptor.responseStream);
    return new ServerInterceptingCall(new LayeredServerCall(method, transport, layer));
  };
}

type Incoming = { kind: 'message'; message: unknown } | { kind: 'half-close' };

class LayeredServerCall implements ServerInterceptingCallInterface {
  readonly #method: MethodInfo;
  readonly #transport: ServerInterceptingCallInterface;
  readonly #layer: ServerLayer;
  readonly #abort = new AbortController();
  readonly #responseHeaders = new Metadata();
  #handler: InterceptingServerListener | undefined;
  /** Messages that arrived before the layers let the call through to the handler. */
  #held: Incoming[] | undefined = [];
  #headersSent = false;
  #ended = false;
  /** Resolves the handler's part of the chain with what it sent. */
  #handlerDone: ((result: ServerResult) => void) | undefined;
  #handlerHeaders: Metadata | undefined;
  #handlerMessage: unknown;
  /** The call's trace context (its server span's), which the handler runs in; undefined: not traced. */
  #traceContext: Context | undefined;

  constructor(method: MethodInfo, transport: ServerInterceptingCallInterface, layer: ServerLayer) {
    this.#method = method;
    this.#transport = transport;
    this.#layer = layer;
  }

  start(listener: InterceptingServerListener): void {
    this.#handler = listener;
    this.#transport.start({
      onReceiveMetadata: (metadata) => this.#run(metadata),
      onReceiveMessage: (message) => this.#incoming({ kind: 'message', message }),
      onReceiveHalfClose: () => this.#incoming({ kind: 'half-close' }),
      onCancel: () => {
        this.#abort.abort();
        this.#handler?.onCancel();
        // The call is over whether or not the handler ever answers (one that waits for
        // something that never comes would otherwise hold its layers forever: a concurrency
        // slot, an idempotency entry). The layers end it as CANCELLED; nothing more is sent.
        this.#ended = true;
        const done = this.#handlerDone;
        this.#handlerDone = undefined;
        done?.({ status: { code: Status.CANCELLED, details: 'cancelled by the client (or its deadline passed)' } });
      },
    });
  }

  // --- what the handler sends -------------------------------------------------------------

  sendMetadata(metadata: Metadata): void {
    if (this.#method.kind === 'unary') this.#handlerHeaders = metadata;
    else this.#sendHeaders(metadata);
  }

  sendMessage(message: unknown, callback: () => void): void {
    if (this.#method.kind === 'unary') {
      // Held until the layers are done; the handler may go on to its status at once.
      this.#handlerMessage = message;
      process.nextTick(callback);
      return;
    }
    this.#sendHeaders(new Metadata());
    this.#transport.sendMessage(message, callback);
  }

  sendStatus(status: ServerStatus): void {
    const done = this.#handlerDone;
    this.#handlerDone = undefined;
    done?.({ status, headers: this.#handlerHeaders, message: this.#handlerMessage });
  }

  startRead(): void {
    this.#transport.startRead();
  }

  getPeer() {
    return this.#transport.getPeer();
  }

  getDeadline() {
    return this.#transport.getDeadline();
  }

  getHost() {
    return this.#transport.getHost();
  }

  getAuthContext() {
    return this.#transport.getAuthContext();
  }

  getConnectionInfo() {
    return this.#transport.getConnectionInfo();
  }

  getMetricsRecorder() {
    return this.#transport.getMetricsRecorder();
  }

  // --- the layers --------------------------------------------------------------------------

  #run(metadata: Metadata): void {
    const call: ServerCall = {
      method: this.#method,
      metadata,
      deadline: deadlineMs(this.#transport.getDeadline()),
      peer: this.#transport.getPeer(),
      signal: this.#abort.signal,
      responseHeaders: this.#responseHeaders,
      identity: () => identityOf(this.#transport.getAuthContext().sslPeerCertificate),
      traceContext: undefined,
    };
    this.#layer(this.#toHandler)(call).then(
      (result) => this.#finish(result),
      (error: unknown) =>
        this.#finish({ status: { code: Status.INTERNAL, details: `grpc-meshlite server layer failed: ${String(error)}` } }),
    );
  }

  /** The innermost step: hand the call to the real handler and wait for its status. */
  readonly #toHandler = (call: ServerCall): Promise<ServerResult> =>
    new Promise<ServerResult>((resolve) => {
      this.#handlerDone = resolve;
      const traced = (this.#traceContext = call.traceContext);
      if (traced === undefined) this.#handlerStarts(call.metadata);
      else context.with(traced, () => this.#handlerStarts(call.metadata));
    });

  #handlerStarts(metadata: Metadata): void {
    this.#handler!.onReceiveMetadata(metadata);
    const held = this.#held ?? [];
    this.#held = undefined;
    for (const item of held) this.#deliverNow(item);
  }

  #incoming(item: Incoming): void {
    if (this.#held) this.#held.push(item);
    else this.#deliver(item);
  }

  /** Hands a message or the half-close to the handler, in the call's trace context (grpc-js runs a unary handler on the half-close). */
  #deliver(item: Incoming): void {
    const traced = this.#traceContext;
    if (traced === undefined) this.#deliverNow(item);
    else context.with(traced, () => this.#deliverNow(item));
  }

  #deliverNow(item: Incoming): void {
    if (item.kind === 'message') this.#handler!.onReceiveMessage(item.message);
    else this.#handler!.onReceiveHalfClose();
  }

  #sendHeaders(metadata: Metadata): void {
    if (this.#headersSent) return;
    this.#headersSent = true;
    const merged = metadata.clone();
    merged.merge(this.#responseHeaders);
    this.#transport.sendMetadata(merged);
  }

  #finish(result: ServerResult): void {
    if (this.#ended) return;
    this.#ended = true;
    const status = result.status;
    if (status.code !== Status.OK && !this.#headersSent) {
      // Trailers-Only: a failure before any response headers goes out as one frame, headers
      // folded into the trailers. A client that has received headers must treat the call as
      // committed (gRPC A6), so separate headers would forbid any grpc-js retry policy.
      const trailers = status.metadata?.clone() ?? new Metadata();
      if (result.headers) trailers.merge(result.headers);
      trailers.merge(this.#responseHeaders);
      this.#headersSent = true;
      this.#transport.sendStatus({ ...status, metadata: trailers });
      return;
    }
    this.#sendHeaders(result.headers ?? new Metadata());
    if (this.#method.kind === 'unary' && status.code === Status.OK && result.message !== undefined) {
      this.#transport.sendMessage(result.message, () => this.#transport.sendStatus(status));
    } else {
      this.#transport.sendStatus(status);
    }
  }
}
