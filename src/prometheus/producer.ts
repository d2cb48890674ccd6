// The mesh's in-process aggregation as an OpenTelemetry SDK metric producer: a reader built
// with it collects the mesh's counters and histograms with its own instruments' data.
import { ValueType, type HrTime, type MeterProvider } from '@opentelemetry/api';
import type { MetricProducer, ScopeMetrics } from '@opentelemetry/sdk-metrics';
import { MetricAggregation } from '../observability/aggregation.js';
import { aggregateInto } from '../observability/metrics.js';
import { VERSION } from '../version.js';

type Sdk = typeof import('@opentelemetry/sdk-metrics');

/**
 * The name OpenTelemetry's Prometheus rules give a metric in `unit`: seconds get `_seconds`, a
 * ratio (unit "1") `_ratio`, bytes `_bytes`, as grpc-go's and grpc-java's exporters name them.
 */
function withUnitSuffix(name: string, unit: string): string {
  const suffix = unit === 's' ? '_seconds' : unit === '1' ? '_ratio' : unit === 'By' ? '_bytes' : '';
  return suffix === '' || name.endsWith(suffix) ? name : `${name}${suffix}`;
}

function hrNow(): HrTime {
  const ms = performance.timeOrigin + performance.now();
  return [Math.floor(ms / 1000), Math.round((ms % 1000) * 1e6)];
}

/**
 * A producer of `aggregation`'s metrics, cumulative since it was made, under the scope
 * "grpc-meshlite" (with this package's version). With `unitSuffix`, a metric in seconds, bytes
 * or a ratio is named with the suffix OpenTelemetry's Prometheus compatibility rules add
 * ("grpc.client.attempt.duration" becomes grpc_client_attempt_duration_seconds, as grpc-go and
 * grpc-java export it through their OpenTelemetry Prometheus exporters); the JS exporter adds
 * none itself. Gauges are this collection's readings only.
 */
export function aggregationProducer(aggregation: MetricAggregation, sdk: Sdk, { unitSuffix = false } = {}): MetricProducer {
  const startTime = hrNow();
  const { AggregationTemporality, DataPointType } = sdk;
  return {
    collect: async () => {
      const endTime = hrNow();
      const metrics: ScopeMetrics['metrics'] = aggregation.collect().map((metric) => {
        const { unit, description: text } = metric.description;
        const name = unitSuffix ? withUnitSuffix(metric.description.name, unit) : metric.description.name;
        const common = { aggregationTemporality: AggregationTemporality.CUMULATIVE };
        if (metric.kind === 'gauge') {
          return {
            ...common,
            descriptor: { name, unit, description: text, valueType: ValueType.DOUBLE },
            dataPointType: DataPointType.GAUGE,
            dataPoints: metric.points.map(({ attributes, value }) => ({ attributes, startTime: endTime, endTime, value })),
          };
        }
        if (metric.kind === 'sum') {
          return {
            ...common,
            descriptor: { name, unit, description: text, valueType: ValueType.DOUBLE },
            dataPointType: DataPointType.SUM,
            isMonotonic: true,
            dataPoints: metric.points.map(({ attributes, value }) => ({ attributes, startTime, endTime, value })),
          };
        }
        return {
          ...common,
          descriptor: { name, unit, description: text, valueType: ValueType.DOUBLE },
          dataPointType: DataPointType.HISTOGRAM,
          dataPoints: metric.points.map(({ attributes, value }) => ({ attributes, startTime, endTime, value })),
        };
      });
      return {
        // A reader keeps its own SDK's resource and takes only the scope metrics of a producer.
        resourceMetrics: {
          resource: undefined as never,
          scopeMetrics: metrics.length > 0 ? [{ scope: { name: 'grpc-meshlite', version: VERSION }, metrics }] : [],
        },
        errors: [],
      };
    },
  };
}

export interface MeshMetricProducer {
  /** Give it to your reader: `new PeriodicExportingMetricReader({ exporter, metricProducers: [it.producer] })`. */
  readonly producer: MetricProducer;
  /** Meshes, client and server stacks given `provider` then aggregate into this producer. */
  bind(provider: MeterProvider): void;
}

/**
 * For an OpenTelemetry SDK pipeline of your own: the mesh's counters and histograms
 * aggregated in the process (about 40 ns a measurement instead of the SDK's ≈ 1 µs attribute
 * hashing) and collected by your reader. Without it the mesh records through the API into
 * your provider, which works too, at the SDK's cost.
 *
 * @example
 *   const mesh = await createMeshMetricProducer();
 *   const reader = new PeriodicExportingMetricReader({ exporter, metricProducers: [mesh.producer] });
 *   const meterProvider = new MeterProvider({ readers: [reader] });
 *   mesh.bind(meterProvider);
 */
export async function createMeshMetricProducer(options: { unitSuffix?: boolean } = {}): Promise<MeshMetricProducer> {
  const aggregation = new MetricAggregation();
  const producer = aggregationProducer(aggregation, await import('@opentelemetry/sdk-metrics'), options);
  return { producer, bind: (provider) => aggregateInto(provider, aggregation) };
}
