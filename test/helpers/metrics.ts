// A real OpenTelemetry SDK meter provider with a reader the test collects from on demand.
import { MeterProvider, MetricReader, type DataPoint, type Histogram } from '@opentelemetry/sdk-metrics';

class OnDemandReader extends MetricReader {
  protected override async onShutdown(): Promise<void> {}
  protected override async onForceFlush(): Promise<void> {}
}

export interface CollectedMetric {
  readonly unit: string;
  readonly points: ReadonlyArray<DataPoint<number | Histogram>>;
  /** Explicit bucket boundaries of a histogram. */
  readonly boundaries?: readonly number[];
}

export function testMeter() {
  const reader = new OnDemandReader();
  const provider = new MeterProvider({ readers: [reader] });
  return {
    provider,
    /** Every metric recorded so far, by name. */
    async collect(): Promise<Map<string, CollectedMetric>> {
      const { resourceMetrics } = await reader.collect();
      const out = new Map<string, CollectedMetric>();
      for (const scope of resourceMetrics.scopeMetrics) {
        for (const metric of scope.metrics) {
          const points = metric.dataPoints as Array<DataPoint<number | Histogram>>;
          const first = points[0]?.value;
          const boundaries = typeof first === 'object' && first !== null ? first.buckets.boundaries : undefined;
          out.set(metric.descriptor.name, { unit: metric.descriptor.unit, points, ...(boundaries && { boundaries }) });
        }
      }
      return out;
    },
    shutdown: () => provider.shutdown(),
  };
}

/** The value of the point whose attributes include `attributes` (a count, or a histogram's count). */
export function valueOf(metric: CollectedMetric | undefined, attributes: Record<string, string>): number | undefined {
  const point = metric?.points.find((p) => Object.entries(attributes).every(([key, value]) => p.attributes[key] === value));
  if (!point) return undefined;
  return typeof point.value === 'number' ? point.value : point.value.count;
}
