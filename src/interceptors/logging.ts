import { status as Status } from '@grpc/grpc-js';
import type { Level } from 'pino';
import * as z from 'zod/mini';
import { fullMethodName } from '../call/method.js';
import { failureCodesSchema, statusName, type StatusName } from '../call/status.js';
import { systemClock, type Clock } from '../clock.js';
import { FailureSummary } from '../observability/failure-summary.js';
import { HOUR, durationMs } from '../schema/bounds.js';
import { meshCallInfo } from './call-info.js';
import { resolveWith } from '../schema/validate.js';
import { logLevelSchema } from '../observability/log-level.js';
import { loggableMetadata, silentLogger, type Logger } from '../observability/logger.js';
import { traceIdOf } from '../observability/tracing.js';
import { layerFailure } from './call.js';
import { withObserver, withSend } from './send.js';
import type { ClientCall, ClientLayer, ClientResult } from './types.js';

export interface LoggingOptions {
  /** Where lines go. Default: nowhere. */
  logger?: Logger;
  /**
   * Level of the line for a call that ended OK or with an answer that is not a failure code.
   * Default "debug": at 100 calls a second, an info line each is 100 lines a second of "fine".
   */
  successLevel?: Level;
  /** Level of the line for a call that ended with one of `failureCodes`. Default "warn". */
  failureLevel?: Level;
  /**
   * Codes that say the dependency is unhealthy, logged at `failureLevel`. Default UNKNOWN,
   * DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE, DATA_LOSS: a
   * NOT_FOUND or INVALID_ARGUMENT from a backend is a normal answer and logs at `successLevel`.
   */
  failureCodes?: Array<StatusName | number>;
  /** Level of the per-attempt lines (with the request metadata, secrets redacted). Default "debug". */
  attemptLevel?: Level;
  /**
   * Failed calls are said once per reason and window of this length: the first in full, the
   * repeats as one line when the window closes ("312 calls failed in the last 1 s: <reason>",
   * numbers in the reason made alike). 0 says every failed call in full. Default 1000.
   */
  summaryWindowMs?: number;
  /** The clock summary windows run on. Default: the system clock. */
  clock?: Clock;
  /**
   * Response header in which the server names the call (the server stack's logging layer echoes
   * its request id there): the client's line carries it as `requestId`, so the two lines join.
   * Default "x-request-id".
   */
  requestIdHeader?: string;
}

export const LOGGING_DEFAULTS = Object.freeze({
  successLevel: 'debug',
  failureLevel: 'warn',
  attemptLevel: 'debug',
  summaryWindowMs: 1000,
  requestIdHeader: 'x-request-id',
} as const);

const loggingFields = {
  failureCodes: failureCodesSchema,
  successLevel: z._default(logLevelSchema, LOGGING_DEFAULTS.successLevel),
  failureLevel: z._default(logLevelSchema, LOGGING_DEFAULTS.failureLevel),
  attemptLevel: z._default(logLevelSchema, LOGGING_DEFAULTS.attemptLevel),
  summaryWindowMs: z._default(durationMs(0, HOUR), LOGGING_DEFAULTS.summaryWindowMs),
  requestIdHeader: z._default(z.string().check(z.minLength(1)), LOGGING_DEFAULTS.requestIdHeader),
};

/** The logging section as a config file writes it. */
export const loggingConfigSchema = z.strictObject(loggingFields);

const loggingSchema = z.strictObject({ ...loggingFields, logger: z.optional(z.custom<Logger>()), clock: z.optional(z.custom<Clock>()) });

export function resolveLoggingOptions(options: LoggingOptions = {}) {
  return resolveWith(loggingSchema, options, 'logging options');
}

/**
 * One structured line per finished call — method, final status, attempts, endpoint, latency —
 * plus a line per attempt at debug level; successes at debug by default, failures at warn, a
 * failure's repeats (same reason) summed up once per window. Secret metadata (authorization,
 * cookies, tokens) never reaches a line.
 *
 * @example
 *   loggingLayer({ logger: createLogger({ name: 'orders-client' }) })
 */
