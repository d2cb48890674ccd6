import type { HealthState } from '../health/health-state.js';
import { silentLogger, type Logger } from '../observability/logger.js';

/**
 * Readiness: every service reports NOT_SERVING until `ready` has finished (caches warmed,
 * connections opened, ...), then SERVING. A health-checking client sends nothing before
 * that. When `ready` fails the server stays NOT_SERVING, the error is logged and returned.
 *
 * @example
 *   const health = new HealthState({ '': 'NOT_SERVING', 'orders.v1.OrderService': 'NOT_SERVING' });
 *   await serveWhenReady(health, () => store.warmUp(), { logger });
 */
export async function serveWhenReady(
  health: HealthState,
  ready: () => unknown,
  options: { logger?: Logger } = {},
): Promise<Error | undefined> {
  const logger = options.logger ?? silentLogger;
  health.setAll('NOT_SERVING');
  const started = performance.now();
  try {
    await ready();
  } catch (error) {
    logger.error({ err: (error as Error).message }, 'not ready: staying NOT_SERVING');
    return error as Error;
  }
  health.setAll('SERVING');
  logger.info({ afterMs: Math.round(performance.now() - started) }, 'ready: SERVING');
  return undefined;
}
