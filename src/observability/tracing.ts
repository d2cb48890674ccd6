// OpenTelemetry tracing, shared by the client and server stacks: which tracer records, the
// names and attributes of gRPC's spans (proposal A72), and how a span's context crosses the
// wire in a call's metadata. Without a tracer provider (none registered, none given) there is
// no tracer, the tracing layers are left out of the stacks, and the cost per call is nil.
import {
  ProxyTracerProvider,
  ROOT_CONTEXT,
  TraceFlags,
  createTraceState,
  isSpanContextValid,
  propagation,
  trace,
  type Context,
  type SpanContext,
  type TextMapGetter,
  type TextMapSetter,
  type Tracer,
  type TracerProvider,
} from '@opentelemetry/api';
import type { Metadata } from '@grpc/grpc-js';
import * as z from 'zod/mini';
import { TRACEPARENT_HEADER, TRACESTATE_HEADER } from '../call/wire.js';
import { resolveWith } from '../schema/validate.js';

const TRACER_NAME = 'grpc-meshlite';

/** The options of the client's and the server's tracing layers. */
export interface TracingOptions {
  /** Where spans go. Default: OpenTelemetry's global tracer provider; without one the layer steps aside. */
  tracerProvider?: TracerProvider;
}

const tracingSchema = z.strictObject({
  tracerProvider: z.optional(
    z.custom<TracerProvider>((v) => typeof (v as TracerProvider | undefined)?.getTracer === 'function', 'expected a TracerProvider'),
  ),
});

/** Validates tracing options; throws a ConfigError naming the field and the value. */
export function resolveTracingOptions(options: TracingOptions = {}) {
  return resolveWith(tracingSchema, options, 'tracing options');
}

/** The API's own no-op provider: what a proxy provider delegates to before an SDK is registered. */
const NOOP_PROVIDER = new ProxyTracerProvider().getDelegate();

/**
 * The tracer of `provider` (default: the global one), or undefined when it is OpenTelemetry's
 * no-op — nothing would record, and the tracing layers step aside. Decided when a stack is
 * made, as for metrics: register the SDK's provider before creating clients and servers.
 */
export function tracerFor(provider?: TracerProvider): Tracer | undefined {
  const resolved = provider ?? trace.getTracerProvider();
  const delegate = resolved instanceof ProxyTracerProvider ? resolved.getDelegate() : resolved;
  return delegate === NOOP_PROVIDER ? undefined : resolved.getTracer(TRACER_NAME);
}

/** The span names of one method, as gRPC's other languages give them (A72): "Sent.pkg.Service.Method". */
export interface SpanNames {
  /** The client's span of the whole call. */
  readonly call: string;
  /** A client span per attempt, child of the call's. */
  readonly attempt: string;
  /** The server's span of the call it handles. */
  readonly server: string;
}

/** Span names per method path ("/pkg.Service/Method"), worked out once per path. */
export function spanNameCache(): (path: string) => SpanNames {
  const names = new Map<string, SpanNames>();
  return (path) => {
    let known = names.get(path);
    if (known === undefined) {
      const dotted = path.slice(1).replaceAll('/', '.');
      known = Object.freeze({ call: `Sent.${dotted}`, attempt: `Attempt.${dotted}`, server: `Recv.${dotted}` });
      names.set(path, known);
    }
    return known;
  };
}

/** Attribute keys: A72's on attempt spans, OpenTelemetry's RPC conventions, and the mesh's own. */
export const SPAN_ATTRIBUTES = Object.freeze({
  rpcSystem: 'rpc.system',
  rpcService: 'rpc.service',
  rpcMethod: 'rpc.method',
  statusCode: 'rpc.grpc.status_code',
  /** A72: attempts of the call sent before this one (0 on the first). */
  previousAttempts: 'previous-rpc-attempts',
  /** A72: whether grpc-js replayed the attempt itself (the mesh never does; grpc-js's own stay inside an attempt). */
  transparentRetry: 'transparent-retry',
  peerAddress: 'network.peer.address',
  peerPort: 'network.peer.port',
  /** "first", "retry" (after a failure or a cut) or "hedge" (sent while another attempt runs). */
  attemptKind: 'meshlite.attempt.kind',
  /** How the attempt ended: "answered", "failed", "timed-out", "lost" (a hedge sibling won), "cancelled". */
  attemptEnd: 'meshlite.attempt.end',
  /** A mirror's copy of the call: its answer is dropped. */
  mirror: 'meshlite.mirror',
  /** The route the call took (routes from the mesh config). */
  route: 'meshlite.route',
  /** Attempts the call made. */
  attempts: 'meshlite.attempts',
  /** Why no further attempt followed a failure ("retry budget exhausted", …). */
  stoppedBecause: 'meshlite.stopped_because',
});

