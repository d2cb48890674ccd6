// Why a call got no further attempt: one name per rule of the attempt engine, and the one place
// that words them for the caller (meshCallInfo(...).stoppedBecause and the client's log line).
import type { status as Status } from '@grpc/grpc-js';
import { statusName } from '../../call/status.js';

/**
 * Why no further attempt followed a failed one.
 * - `cancelled`: the caller cancelled the call.
 * - `deadline-passed`: the call's own deadline ended the attempt (not its per-attempt timeout).
 * - `not-retryable`: the status code is not one of `retryableCodes`.
 * - `not-safe-to-repeat`: the attempt may have reached the server and the call is neither
 *   idempotent nor carries an idempotency key.
 * - `stream-delivered`: a server stream delivered a message to the caller: it is committed.
 * - `pushback-stop`: the server's `grpc-retry-pushback-ms` said not to retry.
 * - `attempts-exhausted`: every attempt `maxAttempts` allows was made (nothing to explain).
 * - `allowance-tapered`: the budget's taper allowed fewer attempts than `maxAttempts`.
 * - `no-time-left`: the next attempt could not start before the call's deadline.
 * - `budget-exhausted`: the retry budget refused the next attempt.
 */
export type StopReason =
  | 'cancelled'
  | 'deadline-passed'
  | 'not-retryable'
  | 'not-safe-to-repeat'
  | 'stream-delivered'
  | 'pushback-stop'
  | 'attempts-exhausted'
  | 'allowance-tapered'
  | 'no-time-left'
  | 'budget-exhausted';

/**
 * What the caller reads for `reason` on a call that ended with `code`; undefined when the
 * attempts simply ran out. These words are public (tests and users match them): change none.
 */
export function stopNote(reason: StopReason, code: Status): string | undefined {
  switch (reason) {
    case 'cancelled':
      return 'cancelled';
    case 'deadline-passed':
      return "the call's deadline passed";
    case 'not-retryable':
      return `${statusName(code)} is not retryable`;
    case 'not-safe-to-repeat':
      return 'not idempotent and it may have reached the server';
    case 'stream-delivered':
      return 'the stream already delivered messages';
    case 'pushback-stop':
      return 'server pushback said not to retry';
    case 'attempts-exhausted':
      return undefined;
    case 'allowance-tapered':
      return 'retry allowance tapered';
    case 'no-time-left':
      return 'no time left before the deadline';
    case 'budget-exhausted':
      return 'retry budget exhausted';
  }
}

/**
 * Whether the reason ends the call at once, cancelling hedges still running (the failure is
 * the answer: gRPC A6's "fatal" status), or only rules out another attempt, so that a hedge
 * still running may yet answer. Without hedges nothing else is running and the two agree.
 */
export function endsCallAtOnce(reason: StopReason): boolean {
  return !(reason === 'attempts-exhausted' || reason === 'allowance-tapered' || reason === 'no-time-left' || reason === 'budget-exhausted');
}
