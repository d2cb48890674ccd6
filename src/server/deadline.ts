import { status as Status } from '@grpc/grpc-js';
import { systemClock, type Clock } from '../clock.js';
import { deadlineMs } from '../interceptors/adapter.js';
import type { ServerLayer } from './types.js';

/**
 * Refuses a call whose deadline has already passed when it arrives: DEADLINE_EXCEEDED, and
 * the handler never runs (nobody is waiting for its answer any more).
 */
export function serverDeadlineLayer(options: { clock?: Clock } = {}): ServerLayer {
  const clock = options.clock ?? systemClock;
  return (next) => (call) => {
    const late = clock.now() - call.deadline;
    if (late >= 0) {
      return Promise.resolve({
        status: {
          code: Status.DEADLINE_EXCEEDED,
          details: `deadline passed ${Math.round(late)} ms before the call could start; handler not run`,
        },
      });
    }
    return next(call);
  };
}

/**
 * Time left before the incoming call's deadline, in ms (Infinity without one, 0 once spent).
 * Pass `propagateDeadline(call)` on outgoing calls so they end with it.
 *
 * @example
 *   if (remainingBudget(call) < 50) return callback({ code: status.DEADLINE_EXCEEDED, details: 'no time left' });
 */
export function remainingBudget(call: { getDeadline(): Date | number }, clock: Clock = systemClock): number {
  return Math.max(0, deadlineMs(call.getDeadline()) - clock.now());
}
