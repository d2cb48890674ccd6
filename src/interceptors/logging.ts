import { status as Status } from '@grpc/grpc-js';
import type { Level } from 'pino';
import { loggableMetadata, silentLogger, type Logger } from '../observability/logger.js';
import { statusName } from '../status.js';
import type { Interceptor, MeshRequest, MeshResponse } from './types.js';

export interface LoggingOptions {
  logger?: Logger;
  /** Level of the line for a call that ended OK. Default "info". */
  successLevel?: Level;
  /** Level of the line for a call that failed. Default "warn". */
  failureLevel?: Level;
  /** Level of the per-attempt lines (with the request metadata, secrets redacted). Default "debug". */
  attemptLevel?: Level;
}

/**
 * One structured line per finished call — method, final status, attempts, endpoint, latency —
 * plus a line per attempt at debug level. Secret metadata (authorization, cookies, tokens)
 * never reaches a line.
 *
 * @example
 *   loggingInterceptor({ logger: createLogger({ name: 'orders-client' }) })
 */
export function loggingInterceptor(options: LoggingOptions = {}): Interceptor {
  const { logger = silentLogger, successLevel = 'info', failureLevel = 'warn', attemptLevel = 'debug' } = options;
  return (next) => (request) => {
    // With none of its levels enabled the layer steps aside (checked per call: levels change).
    if (!logger.isLevelEnabled(successLevel) && !logger.isLevelEnabled(failureLevel) && !logger.isLevelEnabled(attemptLevel)) {
      return next(request);
    }
    const started = performance.now();
    return next(request).then((response) => report(request, response, started));
  };

  function report(request: MeshRequest, response: MeshResponse, started: number): MeshResponse {
    const ok = response.status.code === Status.OK;
    const level = ok ? successLevel : failureLevel;
    if (!logger.isLevelEnabled(level) && !logger.isLevelEnabled(attemptLevel)) return response;
    const method = request.method.path;
    if (logger.isLevelEnabled(attemptLevel)) {
      const metadata = loggableMetadata(request.metadata);
      response.attempts.forEach((attempt, index) =>
        logger[attemptLevel](
          {
            method,
            attempt: index + 1,
            code: statusName(attempt.code),
            peer: attempt.peer,
            durationMs: round(attempt.durationMs),
            hedge: attempt.hedge ?? false,
            metadata,
          },
          'attempt finished',
        ),
      );
    }
    logger[level](
      {
        method,
        code: statusName(response.status.code),
        attempts: response.attempts.length,
        peer: response.peer,
        latencyMs: round(performance.now() - started),
        ...(ok ? {} : { details: response.status.details }),
      },
      'call finished',
    );
    return response;
  }
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}
