// The server side of gRPC's standard metrics (A66): calls started, and their duration by status.
import type { MeterProvider } from '@opentelemetry/api';
import { serverMetrics, statusLabel } from '../observability/metrics.js';
import type { ServerLayer } from './types.js';

export interface ServerMetricsOptions {
  /** Where to record. Default: OpenTelemetry's global meter provider; without one the layer steps aside. */
  meterProvider?: MeterProvider;
}

/**
 * Records `grpc.server.call.started` and `grpc.server.call.duration` (labels `grpc.method`,
 * `grpc.status`). Undefined when no meter provider would record anything.
 */
export function serverMetricsLayer(options: ServerMetricsOptions = {}): ServerLayer | undefined {
  const instruments = serverMetrics(options.meterProvider);
  if (!instruments) return undefined;
  const byMethod = new Map<string, { base: { 'grpc.method': string }; byCode: Map<number, Record<string, string>> }>();
  return (next) => (call) => {
    const path = call.method.path.slice(1);
    let entry = byMethod.get(path);
    if (!entry) byMethod.set(path, (entry = { base: { 'grpc.method': path }, byCode: new Map() }));
    const { base, byCode } = entry;
    instruments.callStarted.add(1, base);
    const started = performance.now();
    return next(call).then((result) => {
      const code = result.status.code;
      let attributes = byCode.get(code);
      if (!attributes) byCode.set(code, (attributes = { ...base, 'grpc.status': statusLabel(code) }));
      instruments.callDuration.record((performance.now() - started) / 1000, attributes);
      return result;
    });
  };
}
