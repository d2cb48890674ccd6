import type { CallOptions, Metadata, StatusObject, status as Status } from '@grpc/grpc-js';
import type { CancelSignal } from '../call/cancellation.js';
import type { MethodInfo } from '../call/method.js';
import type { RoutingHint } from '../call/routing-hint.js';

export type { MethodInfo, MethodKind } from '../call/method.js';

/** Where a server stream's messages go as they arrive (before the call has finished). */
export interface ResponseSink {
  headers(metadata: Metadata): void;
  message(message: unknown): void;
}

/**
 * One call as it travels through the client layers. Layers never mutate a call: they pass a
 * copy with the fields they change: `deriveCall(call, { deadline })`.
 */
export interface ClientCall {
  readonly method: MethodInfo;
  /** The single request message (unary and server streaming). */
  readonly message: unknown;
  readonly metadata: Metadata;
  /** Whole-call deadline, epoch ms; Infinity when there is none. */
  readonly deadline: number;
  /** Aborted when the caller cancels, an attempt times out or a hedge sibling won: the attempt must end at once. */
  readonly signal: CancelSignal;
  /** Server-stream messages go here; unary responses come back in ClientResult.message. */
  readonly sink: ResponseSink;
  /** For the mesh picker: endpoints to avoid, and where the attempt went (see RoutingHint). */
  readonly hint: RoutingHint | undefined;
  /**
   * How an attempt of this call is sent, under the innermost layer: set by whoever made the
   * call (the grpc-js adapter, the nice-grpc middleware). The layers are composed once, with
   * `dispatch` at the bottom, instead of once per call.
   */
  readonly transport: ClientNext;
  /** The grpc-js call options the caller passed (host, credentials, parent, ...). */
  readonly callOptions: Readonly<CallOptions>;
}

/** What one attempt did; the logging layer turns these into per-attempt debug lines. */
export interface AttemptRecord {
  readonly code: Status;
  /** The endpoint the attempt reached, if it left the client. */
  readonly peer: string | undefined;
  /** False only when the attempt provably never left the client (no pick, no headers). */
  readonly mayHaveReachedServer: boolean;
  /** When it started, on `performance.now()`'s time line. */
  readonly startedAt: number;
  readonly durationMs: number;
  readonly hedge?: boolean;
}

/**
 * How a call ended. Failures are statuses, never exceptions: a layer's `next` promise
 * always resolves.
 */
export interface ClientResult {
  readonly status: StatusObject;
  readonly headers: Metadata | undefined;
  /** The unary response message, when status is OK. */
  readonly message: unknown;
  /** Endpoint that produced the final status, if any. */
  readonly peer: string | undefined;
  /** Every attempt made, in order. Empty when the call never reached the transport. */
  readonly attempts: readonly AttemptRecord[];
}

/** Sends a call one layer further in and resolves with how it ended. */
export type ClientNext = (call: ClientCall) => Promise<ClientResult>;

/**
 * A client-side layer in the connect-es style: it receives the next layer and returns the
 * function that takes its place. A retry is a loop around `next`, a breaker a check before it.
 * The server side has the same shape (ServerLayer).
 *
 * @example
 *   const timing: ClientLayer = (next) => async (call) => {
 *     const started = Date.now();
 *     const result = await next(call);
 *     console.log(call.method.path, Date.now() - started, 'ms');
 *     return result;
 *   };
 */
export type ClientLayer = (next: ClientNext) => ClientNext;

/** The bottom of a composed stack: sends the attempt the way the call says (ClientCall.transport). */
export const dispatch: ClientNext = (call) => call.transport(call);
