import { randomUUID } from 'node:crypto';
import { status as Status } from '@grpc/grpc-js';
import type { Level } from 'pino';
import * as z from 'zod/mini';
import { fullMethodName } from '../call/method.js';
import { failureCodesSchema, statusName, type StatusName } from '../call/status.js';
import { resolveWith } from '../schema/validate.js';
import { logLevelSchema } from '../observability/log-level.js';
import { loggableMetadata, silentLogger, type Logger } from '../observability/logger.js';
import { traceIdOf, traceIdIn } from '../observability/tracing.js';
import type { ServerLayer } from './types.js';

export interface ServerLoggingOptions {
  /** Where lines go. Default: nowhere. */
  logger?: Logger;
  /** Metadata key of the request id: taken from the request when valid, else created, and echoed back. Default "x-request-id". */
  requestIdHeader?: string;
  /** Level of the line for a call answered OK or with an answer that is not a failure code. Default "debug" (a line per call is noise). */
  successLevel?: Level;
  /** Level of the line for a call that ended with one of `failureCodes`. Default "warn". */
  failureLevel?: Level;
  /**
   * Codes logged at `failureLevel`. Default UNKNOWN, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED,
   * UNIMPLEMENTED, INTERNAL, UNAVAILABLE, DATA_LOSS: a NOT_FOUND or INVALID_ARGUMENT the handler
   * gives is its answer, logged at `successLevel`.
   */
  failureCodes?: Array<StatusName | number>;
}

export const SERVER_LOGGING_DEFAULTS = Object.freeze({
  requestIdHeader: 'x-request-id',
  successLevel: 'debug',
  failureLevel: 'warn',
} as const);

const serverLoggingSchema = z.strictObject({
  logger: z.optional(z.custom<Logger>()),
  requestIdHeader: z._default(z.string().check(z.minLength(1)), SERVER_LOGGING_DEFAULTS.requestIdHeader),
  successLevel: z._default(logLevelSchema, SERVER_LOGGING_DEFAULTS.successLevel),
  failureLevel: z._default(logLevelSchema, SERVER_LOGGING_DEFAULTS.failureLevel),
  failureCodes: failureCodesSchema,
});

export function resolveServerLoggingOptions(options: ServerLoggingOptions = {}) {
  return resolveWith(serverLoggingSchema, options, 'server logging options');
}

const VALID_REQUEST_ID = /^[\w.:/+=-]{1,128}$/;

/**
 * One pino line per handled call — method, status, latency, peer, request id. The request id
 * comes from the incoming metadata (or is created), is visible to the handler in its
 * metadata, and is echoed in the response headers. Request metadata is logged at debug level
 * with secrets redacted.
 *
 * @example
 *   serverLoggingLayer({ logger: createLogger({ name: 'ServiceA' }) })
 */
export function serverLoggingLayer(options: ServerLoggingOptions = {}): ServerLayer {
  const { requestIdHeader, successLevel, failureLevel, failureCodes, ...resolved } = resolveServerLoggingOptions(options);
  const logger = resolved.logger ?? silentLogger;
  const unhealthy = new Set(failureCodes);
  return (next) => async (call) => {
    const started = performance.now();
    const given = call.metadata.get(requestIdHeader)[0]?.toString();
    const requestId = given !== undefined && VALID_REQUEST_ID.test(given) ? given : randomUUID();
    let metadata = call.metadata;
    if (requestId !== given) {
      metadata = call.metadata.clone();
      metadata.set(requestIdHeader, requestId);
    }
    call.responseHeaders.set(requestIdHeader, requestId);
    const result = await next(metadata === call.metadata ? call : { ...call, metadata });
    const ok = result.status.code === Status.OK;
    const level = unhealthy.has(result.status.code) ? failureLevel : successLevel;
    if (logger.isLevelEnabled(level)) {
      logger[level](
        {
          method: fullMethodName(call.method.path),
          code: statusName(result.status.code),
          latencyMs: Math.round((performance.now() - started) * 10) / 10,
          peer: call.peer,
          requestId,
          // The client's line for the same call carries the same trace id (when it traces).
          ...withTraceId(call.traceContext === undefined ? traceIdOf(metadata) : traceIdIn(call.traceContext)),
          ...(ok ? {} : { details: result.status.details }),
          ...(logger.isLevelEnabled('debug') ? { metadata: loggableMetadata(metadata) } : {}),
        },
        'call handled',
      );
    }
    return result;
  };
}

function withTraceId(traceId: string | undefined): { traceId?: string } {
  return traceId === undefined ? {} : { traceId };
}
