// Prometheus: an OpenTelemetry SDK meter provider whose reader is the OpenTelemetry
// Prometheus exporter, serving /metrics in Prometheus's text format. The SDK and the exporter
// are optional peer dependencies, loaded only here (the rest of the package records through
// the API alone).
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { MeterProvider } from '@opentelemetry/api';
import { createMeshMetricProducer } from './producer.js';

export interface PrometheusOptions {
  /** Port of the /metrics endpoint; 0 picks a free one (`url` says which). Default 9464 (the exporter's). */
  port?: number;
  /** Address it listens on. Default 127.0.0.1. */
  host?: string;
  /**
   * The OpenTelemetry resource's `service.name` (Prometheus's `target_info`). Default: the
   * environment's, as OpenTelemetry reads it — OTEL_SERVICE_NAME, else `service.name` in
   * OTEL_RESOURCE_ATTRIBUTES (whose other attributes are taken too), else the SDK's
   * "unknown_service:node".
   */
  serviceName?: string;
}

export interface PrometheusMetrics {
  /** Give it to createMesh({ meterProvider }), createServerStack({ metrics: { meterProvider } }), … */
  readonly meterProvider: MeterProvider;
  /** Where it answers, with the port it listens on: "http://127.0.0.1:9464/metrics". */
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
  const [{ MeterProvider }, { PrometheusExporter }, resources] = await Promise.all([
    import('@opentelemetry/sdk-metrics'),
    import('@opentelemetry/exporter-prometheus'),
    import('@opentelemetry/resources'),
  ]);
  // OpenTelemetry's rules: the SDK's defaults, then OTEL_RESOURCE_ATTRIBUTES and
  // OTEL_SERVICE_NAME (the env detector), then what the caller says.
  let resource = resources.defaultResource().merge(resources.detectResources({ detectors: [resources.envDetector] }));
  if (options.serviceName !== undefined)
    resource = resource.merge(resources.resourceFromAttributes({ 'service.name': options.serviceName }));
  // The mesh's counters and histograms aggregate in the process and reach the exporter as a
  // metric producer: recording costs a bucket search instead of the SDK's attribute hashing.
  // Prometheus names carry their unit (…_duration_seconds_bucket), as grpc-go's and grpc-java's do.
  const mesh = await createMeshMetricProducer({ unitSuffix: true });
  const exporter = new PrometheusExporter({ host, port, preventServerStart: true, metricProducers: [mesh.producer] });
  // The mesh's own server rather than the exporter's: it says which port it got when asked for 0.
  const server = createServer((request, response) => {
    let path: string;
    try {
      path = new URL(request.url ?? '/', 'http://localhost').pathname;
    } catch {
      // A request target Node's parser lets through but no URL can hold (the exporter answers it 400 too).
      response.statusCode = 400;
      response.end('Bad request\n');
      return;
    }
    if (path === '/metrics') {
      exporter.getMetricsRequestHandler(request, response);
    } else {
      response.statusCode = 404;
      response.end('Not found: metrics are at /metrics\n');
    }
  });
  // As the exporter's own: serving metrics does not keep the process alive.
  server.unref();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const meterProvider = new MeterProvider({ resource, readers: [exporter] });
  mesh.bind(meterProvider);
  const bound = (server.address() as AddressInfo).port;
  return {
    meterProvider,
    url: `http://${host.includes(':') ? `[${host}]` : host}:${bound}/metrics`,
    handle: (request, response) => exporter.getMetricsRequestHandler(request, response),
    close: async () => {
      try {
        await meterProvider.shutdown();
      } finally {
        await new Promise<void>((resolve) => server.close(() => resolve()));
      }
    },
  };
}
