import type { Metadata, StatusObject, CallOptions, status as Status } from '@grpc/grpc-js';
import type { CancelSignal } from './cancellation.js';

/** Which kind of method a call is; retries and hedging apply to unary and server streaming only. */
export type MethodKind = 'unary' | 'server_stream' | 'client_stream' | 'bidi_stream';

export interface MethodInfo {
  /** "/orders.v1.OrderService/GetOrder" */
  readonly path: string;
  /** "orders.v1.OrderService" */
  readonly service: string;
  /** "GetOrder" */
  readonly name: string;
  readonly kind: MethodKind;
}

/** Where a server stream's messages go as they arrive (before the call has finished). */
export interface ResponseSink {
  headers(metadata: Metadata): void;
  message(message: unknown): void;
}

/**
 * One call as it travels through the client layers. Layers never mutate a request: they
 * pass a copy with the fields they change: `deriveRequest(request, { deadline })`.
 */
export interface MeshRequest {
  readonly method: MethodInfo;
  /** The single request message (unary and server streaming). */
  readonly message: unknown;
  readonly metadata: Metadata;
  /** Whole-call deadline, epoch ms; Infinity when there is none. */
  readonly deadline: number;
  /** Deadline of the current attempt (≤ deadline); the retry layer sets it. */
  readonly attemptDeadline?: number;
  /** Aborted when the caller cancels (or a hedge sibling won): the attempt must end at once. */
  readonly signal: CancelSignal;
  /** Server-stream messages go here; unary responses come back in MeshResponse.message. */
  readonly sink: ResponseSink;
  /** Endpoint addresses this attempt should avoid (the retry hint read by the mesh balancer). */
  readonly avoid?: readonly string[];
  /** Filled in by the transport while the attempt runs, so a hedge can avoid its sibling. */
  readonly attempt?: AttemptHandle;
  /** The grpc-js call options the caller passed (host, credentials, parent, ...). */
  readonly callOptions: Readonly<CallOptions>;
}

export interface AttemptHandle {
  /** The address of the endpoint the attempt was sent to, once it is known. */
  peer(): string | undefined;
}

/** What one attempt did; the logging layer turns these into per-attempt debug lines. */
export interface AttemptRecord {
  readonly code: Status;
  /** The endpoint the attempt reached, if it left the client. */
  readonly peer: string | undefined;
  /** False only when the attempt provably never left the client (no pick, no headers). */
  readonly mayHaveReachedServer: boolean;
  readonly durationMs: number;
  readonly hedge?: boolean;
}

/**
 * How a call ended. Failures are statuses, never exceptions: a layer's `next` promise
 * always resolves.
 */
export interface MeshResponse {
  readonly status: StatusObject;
  readonly headers: Metadata | undefined;
  /** The unary response message, when status is OK. */
  readonly message: unknown;
  /** Endpoint that produced the final status, if any. */
  readonly peer: string | undefined;
  /** Every attempt made, in order. Empty when the call never reached the transport. */
  readonly attempts: readonly AttemptRecord[];
}

/** Sends a request one layer further in and resolves with how the call ended. */
export type Next = (request: MeshRequest) => Promise<MeshResponse>;

/**
 * A client-side layer in the connect-es style: it receives the next layer and returns the
 * function that takes its place. A retry is a loop around `next`, a breaker a check before it.
 *
 * @example
 *   const timing: Interceptor = (next) => async (request) => {
 *     const started = Date.now();
 *     const response = await next(request);
 *     console.log(request.method.path, Date.now() - started, 'ms');
 *     return response;
 *   };
 */
export type Interceptor = (next: Next) => Next;