export function loggingLayer(options: LoggingOptions = {}): ClientLayer {
  const resolved = resolveLoggingOptions(options);
  const { successLevel, failureLevel, attemptLevel, summaryWindowMs, requestIdHeader } = resolved;
  const unhealthy = new Set(resolved.failureCodes);
  const logger = resolved.logger ?? silentLogger;
  const seconds = summaryWindowMs / 1000;
  const summary =
    summaryWindowMs > 0
      ? new FailureSummary(resolved.clock ?? systemClock, summaryWindowMs, (repeat) =>
          logger[failureLevel](repeat, `${repeat.calls} calls failed in the last ${seconds} s: ${repeat.reason}`),
        )
      : undefined;
  // Which of its levels the logger has on, worked out again only when the logger's level
  // changes (pino's isLevelEnabled is a lookup and a comparison per level, per call).
  let knownLevel: number | undefined;
  const enabled = { success: false, failure: false, attempt: false };
  const levels = () => {
    if (logger.levelVal !== knownLevel) {
      knownLevel = logger.levelVal;
      enabled.success = logger.isLevelEnabled(successLevel);
      enabled.failure = logger.isLevelEnabled(failureLevel);
      enabled.attempt = logger.isLevelEnabled(attemptLevel);
    }
    return enabled;
  };
  const layer = withSend(
    (next) => (call) => {
      // With none of its levels enabled the layer steps aside (checked per call: levels change).
      const on = levels();
      if (!on.success && !on.failure && !on.attempt) return next(call);
      const started = performance.now();
      return next(call).then((result) => report(call, result, started));
    },
    (next) => (call, done) => {
      const on = levels();
      if (!on.success && !on.failure && !on.attempt) return next(call, done);
      const started = performance.now();
      next(call, (result) => {
        let reported: ClientResult;
        try {
          reported = report(call, result, started);
        } catch (error) {
          // A logger that throws fails the call as the promise form's rejection does.
          reported = layerFailure(error);
        }
        done(reported);
      });
    },
  );
  // Run by the grpc-js adapter as the call ends; report looks at the levels itself.
  return withObserver(layer, report);

  function report(call: ClientCall, result: ClientResult, started: number): ClientResult {
    const ok = result.status.code === Status.OK;
    const failed = unhealthy.has(result.status.code);
    const level = failed ? failureLevel : successLevel;
    const on = levels();
    if (!(failed ? on.failure : on.success) && !on.attempt) return result;
    const method = fullMethodName(call.method.path);
    const stoppedBecause = meshCallInfo(result.status)?.stoppedBecause;
    if (on.attempt) {
      const metadata = loggableMetadata(call.metadata);
      result.attempts.forEach((attempt, index) =>
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
    // The first failure of its reason in full; the repeats in the window's summary line.
    if (failed && on.failure && summary && !summary.note(`${statusName(result.status.code)}: ${result.status.details}`, method))
      return result;
    logger[level](
      {
        method,
        code: statusName(result.status.code),
        attempts: result.attempts.length,
        peer: result.peer,
        latencyMs: round(performance.now() - started),
        ...joinKeys(call, result, requestIdHeader),
        ...(ok ? {} : { details: result.status.details }),
        ...(stoppedBecause === undefined ? {} : { stoppedBecause }),
      },
      'call finished',
    );
    return result;
  }
}

/**
 * What joins the client's line to the server's for the same call: the trace id (the call's
 * span's, or a `traceparent` the caller sent), and the request id the server echoed (in the
 * headers, or in the trailers of a Trailers-Only failure).
 */
function joinKeys(call: ClientCall, result: ClientResult, requestIdHeader: string): { traceId?: string; requestId?: string } {
  const traceId = call.trace?.traceId ?? traceIdOf(call.metadata);
  const echoed = result.headers?.get(requestIdHeader)[0] ?? result.status.metadata?.get(requestIdHeader)[0];
  return {
    ...(traceId !== undefined && { traceId }),
    ...(echoed !== undefined && { requestId: String(echoed) }),
  };
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}
