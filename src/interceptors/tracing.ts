// The client side of gRPC's tracing design (proposal A72): a span per call, and under it a span
// per attempt that the transport starts when the attempt goes out — retries, hedges and a
// route's mirror included — whose context the attempt carries on the wire (each attempt its own
// span id). Spans go through the OpenTelemetry API to the app's tracer provider; without one the
// layer is left out of the stack and attempts carry nothing.
import { status as Status, type Metadata, type StatusObject } from '@grpc/grpc-js';
import { SpanKind, SpanStatusCode, context, trace, type Context, type Span, type Tracer } from '@opentelemetry/api';
import {
  injectTraceContext,
  MESSAGE_EVENTS,
  resolveTracingOptions,
  SPAN_ATTRIBUTES as A,
  spanNameCache,
  tracerFor,
  type TracingOptions,
} from '../observability/tracing.js';
import { meshCallInfo } from './call-info.js';
import { deriveCall, DROP_RESPONSES } from './call.js';
import type { AttemptTrace, CallTrace, ClientCall, ClientLayer, ClientResult } from './types.js';

export type { TracingOptions };

/**
 * A span per call ("Sent.<service>.<method>", kind CLIENT) with a child span per attempt
 * ("Attempt.<service>.<method>"), as gRPC's A72 names them: the attempt's number, whether it
 * was a retry or a hedge, the endpoint it reached and how it ended. The call's span is a child
 * of the caller's active span. Undefined when no tracer provider would record anything (the
 * stack leaves it out).
 *
 * @example
 *   const layer = tracingLayer({ tracerProvider }); // or the global provider
 */
export function tracingLayer(options: TracingOptions = {}): ClientLayer | undefined {
  const tracer = tracerFor(resolveTracingOptions(options).tracerProvider);
  if (tracer === undefined) return undefined;
  const namesOf = spanNameCache();
  return (next) => (call) => {
    const names = namesOf(call.method.path);
    const parent = context.active();
    const span = tracer.startSpan(
      names.call,
      {
        kind: SpanKind.CLIENT,
        attributes: { [A.rpcSystem]: 'grpc', [A.rpcService]: call.method.service, [A.rpcMethod]: call.method.name },
      },
      parent,
    );
    const traced = new TracedCall(tracer, names.attempt, trace.setSpan(parent, span), span);
    return next(deriveCall(call, { trace: traced })).then(
      (result) => {
        endCall(span, result);
        return result;
      },
      (error: unknown) => {
        // A layer below failed (the adapter makes it the call's INTERNAL status): the span ends too.
        span.setStatus({ code: SpanStatusCode.ERROR, message: String(error) });
        span.end();
        throw error;
      },
    );
  };
}

function endCall(span: Span, result: ClientResult): void {
  const { code, details } = result.status;
  span.setAttribute(A.statusCode, code);
  span.setAttribute(A.attempts, result.attempts.length);
  const stoppedBecause = meshCallInfo(result.status)?.stoppedBecause;
  if (stoppedBecause !== undefined) span.setAttribute(A.stoppedBecause, stoppedBecause);
  if (code !== Status.OK) span.setStatus({ code: SpanStatusCode.ERROR, message: details });
  span.end();
}

/** ClientCall.trace: the call's span and the context its attempts' spans are children of. */
class TracedCall implements CallTrace {
  readonly #tracer: Tracer;
  readonly #attemptName: string;
  readonly #context: Context;
  readonly traceId: string;

  constructor(tracer: Tracer, attemptName: string, callContext: Context, span: Span) {
    this.#tracer = tracer;
    this.#attemptName = attemptName;
    this.#context = callContext;
    this.traceId = span.spanContext().traceId;
  }

  startAttempt(call: ClientCall): AttemptTrace {
    const attempt = call.attempt;
    const span = this.#tracer.startSpan(
      this.#attemptName,
      {
        attributes: {
          [A.previousAttempts]: attempt === undefined ? 0 : attempt.index - 1,
          [A.transparentRetry]: false,
          [A.attemptKind]: attempt?.kind ?? 'first',
          ...(call.sink === DROP_RESPONSES && { [A.mirror]: true }),
          ...(call.route !== undefined && { [A.route]: call.route.route.name }),
        },
      },
      this.#context,
    );
    return new AttemptSpan(span, trace.setSpan(this.#context, span), call);
  }
}

/** One attempt's span, ended once: when the attempt's status arrives, or when the mesh gives it up. */
class AttemptSpan implements AttemptTrace {
  readonly #span: Span;
  readonly #context: Context;
  readonly #call: ClientCall;
  #received = 0;
  #ended = false;

  constructor(span: Span, attemptContext: Context, call: ClientCall) {
    this.#span = span;
    this.#context = attemptContext;
    this.#call = call;
  }

  inject(metadata: Metadata): void {
    injectTraceContext(this.#context, metadata);
  }

  sent(size: number | undefined): void {
    if (this.#ended) return;
    this.#span.addEvent(MESSAGE_EVENTS.sent, { [MESSAGE_EVENTS.sequence]: 0, ...(size !== undefined && { [MESSAGE_EVENTS.size]: size }) });
  }

  received(size: number | undefined): void {
    if (this.#ended) return;
    const sequence = this.#received++;
    this.#span.addEvent(MESSAGE_EVENTS.received, {
      [MESSAGE_EVENTS.sequence]: sequence,
      ...(size !== undefined && { [MESSAGE_EVENTS.size]: size }),
    });
  }

  end(status: StatusObject, peer: string | undefined): void {
    if (this.#ended) return;
    this.#ended = true;
    const span = this.#span;
    const info = this.#call.attempt;
    // A hedge that lost (or any attempt the call no longer needed) was cancelled by the mesh:
    // that says nothing against its endpoint, and is not an error of the call.
    const lost = info?.lost === true;
    const how =
      status.code === Status.OK
        ? 'answered'
        : lost
          ? 'lost'
          : info?.timedOut === true
            ? 'timed-out'
            : this.#call.signal.aborted
              ? 'cancelled'
              : 'failed';
    span.setAttribute(A.attemptEnd, how);
    span.setAttribute(A.statusCode, lost ? Status.CANCELLED : status.code);
    if (peer !== undefined) {
      const colon = peer.lastIndexOf(':');
      span.setAttribute(A.peerAddress, colon > 0 ? peer.slice(0, colon).replace(/^\[(.*)\]$/, '$1') : peer);
      if (colon > 0) span.setAttribute(A.peerPort, Number(peer.slice(colon + 1)));
    }
    if (!lost && status.code !== Status.OK) span.setStatus({ code: SpanStatusCode.ERROR, message: status.details });
    span.end();
  }
}
