// What recording gRPC's client metrics costs by itself, in process: the metrics layer over
// an inner layer that answers at once, with no metrics, aggregated in the process (what
// servePrometheus sets up) and through the API into an SDK with the Prometheus exporter.
// Bounded: a fixed number of calls per round, rounds interleaved, CPU time per call.
import * as grpc from '@grpc/grpc-js';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { metricsLayer } from 'grpc-meshlite/layers';
import { createMeshMetricProducer } from 'grpc-meshlite/prometheus';
import { timeChains, type Call, type InProcessRun, type Next } from './in-process.js';

export type RecordingMode = 'none' | 'aggregated' | 'sdk';
export type RecordingRun = InProcessRun<RecordingMode>;

const CALLS_PER_ROUND = 200_000;

export async function measureRecording(rounds: number): Promise<RecordingRun[]> {
  const result = {
    status: { code: grpc.status.OK, details: '', metadata: new grpc.Metadata() },
    headers: undefined,
    message: {},
    peer: '127.0.0.1:1',
    attempts: [{ code: grpc.status.OK, peer: '127.0.0.1:1', mayHaveReachedServer: true, startedAt: 0, durationMs: 1.2 }],
  };
  const call = {
    method: { path: '/orders.v1.OrderService/GetOrder', service: 'orders.v1.OrderService', name: 'GetOrder', kind: 'unary' },
  } as Call;
  const inner: Next = async () => result;

  const aggregated = await createMeshMetricProducer();
  const aggregatedProvider = new MeterProvider({
    readers: [new PrometheusExporter({ preventServerStart: true, metricProducers: [aggregated.producer] })],
  });
  aggregated.bind(aggregatedProvider);
  const sdkProvider = new MeterProvider({ readers: [new PrometheusExporter({ preventServerStart: true })] });
  const chains: Record<RecordingMode, Next> = {
    none: inner,
    aggregated: metricsLayer({ meterProvider: aggregatedProvider, target: 'mesh:///orders' })!(inner),
    sdk: metricsLayer({ meterProvider: sdkProvider, target: 'mesh:///orders' })!(inner),
  };
  try {
    return await timeChains(chains, ['none', 'aggregated', 'sdk'], () => call, rounds, CALLS_PER_ROUND);
  } finally {
    await Promise.all([aggregatedProvider.shutdown(), sdkProvider.shutdown()]);
  }
}
