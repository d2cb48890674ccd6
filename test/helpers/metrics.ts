// A real OpenTelemetry SDK meter provider with a reader the test collects from on demand.
import { MeterProvider, MetricReader, type DataPoint, type Histogram } from '@opentelemetry/sdk-metrics';
import { createMeshMetricProducer } from 'grpc-meshlite/prometheus';

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

/** How the mesh records: through the API's instruments, or aggregated in the process (what servePrometheus does). */
export type RecordingMode = 'api' | 'aggregated';
export const RECORDING_MODES: readonly RecordingMode[] = ['api', 'aggregated'];

export async function testMeter(mode: RecordingMode = 'api') {
  const mesh = mode === 'aggregated' ? await createMeshMetricProducer() : undefined;
  const reader = new OnDemandReader({ ...(mesh && { metricProducers: [mesh.producer] }) });
  const provider = new MeterProvider({ readers: [reader] });
  mesh?.bind(provider);
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

/** The histogram point whose attributes include `attributes`. */
export function histogramOf(metric: CollectedMetric, attributes: Record<string, string>): Histogram {
  const point = metric.points.find((p) => Object.entries(attributes).every(([key, value]) => p.attributes[key] === value));
  if (!point || typeof point.value === 'number') throw new Error(`no histogram point with ${JSON.stringify(attributes)}`);
  return point.value;
}
