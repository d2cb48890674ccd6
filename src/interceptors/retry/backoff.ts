import * as z from 'zod/mini';
import { MINUTE, durationMs } from '../../schema/bounds.js';

export interface BackoffOptions {
  /** Ceiling of the first retry's delay, in ms. Default 25 (Envoy). */
  baseMs?: number;
  /** Largest ceiling, in ms. Default 250 (Envoy). */
  capMs?: number;
  /** Growth of the ceiling per retry. Default 2. */
  multiplier?: number;
}

export const BACKOFF_DEFAULTS = Object.freeze({ baseMs: 25, capMs: 250, multiplier: 2 });

export const backoffSchema = z
  .strictObject({
    baseMs: z._default(durationMs(1, MINUTE), BACKOFF_DEFAULTS.baseMs),
    capMs: z._default(durationMs(1, 10 * MINUTE), BACKOFF_DEFAULTS.capMs),
    multiplier: z._default(z.number().check(z.minimum(1), z.maximum(10)), BACKOFF_DEFAULTS.multiplier),
  })
  .check(
    z.refine((b) => b.baseMs <= b.capMs, {
      message: 'baseMs must not exceed capMs',
      path: ['baseMs'],
    }),
  );

export type ResolvedBackoff = Readonly<Required<BackoffOptions>>;

/**
 * Full jitter, as in gRPC A6, Envoy and the AWS architecture blog: the delay before retry
 * `n` (n ≥ 1) is uniform in [0, min(cap, base · multiplier^(n−1))). Spreading retries over the
 * whole interval is what keeps a fleet of clients from retrying in lockstep.
 */
export function fullJitterDelay(retry: number, backoff: ResolvedBackoff, random: () => number): number {
  const ceiling = Math.min(backoff.capMs, backoff.baseMs * backoff.multiplier ** Math.max(0, retry - 1));
  return random() * ceiling;
}
