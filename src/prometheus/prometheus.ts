// Prometheus: an OpenTelemetry SDK meter provider whose reader is the OpenTelemetry
// Prometheus exporter, serving /metrics in Prometheus's text format. The SDK and the exporter
// are optional peer dependencies, loaded only here (the rest of the package records through
// the API alone).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { MeterProvider } from '@opentelemetry/api';
import { createMeshMetricProducer } from './producer.js';

export interface PrometheusOptions {
  /** Port of the /metrics endpoint. Default 9464 (the exporter's). */
  port?: number;
  /** Address it listens on. Default 127.0.0.1. */
  host?: string;
}

export interface PrometheusMetrics {
  /** Give it to createMesh({ meterProvider }), createServerStack({ metrics: { meterProvider } }), … */
  readonly meterProvider: MeterProvider;
  /** "http://127.0.0.1:9464/metrics". */
  readonly url: string;
  /** Answers a /metrics request elsewhere too (the mesh's admin server: `serveAdmin({ prometheus })`). */
  handle(request: IncomingMessage, response: ServerResponse): void;
  close(): Promise<void>;
}

/**
 * Serves every metric recorded through the returned meter provider at `/metrics`.
 * Needs `@opentelemetry/sdk-metrics` and `@opentelemetry/exporter-prometheus` installed.
 *
 * @example
 *   const prometheus = await servePrometheus({ port: 9464 });
 *   const mesh = createMesh({ configFile: 'mesh.json', meterProvider: prometheus.meterProvider });
 */
export async function servePrometheus(options: PrometheusOptions = {}): Promise<PrometheusMetrics> {
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? 9464;
  const [{ MeterProvider }, { PrometheusExporter }] = await Promise.all([
    import('@opentelemetry/sdk-metrics'),
    import('@opentelemetry/exporter-prometheus'),
  ]);
  // The mesh's counters and histograms aggregate in the process and reach the exporter as a
  // metric producer: recording costs a bucket search instead of the SDK's attribute hashing.
  const mesh = await createMeshMetricProducer();
  const exporter = new PrometheusExporter({ host, port, preventServerStart: true, metricProducers: [mesh.producer] });
  await exporter.startServer();
  const meterProvider = new MeterProvider({ readers: [exporter] });
  mesh.bind(meterProvider);
  return {
    meterProvider,
    url: `http://${host}:${port}/metrics`,
    handle: (request, response) => exporter.getMetricsRequestHandler(request, response),
    close: () => meterProvider.shutdown(),
  };
}
