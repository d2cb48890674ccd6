// How the attempt engine judges one finished attempt, and how it hands the caller the end.
import { status as Status, type StatusObject } from '@grpc/grpc-js';
import { makeStatus } from '../../call/status.js';
import { isTransportFailure } from '../../call/transport-failure.js';
import { PUSHBACK_HEADER } from '../../call/wire.js';
import { withCallInfo } from '../call-info.js';
import type { AttemptRecord, ClientCall, ClientResult } from '../types.js';
import type { ResolvedRetryPolicy } from './policy.js';
import { stopNote, type StopReason } from './stop-reason.js';

/**
 * The server's pushback (gRPC A6): a delay in ms before the next attempt, `'stop'` when it
 * says not to retry (a negative or malformed value), or undefined when it said nothing.
 */
export function pushback(status: StatusObject): number | 'stop' | undefined {
  const values = status.metadata?.get(PUSHBACK_HEADER) ?? [];
  if (values.length === 0) return undefined;
  const text = values[0]!.toString();
  const ms = /^\d+$/.test(text) ? Number(text) : -1;
  return ms < 0 ? 'stop' : ms;
}

/**
 * Why the failed attempt itself rules out another one, or undefined when its failure is worth
 * repeating. `timedOut` says the attempt was cut by its own per-attempt timeout (retryable),
 * not by the whole call's deadline.
 */
export function whyNotRepeat(
  result: ClientResult,
  call: ClientCall,
  policy: ResolvedRetryPolicy,
  idempotencyKeyHeader: string,
  timedOut: boolean,
): StopReason | undefined {
  const code = result.status.code;
  if (call.signal.aborted) return 'cancelled';
  // A stream or connection that broke under the call (a backend killed mid-call, a server
  // shutting down, a proxy resetting) is as retryable as UNAVAILABLE, whatever code grpc-js
  // gave it; so is CANCELLED that nobody on this side asked for.
  const transport = code === Status.CANCELLED || isTransportFailure(result.status);
  if (code === Status.DEADLINE_EXCEEDED && !timedOut) return 'deadline-passed';
  if (!policy.retryableCodes.has(code) && !timedOut && !(transport && policy.retryableCodes.has(Status.UNAVAILABLE))) {
    return 'not-retryable';
  }
  // Never sent, so safe to repeat whatever the method does.
  const last = result.attempts.at(-1);
  if (!(last?.mayHaveReachedServer === false || safeToRepeat(call, policy, idempotencyKeyHeader))) return 'not-safe-to-repeat';
  return undefined;
}

/** Whether the call may be sent again after an attempt that may have reached a server. */
export function safeToRepeat(call: ClientCall, policy: ResolvedRetryPolicy, idempotencyKeyHeader: string): boolean {
  return policy.idempotent || call.metadata.get(idempotencyKeyHeader).length > 0;
}

/** The status of an attempt cut by its per-attempt timeout. */
export function attemptTimedOut(ms: number): StatusObject {
  return makeStatus(Status.DEADLINE_EXCEEDED, `attempt timed out after ${ms} ms`);
}

/**
 * The result the caller sees. A failed call, or one that took more than one attempt, gets the
 * mesh's account (attempts, where each went, why no further attempt followed) as a typed
 * property of its status (see call-info.ts); the status's code, details and trailers stay
 * exactly as the server (or grpc-js) gave them.
 */
export function finalStatus(result: ClientResult, attempts: readonly AttemptRecord[], reason: StopReason | undefined): ClientResult {
  const { status } = result;
  if (status.code === Status.OK && attempts.length <= 1) {
    // The common case, one attempt that answered: its own result, as it is.
    return attempts.length === result.attempts.length && attempts[0] === result.attempts[0] ? result : { ...result, attempts };
  }
  const note = reason === undefined ? undefined : stopNote(reason, status.code);
  return { ...result, status: withCallInfo(status, attempts, note), attempts };
}
