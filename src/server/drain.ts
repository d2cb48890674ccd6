import type * as grpc from '@grpc/grpc-js';
import * as z from 'zod/mini';
import { setTimer, systemClock, sleep, type Clock } from '../clock.js';
import { resolveWith } from '../schema/validate.js';
import { HOUR, durationMs } from '../schema/bounds.js';
import type { HealthService } from '../health/health-service.js';
import type { HealthState } from '../health/health-state.js';

export interface DrainOptions {
  /**
   * Time between reporting NOT_SERVING and refusing new calls, so health-checking clients
   * move their traffic away first. Default 1000 ms.
   */
  graceMs?: number;
  /** Time in-flight calls get to finish after shutdown starts; then the server is forced down. Default 10000 ms. */
  timeoutMs?: number;
}

export const DRAIN_DEFAULTS = Object.freeze({ graceMs: 1000, timeoutMs: 10_000 });

const drainSchema = z.strictObject({
  graceMs: z._default(durationMs(0, HOUR), DRAIN_DEFAULTS.graceMs),
  timeoutMs: z._default(durationMs(0, HOUR), DRAIN_DEFAULTS.timeoutMs),
});

export type ResolvedDrainOptions = Readonly<Required<DrainOptions>>;

export function resolveDrainOptions(options: DrainOptions = {}): ResolvedDrainOptions {
  return resolveWith(drainSchema, options, 'drain options');
}

export type DrainPhase = 'deregistered' | 'not-serving' | 'shutting-down' | 'stopped' | 'forced';

export interface DrainTarget {
  readonly server: grpc.Server;
  readonly health: HealthState;
  /** When given, its Watch streams are closed before shutdown (they would hold it open). */
  readonly healthService?: HealthService;
  /**
   * The server's discovery registration (`registerInEtcd`), removed first: clients stop
   * picking the endpoint within a watch round trip, before its health goes NOT_SERVING.
   */
  readonly registration?: { deregister(): Promise<void> };
  /** The server's stack (`createServerStack`): told each phase, for its drain-phase gauge. */
  readonly stack?: { reportDrain(phase: DrainPhase): void };
}

export interface DrainResult {
  /** True when in-flight calls outlived `timeoutMs` and were cancelled by forceShutdown. */
  readonly forced: boolean;
}

/**
 * Graceful drain: the registration deleted (when there is one), every service NOT_SERVING,
 * wait `graceMs` so clients move away, then
 * `tryShutdown` (in-flight calls finish, new ones are refused), and `forceShutdown` when
 * that takes longer than `timeoutMs`.
 *
 * @example
 *   process.once('SIGTERM', () => drainServer({ server, health, healthService }, { graceMs: 500 }));
 */
export async function drainServer(
  target: DrainTarget,
  options: DrainOptions = {},
  onPhase: (phase: DrainPhase) => void = () => {},
  clock: Clock = systemClock,
): Promise<DrainResult> {
  const { graceMs, timeoutMs } = resolveDrainOptions(options);
  const enter = (phase: DrainPhase) => {
    target.stack?.reportDrain(phase);
    onPhase(phase);
  };
  if (target.registration) {
    await target.registration.deregister();
    enter('deregistered');
  }
  target.health.setAll('NOT_SERVING');
  enter('not-serving');
  await sleep(graceMs, clock);

  enter('shutting-down');
  target.healthService?.closeWatches();
  const forced = await new Promise<boolean>((resolve) => {
    const timer = setTimer(
      clock,
      () => {
        target.server.forceShutdown();
        resolve(true);
      },
      timeoutMs,
    );
    target.server.tryShutdown(() => {
      clock.clearTimeout(timer);
      resolve(false);
    });
  });
  enter(forced ? 'forced' : 'stopped');
  return { forced };
}
