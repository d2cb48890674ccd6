// What recording gRPC's client metrics costs by itself, in process: the metrics layer over
// an inner layer that answers at once, with no metrics, aggregated in the process (what
// servePrometheus sets up) and through the API into an SDK with the Prometheus exporter.
// Bounded: a fixed number of calls per round, rounds interleaved, CPU time per call.
import * as grpc from '@grpc/grpc-js';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { metricsLayer, type ClientLayer } from 'grpc-meshlite';
import { createMeshMetricProducer } from 'grpc-meshlite/prometheus';

export type RecordingMode = 'none' | 'aggregated' | 'sdk';

export interface RecordingRun {
  readonly mode: RecordingMode;
  readonly round: number;
  /** Client CPU per call of the layer and the inner layer together. */
  readonly nsPerCall: number;
}

const CALLS_PER_ROUND = 200_000;

type Next = Parameters<ClientLayer>[0];
type Call = Parameters<Next>[0];

export async function measureRecording(rounds: number): Promise<RecordingRun[]> {
  const result = {
    status: { code: grpc.status.OK, details: '', metadata: new grpc.Metadata() },
    headers: undefined,
    message: {},
    peer: '127.0.0.1:1',
    attempts: [{ code: grpc.status.OK, peer: '127.0.0.1:1', mayHaveReachedServer: true, startedAt: 0, durationMs: 1.2 }],
  };
  const call = { method: { path: '/orders.v1.OrderService/GetOrder', service: 'orders.v1.OrderService', name: 'GetOrder', kind: 'unary' } } as Call;
  const inner: Next = async () => result;

  const aggregated = await createMeshMetricProducer();
  const aggregatedProvider = new MeterProvider({ readers: [new PrometheusExporter({ preventServerStart: true, metricProducers: [aggregated.producer] })] });
  aggregated.bind(aggregatedProvider);
  const sdkProvider = new MeterProvider({ readers: [new PrometheusExporter({ preventServerStart: true })] });
  const chains: Record<RecordingMode, Next> = {
    none: inner,
    aggregated: metricsLayer({ meterProvider: aggregatedProvider, target: 'mesh:///orders' })!(inner),
    sdk: metricsLayer({ meterProvider: sdkProvider, target: 'mesh:///orders' })!(inner),
  };
  const runs: RecordingRun[] = [];
  try {
    for (let round = 0; round <= rounds; round++) {
      for (const mode of (round % 2 === 0 ? ['none', 'aggregated', 'sdk'] : ['sdk', 'aggregated', 'none']) as RecordingMode[]) {
        const next = chains[mode];
        const before = process.cpuUsage();
        for (let i = 0; i < CALLS_PER_ROUND; i++) await next(call);
        const used = process.cpuUsage(before);
        // Round 0 warms the JIT and is not kept.
        if (round > 0) runs.push({ mode, round, nsPerCall: ((used.user + used.system) * 1000) / CALLS_PER_ROUND });
      }
    }
  } finally {
    await Promise.all([aggregatedProvider.shutdown(), sdkProvider.shutdown()]);
  }
  return runs;
}
