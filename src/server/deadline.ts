import { status as Status } from '@grpc/grpc-js';
import { z } from 'zod';
import { systemClock, type Clock } from '../clock.js';
import { resolveWith } from '../schema/validate.js';
import type { ServerLayer } from './types.js';

export interface ServerDeadlineOptions {
  /** Time source. Default: the system clock. */
  clock?: Clock;
}

export const SERVER_DEADLINE_DEFAULTS = Object.freeze({});

const serverDeadlineSchema = z.strictObject({ clock: z.custom<Clock>().optional() });

export function resolveServerDeadlineOptions(options: ServerDeadlineOptions = {}) {
  return resolveWith(serverDeadlineSchema, options, 'server deadline options');
}

/**
 * Refuses a call whose deadline has already passed when it arrives: DEADLINE_EXCEEDED, and
 * the handler never runs (nobody is waiting for its answer any more).
 *
 * @example
 *   serverDeadlineLayer({ clock })
 */
export function serverDeadlineLayer(options: ServerDeadlineOptions = {}): ServerLayer {
  const clock = resolveServerDeadlineOptions(options).clock ?? systemClock;
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
