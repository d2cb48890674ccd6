import { Metadata, status as Status, type StatusObject } from '@grpc/grpc-js';
import type { CancelSignal } from '../call/cancellation.js';
import { makeStatus } from '../call/status.js';
import type { MethodInfo } from '../call/method.js';
import type { RoutingHint } from '../call/routing-hint.js';
import type { AttemptInfo, AttemptRecord, CallRoute, CallTrace, ClientCall, ClientResult, ResponseSink } from './types.js';

/**
 * A copy of `call` with `changes` applied, for a layer that passes a changed call on
 * (`next(deriveCall(call, { deadline }))`). It builds every call with the same fields in the
 * same order, so the code that reads calls sees one object shape (a spread such as
 * `{ ...call, deadline }` would give V8 a new shape per layer on the hot path).
 */
export function deriveCall(call: ClientCall, changes: Partial<ClientCall>): ClientCall {
  return copyCall(
    call,
    'message' in changes ? changes.message : call.message,
    changes.metadata ?? call.metadata,
    changes.deadline ?? call.deadline,
    changes.signal ?? call.signal,
    changes.sink ?? call.sink,
    'hint' in changes ? changes.hint : call.hint,
    'route' in changes ? changes.route : call.route,
    // Set once (by the tracing layer, by the retry engine per attempt) and never unset below.
    changes.trace ?? call.trace,
    changes.attempt ?? call.attempt,
    changes.method ?? call.method,
    changes.callOptions ?? call.callOptions,
  );
}

// The two copies made on every call, without an object of changes: each layer's `changes` has
// a shape of its own, and deriveCall's reads of them are megamorphic (a generic lookup each).

/** deriveCall(call, { deadline }): the deadline layer's. */
export function withDeadline(call: ClientCall, deadline: number): ClientCall {
  const { message, metadata, signal, sink, hint, route, trace, attempt } = call;
  return copyCall(call, message, metadata, deadline, signal, sink, hint, route, trace, attempt);
}

/** deriveCall(call, { signal, hint, sink, attempt }): the call an attempt of the retry engine's goes out as. */
export function attemptCall(
  call: ClientCall,
  signal: CancelSignal,
  hint: RoutingHint | undefined,
  sink: ResponseSink,
  attempt: AttemptInfo,
): ClientCall {
  const { message, metadata, deadline, route, trace } = call;
  return copyCall(call, message, metadata, deadline, signal, sink, hint, route, trace, attempt);
}

/** Every copy of a call, built by one literal (one object shape for every call the layers see). */
function copyCall(
  call: ClientCall,
  message: unknown,
  metadata: Metadata,
  deadline: number,
  signal: CancelSignal,
  sink: ResponseSink,
  hint: RoutingHint | undefined,
  route: CallRoute | undefined,
  trace: CallTrace | undefined,
  attempt: AttemptInfo | undefined,
  method: MethodInfo = call.method,
  callOptions: ClientCall['callOptions'] = call.callOptions,
): ClientCall {
  return {
    method,
    message,
    metadata,
    deadline,
    signal,
    sink,
    hint,
    route,
    callOptions,
    transport: call.transport,
    via: call.via,
    trace,
    attempt,
  };
}

/**
 * The sink of an attempt whose answer nobody reads (a mirror): its messages are dropped, and
 * the adapter does not make it the caller's current attempt (its peer, its flow control).
 */
export const DROP_RESPONSES: ResponseSink = Object.freeze({ headers() {}, message() {} });

/** A result for a call that ended without (another) attempt: refused, cancelled, out of time. */
export function failedResult(status: StatusObject, attempts: readonly AttemptRecord[] = []): ClientResult {
  return { status, headers: undefined, message: undefined, peer: undefined, attempts };
}

/** The result of a call or attempt whose layer threw (or rejected) instead of giving a result. */
export function layerFailure(error: unknown): ClientResult {
  return failedResult(makeStatus(Status.INTERNAL, `grpc-meshlite layer failed: ${String(error)}`));
}

/** The status a cancelled call ends with: the one given to `abort`, else CANCELLED. */
export function abortStatus(signal: CancelSignal): StatusObject {
  const reason = signal.reason as Partial<StatusObject> | undefined;
  if (reason && typeof reason.code === 'number') {
    return makeStatus(reason.code, reason.details ?? 'cancelled', reason.metadata ?? new Metadata());
  }
  return makeStatus(Status.CANCELLED, 'Cancelled on client');
}
