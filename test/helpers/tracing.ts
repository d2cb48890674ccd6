// A real OpenTelemetry SDK tracer provider whose finished spans land in memory.
import { SpanKind } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider, type ReadableSpan } from '@opentelemetry/sdk-trace';

export interface TestTracer {
  readonly provider: TracerProvider;
  /** Every span ended so far, in the order they ended. */
  spans(): ReadableSpan[];
  /** The ended spans whose name starts with `prefix` ("Sent.", "Attempt.", "Recv."), oldest start first. */
  named(prefix: string): ReadableSpan[];
  shutdown(): Promise<void>;
}

export function testTracer(): TestTracer {
  const exporter = new InMemorySpanExporter();
  const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
  const spans = () => exporter.getFinishedSpans();
  return {
    provider,
    spans,
    named: (prefix) =>
      spans()
        .filter((span) => span.name.startsWith(prefix))
        .sort((a, b) => a.startTime[0] - b.startTime[0] || a.startTime[1] - b.startTime[1]),
    shutdown: () => provider.shutdown(),
  };
}

/** What a test reads of a span: its ids, its parent's span id, and what it says. */
export function describeSpan(span: ReadableSpan) {
  return {
    name: span.name,
    kind: SpanKind[span.kind],
    traceId: span.spanContext().traceId,
    spanId: span.spanContext().spanId,
    parentSpanId: span.parentSpanContext?.spanId,
    status: span.status.code,
    attributes: span.attributes,
    events: span.events.map((event) => event.name),
  };
}
