// How the retry and hedging layers judge one finished attempt, and how they word the end.
import { status as Status, type StatusObject } from '@grpc/grpc-js';
import { statusName } from '../../call/status.js';
import { withCallInfo } from '../call-info.js';
import { isTransportFailure } from '../../call/transport-failure.js';
import type { AttemptRecord, ClientCall, ClientResult } from '../types.js';
import { fullJitterDelay } from './backoff.js';
import type { RetryContext } from './context.js';
import type { ResolvedRetryPolicy } from './policy.js';

export const PUSHBACK_HEADER = 'grpc-retry-pushback-ms';

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

/** Backoff before the next attempt: the server's pushback when it sent one, else full jitter. */
export function retryDelay(result: ClientResult, attempt: number, context: RetryContext): number | 'stop' {
  const told = pushback(result.status);
  if (told !== undefined) return told;
  return fullJitterDelay(attempt, context.policy.backoff, context.random);
}

/**
 * Why the attempt must not be repeated, or undefined when another attempt is allowed.
 * `attemptTimedOut` says the attempt was cut by its own per-attempt timeout (retryable),
 * not by the whole call's deadline.
 */
export function whyNotRetry(
  result: ClientResult,
  call: ClientCall,
  policy: ResolvedRetryPolicy,
  idempotencyKeyHeader: string,
  attemptTimedOut: boolean,
): string | undefined {
  const code = result.status.code;
  if (code === Status.OK) return 'ok';
  if (call.signal.aborted) return 'cancelled';
  // A stream or connection that broke under the call (a backend killed mid-call, a server
  // shutting down, a proxy resetting) is as retryable as UNAVAILABLE, whatever code grpc-js
  // gave it; so is CANCELLED that nobody on this side asked for.
  const transport = code === Status.CANCELLED || isTransportFailure(result.status);
  if (code === Status.DEADLINE_EXCEEDED && !attemptTimedOut) return "the call's deadline passed";
  if (!policy.retryableCodes.has(code) && !attemptTimedOut && !(transport && policy.retryableCodes.has(Status.UNAVAILABLE))) {
    return `${statusName(code)} is not retryable`;
  }
  const last = result.attempts.at(-1);
  if (!(last?.mayHaveReachedServer === false || safeToRepeat(call, policy, idempotencyKeyHeader))) return NOT_SAFE_TO_REPEAT;
  return undefined;
}

/** whyNotRetry's answer for a call that may have reached a server and is not safe to send twice. */
export const NOT_SAFE_TO_REPEAT = 'not idempotent and it may have reached the server';

/** Whether the call may be sent again after an attempt that may have reached a server. */
export function safeToRepeat(call: ClientCall, policy: ResolvedRetryPolicy, idempotencyKeyHeader: string): boolean {
  return policy.idempotent || call.metadata.get(idempotencyKeyHeader).length > 0;
}

/**
 * The result the caller sees. A failed call, or one that took more than one attempt, gets the
 * mesh's account (attempts, where each went, why no further attempt followed) as a typed
 * property of its status (see call-info.ts); the status's code, details and trailers stay
 * exactly as the server (or grpc-js) gave them.
 */
export function finalStatus(result: ClientResult, attempts: readonly AttemptRecord[], note: string | undefined): ClientResult {
  const { status } = result;
  if (status.code === Status.OK && attempts.length <= 1) {
    // The common case, one attempt that answered: its own result, as it is.
    return attempts.length === result.attempts.length && attempts[0] === result.attempts[0] ? result : { ...result, attempts };
  }
  return { ...result, status: withCallInfo(status, attempts, note), attempts };
}
