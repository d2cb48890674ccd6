// grpc-meshlite/prometheus: metrics served to Prometheus (needs @opentelemetry/sdk-metrics and
// @opentelemetry/exporter-prometheus).
export { servePrometheus } from './prometheus.js';
export type { PrometheusMetrics, PrometheusOptions } from './prometheus.js';
export { createMeshMetricProducer } from './producer.js';
export type { MeshMetricProducer } from './producer.js';
