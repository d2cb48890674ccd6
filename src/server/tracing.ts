// The server side of gRPC's tracing design (proposal A72): a span per handled call, the child
// of the client's attempt span that sent it (its context read from the call's metadata), in
// which the handler runs, so that the calls it makes in turn are children of it.
import { status as Status } from '@grpc/grpc-js';
import { SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { PREVIOUS_ATTEMPTS_HEADER } from '../call/wire.js';
import {
  extractTraceContext,
  resolveTracingOptions,
  SPAN_ATTRIBUTES as A,
  spanNameCache,
  tracerFor,
  type TracingOptions,
} from '../observability/tracing.js';
import type { ServerLayer } from './types.js';

export type ServerTracingOptions = TracingOptions;

/**
 * Codes that are the server's own failure, and mark its span as an error (OpenTelemetry's
 * conventions for gRPC server spans): any other code is the handler's answer to the caller.
 */
const SERVER_ERRORS: ReadonlySet<number> = new Set([
  Status.UNKNOWN,
  Status.DEADLINE_EXCEEDED,
  Status.UNIMPLEMENTED,
  Status.INTERNAL,
  Status.UNAVAILABLE,
  Status.DATA_LOSS,
]);

/**
 * A span per handled call ("Recv.<service>.<method>", kind SERVER), the child of the span the
 * call was sent from (W3C `traceparent`, or the app's propagator), with A6's
 * `grpc-previous-rpc-attempts` as `previous-rpc-attempts`. The handler runs in its context.
 * Undefined when no tracer provider would record anything (the stack leaves it out).
 *
 * @example
 *   const layer = serverTracingLayer({ tracerProvider });
 */
export function serverTracingLayer(options: ServerTracingOptions = {}): ServerLayer | undefined {
  const tracer = tracerFor(resolveTracingOptions(options).tracerProvider);
  if (tracer === undefined) return undefined;
  const namesOf = spanNameCache();
  return (next) => async (call) => {
    const parent = extractTraceContext(call.metadata);
    const previous = Number(call.metadata.get(PREVIOUS_ATTEMPTS_HEADER)[0] ?? 0);
    const span = tracer.startSpan(
      namesOf(call.method.path).server,
      {
        kind: SpanKind.SERVER,
        attributes: {
          [A.rpcSystem]: 'grpc',
          [A.rpcService]: call.method.service,
          [A.rpcMethod]: call.method.name,
          ...(Number.isSafeInteger(previous) && previous > 0 && { [A.previousAttempts]: previous }),
        },
      },
      parent,
    );
    let result;
    try {
      result = await next({ ...call, traceContext: trace.setSpan(parent, span) });
    } catch (error) {
      // A layer below failed (the adapter answers INTERNAL): the span ends too.
      span.setStatus({ code: SpanStatusCode.ERROR, message: String(error) });
      span.end();
      throw error;
    }
    const { code, details } = result.status;
    span.setAttribute(A.statusCode, code);
    if (SERVER_ERRORS.has(code)) span.setStatus({ code: SpanStatusCode.ERROR, message: details });
    span.end();
    return result;
  };
}
