// The stop decision after a failed attempt: the engine's rules, in the order they apply.
import type { ClientCall, ClientResult } from '../types.js';
import { fullJitterDelay } from './backoff.js';
import type { RetryContext } from './context.js';
import type { Attempt } from './in-flight.js';
import { pushback, whyNotRepeat } from './outcome.js';
import type { StopReason } from './stop-reason.js';

/** Where a call stands when one of its attempts failed. */
export interface CallProgress {
  /** Attempts started so far. */
  readonly started: number;
  /** The most attempts the call may start: the policy's, or fewer if the budget's taper says so. */
  readonly maxAttempts: number;
  /** The most attempts the policy allows. */
  readonly policyMaxAttempts: number;
  readonly hedged: boolean;
  /** A server stream delivered a message to the caller: the call is committed. */
  readonly delivered: boolean;
  /** A hedged retry already waits out a server's pushback. */
  readonly retryWaiting: boolean;
}

/**
 * After `attempt` failed with `result`: why no further attempt follows, the wait in ms before
 * the next one (its budget taken), or undefined when a retry already waits to follow it. The
 * checks run in this order, and the first that fails names the reason.
 */
export function afterFailure(
  result: ClientResult,
  attempt: Attempt,
  call: ClientCall,
  context: RetryContext,
  progress: CallProgress,
): StopReason | number | undefined {
  const { policy, budget, clock, random, idempotencyKeyHeader } = context;
  const { started, maxAttempts, hedged } = progress;
  let stop = whyNotRepeat(result, call, policy, idempotencyKeyHeader, attempt.timedOut);
  // A stream that delivered messages is committed, whatever else would have allowed a retry.
  if (progress.delivered && (stop === undefined || stop === 'not-safe-to-repeat')) stop = 'stream-delivered';
  if (stop !== undefined) return stop;
  // The server's "don't retry" is an answer (gRPC A6): it ends a hedged call at once, its
  // hedges cancelled, however many attempts were left. A retry that used the last attempt
  // simply ran out of them.
  const told = pushback(result.status);
  const ranOut = started < maxAttempts ? undefined : started < progress.policyMaxAttempts ? 'allowance-tapered' : 'attempts-exhausted';
  if (told === 'stop') return ranOut !== undefined && !hedged ? ranOut : 'pushback-stop';
  if (ranOut !== undefined) return ranOut;
  // A retry that waits out a server's pushback is the next attempt for every failure until it
  // goes (A6 delays the next hedge by the pushback): granted, and counted, once.
  if (progress.retryWaiting) return undefined;
  // After a cut the next attempt goes at once; a failed hedge is replaced at once unless the
  // server asked for a pause; a retry waits for the server's pushback, else full jitter.
  const delayMs = attempt.granted ? 0 : (told ?? (hedged ? 0 : fullJitterDelay(started, policy.backoff, random)));
  if (clock.now() + delayMs >= call.deadline) return 'no-time-left';
  if (!attempt.granted && budget && !budget.tryRetry()) return 'budget-exhausted';
  return delayMs;
}
