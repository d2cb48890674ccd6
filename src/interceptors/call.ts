import { Metadata, status as Status, type StatusObject } from '@grpc/grpc-js';
import type { CancelSignal } from '../call/cancellation.js';
import { makeStatus } from '../call/status.js';
import type { AttemptRecord, ClientCall, ClientResult, ResponseSink } from './types.js';

/**
 * A copy of `call` with `changes` applied, for a layer that passes a changed call on
 * (`next(deriveCall(call, { deadline }))`). It builds every call with the same fields in the
 * same order, so the code that reads calls sees one object shape (a spread such as
 * `{ ...call, deadline }` would give V8 a new shape per layer on the hot path).
 */
export function deriveCall(call: ClientCall, changes: Partial<ClientCall>): ClientCall {
  return {
    method: changes.method ?? call.method,
    message: 'message' in changes ? changes.message : call.message,
    metadata: changes.metadata ?? call.metadata,
    deadline: changes.deadline ?? call.deadline,
    signal: changes.signal ?? call.signal,
    sink: changes.sink ?? call.sink,
    hint: 'hint' in changes ? changes.hint : call.hint,
    route: 'route' in changes ? changes.route : call.route,
    callOptions: changes.callOptions ?? call.callOptions,
    transport: call.transport,
    via: call.via,
    // Set once (by the tracing layer, by the retry engine per attempt) and never unset below.
    trace: changes.trace ?? call.trace,
    attempt: changes.attempt ?? call.attempt,
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
