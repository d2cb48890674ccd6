// The one place where grpc-js's callback-based interceptor machinery meets our
// `(next) => next` layers. Nothing else in the toolkit touches InterceptingCall.
import {
  InterceptingCall,
  Metadata,
  status as Status,
  type Interceptor as GrpcInterceptor,
  type InterceptingListener,
  type InterceptorOptions,
  type NextCall,
  type StatusObject,
} from '@grpc/grpc-js';
import type { InterceptingCallInterface } from '@grpc/grpc-js/build/src/client-interceptors.js';
import { makeStatus } from '../status.js';
import { ATTEMPT_HEADER, trackAttempt, type TrackedAttempt } from './attempt-picks.js';
import { Cancellation, type CancelSignal } from './cancellation.js';
import type { AttemptRecord, Interceptor, MeshRequest, MeshResponse, MethodInfo, MethodKind, Next, ResponseSink } from './types.js';

/** Private metadata header that carries the retry hint to the mesh balancer, which strips it. */
export const AVOID_HEADER = 'x-meshlite-avoid';

/**
 * Turns our layers into one grpc-js client interceptor, usable with any client on any target:
 * `new Client(target, creds, { interceptors: [toGrpcInterceptor(stack)] })`.
 *
 * Unary and server-streaming calls run through the layers. Client-streaming and bidi calls
 * pass through untouched: their requests cannot be replayed, so no layer could retry them.
 */
export function toGrpcInterceptor(interceptor: Interceptor): GrpcInterceptor {
  const methods = new Map<string, MethodInfo>();
  return (options, nextCall) => {
    const definition = options.method_definition;
    if (definition.requestStream) return new InterceptingCall(nextCall(options));
    let method = methods.get(definition.path);
    if (!method) {
      method = describeMethod(definition.path, definition.requestStream, definition.responseStream);
      methods.set(definition.path, method);
    }
    return new InterceptingCall(new MeshCall(method, options, nextCall, interceptor));
  };
}

export function describeMethod(path: string, requestStream = false, responseStream = false): MethodInfo {
  const slash = path.lastIndexOf('/');
  const kind: MethodKind = requestStream
    ? responseStream
      ? 'bidi_stream'
      : 'client_stream'
    : responseStream
      ? 'server_stream'
      : 'unary';
  return { path, service: path.slice(1, slash), name: path.slice(slash + 1), kind };
}