/** A72's message events, on attempt spans: "Outbound message" and "Inbound message". */
export const MESSAGE_EVENTS = Object.freeze({
  sent: 'Outbound message',
  received: 'Inbound message',
  sequence: 'sequence-number',
  size: 'message-size',
});

const metadataSetter: TextMapSetter<Metadata> = {
  set: (metadata, key, value) => metadata.set(key, value),
};

const metadataGetter: TextMapGetter<Metadata> = {
  keys: (metadata) => Object.keys(metadata.getMap()),
  get: (metadata, key) => {
    const values = metadata.get(key);
    if (values.length === 0) return undefined;
    return values.length === 1 ? String(values[0]) : values.map(String);
  },
};

/**
 * Whether the app configured a propagator (the OpenTelemetry SDK does: W3C trace context and
 * baggage by default). Without one the API's propagation does nothing, and the mesh writes
 * and reads W3C `traceparent`/`tracestate` itself.
 */
function propagatorConfigured(): boolean {
  return propagation.fields().length > 0;
}

/**
 * Writes the span context of `context` into `metadata` (a copy of the caller's, for one
 * attempt): through the app's propagator when it configured one, else as W3C
 * `traceparent`/`tracestate`. Either replaces a value the caller put there: the attempt is
 * the parent of whatever the server does.
 */
export function injectTraceContext(context: Context, metadata: Metadata): void {
  if (propagatorConfigured()) {
    // What the caller put in the propagator's fields is not this attempt's (a stale tracestate
    // beside a new traceparent would be): the propagator writes them afresh.
    for (const field of propagation.fields()) metadata.remove(field);
    return propagation.inject(context, metadata, metadataSetter);
  }
  const spanContext = trace.getSpanContext(context);
  if (spanContext === undefined || !isSpanContextValid(spanContext)) return;
  metadata.set(TRACEPARENT_HEADER, formatTraceparent(spanContext));
  const state = spanContext.traceState?.serialize();
  if (state) metadata.set(TRACESTATE_HEADER, state);
  else metadata.remove(TRACESTATE_HEADER);
}

/**
 * The context an incoming call was sent from: through the app's propagator when it configured
 * one, else from W3C `traceparent`/`tracestate`. The root context when the call carries none
 * (or a malformed one).
 */
export function extractTraceContext(metadata: Metadata): Context {
  if (propagatorConfigured()) return propagation.extract(ROOT_CONTEXT, metadata, metadataGetter);
  const spanContext = parseTraceparent(metadata.get(TRACEPARENT_HEADER)[0]);
  if (spanContext === undefined) return ROOT_CONTEXT;
  const state = metadata.get(TRACESTATE_HEADER)[0];
  if (state !== undefined) spanContext.traceState = createTraceState(String(state));
  return trace.setSpanContext(ROOT_CONTEXT, spanContext);
}

/** The trace id a call's metadata carries in W3C `traceparent`, for log lines; undefined without one. */
export function traceIdOf(metadata: Metadata): string | undefined {
  const values = metadata.get(TRACEPARENT_HEADER);
  return values.length === 0 ? undefined : parseTraceparent(values[0])?.traceId;
}

/** The trace id of the span in `context`, for log lines; undefined without a valid one. */
export function traceIdIn(context: Context): string | undefined {
  const spanContext = trace.getSpanContext(context);
  return spanContext !== undefined && isSpanContextValid(spanContext) ? spanContext.traceId : undefined;
}

/** W3C Trace Context, version 00: `00-<32 hex trace id>-<16 hex span id>-<2 hex flags>`. */
export function formatTraceparent(spanContext: SpanContext): string {
  const flags = spanContext.traceFlags & TraceFlags.SAMPLED ? '01' : '00';
  return `00-${spanContext.traceId}-${spanContext.spanId}-${flags}`;
}

// Version 00 exactly; a later version may carry more fields after these (W3C: parse the first four).
const TRACEPARENT = /^([\da-f]{2})-([\da-f]{32})-([\da-f]{16})-([\da-f]{2})(-.*)?$/;

/** The remote span context of a `traceparent` value; undefined when malformed or all zeros. */
export function parseTraceparent(value: string | Buffer | undefined): SpanContext | undefined {
  if (value === undefined) return undefined;
  const match = TRACEPARENT.exec(String(value).trim());
  if (match === null) return undefined;
  const [, version, traceId, spanId, flags, rest] = match;
  if (version === 'ff' || (version === '00' && rest !== undefined)) return undefined;
  const spanContext: SpanContext = { traceId: traceId!, spanId: spanId!, traceFlags: parseInt(flags!, 16), isRemote: true };
  return isSpanContextValid(spanContext) ? spanContext : undefined;
}
