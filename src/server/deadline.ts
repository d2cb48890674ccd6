import { status as Status } from '@grpc/grpc-js';
import { systemClock, type Clock } from '../clock.js';
import type { ServerLayer } from './types.js';

export interface ServerDeadlineOptions {
  /** Time source. Default: the system clock. */
  clock?: Clock;
}

/**
 * Refuses a call whose deadline has already passed when it arrives: DEADLINE_EXCEEDED, and
 * the handler never runs (nobody is waiting for its answer any more).
 *
 * @example
 *   serverDeadlineLayer({ clock })
 */
export function serverDeadlineLayer(options: ServerDeadlineOptions = {}): ServerLayer {
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