/** Deadline of grpc-js call options as epoch ms (Infinity = none). */
export function deadlineMs(deadline: Date | number | undefined): number {
  if (deadline === undefined) return Infinity;
  return deadline instanceof Date ? deadline.getTime() : deadline;
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

class MeshCall implements InterceptingCallInterface, ResponseSink {
  readonly #method: MethodInfo;
  readonly #options: InterceptorOptions;
  readonly #nextCall: NextCall;
  readonly #interceptor: Interceptor;
  readonly #abort = new Cancellation();
  readonly #flow = new ReadFlow();
  #listener: Partial<InterceptingListener> = {};
  #metadata: Metadata | undefined;
  #message: unknown;
  #current: InterceptingCallInterface | undefined;
  #peer: string | undefined;
  #headersDelivered = false;

  constructor(method: MethodInfo, options: InterceptorOptions, nextCall: NextCall, interceptor: Interceptor) {
    this.#method = method;
    this.#options = options;
    this.#nextCall = nextCall;
    this.#interceptor = interceptor;
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
    const request: MeshRequest = {
      method: this.#method,
      message: this.#message,
      metadata: this.#metadata ?? new Metadata(),
      deadline: deadlineMs(this.#options.deadline),
      attemptDeadline: undefined,
      signal: this.#abort,
      sink: this,
      avoid: undefined,
      attempt: undefined,
      callOptions: this.#options,
    };
    const next = this.#interceptor(this.#transport);
    next(request).then(
      (response) => this.#finish(response),
      (error: unknown) =>
        this.#finish(failedResponse(makeStatus(Status.INTERNAL, `grpc-meshlite layer failed: ${String(error)}`))),
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

  #finish(response: MeshResponse): void {
    this.#peer = response.peer ?? this.#peer;
    this.headers(response.headers ?? new Metadata());
    if (this.#method.kind === 'unary' && response.status.code === Status.OK) {
      this.#listener.onReceiveMessage?.(response.message);
    }
    this.#listener.onReceiveStatus?.(response.status);
  }

  /** The innermost layer: one attempt on the channel, with its own deadline and metadata. */
  readonly #transport: Next = (request) =>
    new Promise<MeshResponse>((resolve) => {
      if (request.signal.aborted) {
        resolve(failedResponse(abortStatus(request.signal)));
        return;
      }
      const call = this.#nextCall({ ...this.#options, deadline: request.attemptDeadline ?? request.deadline });
      this.#current = call;
      const attempt = new Attempt(request, call, this.#method.kind === 'server_stream', resolve);
      call.start(withHints(request.metadata, request.avoid, attempt.tracked?.id), attempt);
      call.sendMessage(request.message);
      call.halfClose();
      if (attempt.streaming) this.#flow.attach(call);
    });
}

/**
 * One attempt on the channel, as the grpc-js listener of its call. A class rather than a
 * bundle of closures: this runs once per attempt, and fewer objects per call is measurably
 * less garbage-collection time under load.
 */
class Attempt implements InterceptingListener {
  readonly #request: MeshRequest;
  readonly #call: InterceptingCallInterface;
  readonly #resolve: (response: MeshResponse) => void;
  readonly #started = performance.now();
  readonly streaming: boolean;
  /** A hedged attempt learns its endpoint from the mesh picker as soon as it is picked. */
  readonly tracked: TrackedAttempt | undefined;
  #headers: Metadata | undefined;
  #message: unknown;
  #messages = 0;

  constructor(request: MeshRequest, call: InterceptingCallInterface, streaming: boolean, resolve: (response: MeshResponse) => void) {
    this.#request = request;
    this.#call = call;
    this.streaming = streaming;
    this.#resolve = resolve;
    request.signal.addEventListener('abort', this.#onAbort, { once: true });
    if (request.attempt) {
      this.tracked = trackAttempt();
      (request.attempt as { peer: () => string | undefined }).peer = pickedBy(this.tracked);
    }
  }

  readonly #onAbort = () => {
    const reason = abortStatus(this.#request.signal);
    this.#call.cancelWithStatus(reason.code, reason.details);
  };

  peer(): string | undefined {
    const value = this.#call.getPeer();
    return looksLikeEndpoint(value) ? value : this.tracked?.picked();
  }

  onReceiveMetadata(metadata: Metadata): void {
    this.#headers = metadata;
  }

  onReceiveMessage(received: unknown): void {
    if (!this.streaming) {
      this.#message = received;
      return;
    }
    const { sink } = this.#request;
    if (this.#messages++ === 0) sink.headers(this.#headers ?? new Metadata());
    sink.message(received);
  }

  onReceiveStatus(status: StatusObject): void {
    this.#request.signal.removeEventListener('abort', this.#onAbort);
    const endpoint = this.peer();
    this.tracked?.done();
    const record: AttemptRecord = {
      code: status.code,
      peer: endpoint,
      mayHaveReachedServer: this.#headers !== undefined || endpoint !== undefined,
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
 * The hedging layer holds an attempt's handle until the call ends, and its timer keeps the
 * call reachable from old memory; a handle that closed over the whole attempt (and so the
 * grpc-js call) made V8 promote every hedged call, doubling the stack's cost per call.
 * This closure holds nothing but the attempt's pick slot.
 */
function pickedBy(tracked: TrackedAttempt): () => string | undefined {
  return () => tracked.picked();
}

function withHints(metadata: Metadata, avoid: readonly string[] | undefined, attemptId: string | undefined): Metadata {
  const hasAvoid = avoid !== undefined && avoid.length > 0;
  if (!hasAvoid && attemptId === undefined) return metadata;
  const copy = metadata.clone();
  if (hasAvoid) copy.set(AVOID_HEADER, avoid.join(','));
  if (attemptId !== undefined) copy.set(ATTEMPT_HEADER, attemptId);
  return copy;
}

/**
 * grpc-js reports the channel target (a URI such as "mesh:///orders") as the peer of a call
 * that never got a connection, and "host:port" once it did.
 */
function looksLikeEndpoint(peer: string): boolean {
  return /^(\[[0-9a-fA-F:.%\w]+\]|[\w.-]+):\d+$/.test(peer);
}

export function abortStatus(signal: CancelSignal): StatusObject {
  const reason = signal.reason as Partial<StatusObject> | undefined;
  if (reason && typeof reason.code === 'number') {
    return makeStatus(reason.code, reason.details ?? 'cancelled', reason.metadata ?? new Metadata());
  }
  return makeStatus(Status.CANCELLED, 'Cancelled on client');
}

export function failedResponse(status: StatusObject, attempts: readonly AttemptRecord[] = []): MeshResponse {
  return { status, headers: undefined, message: undefined, peer: undefined, attempts };
}
