// The server side of gRPC's standard metrics (A66): calls started, and their duration by status.
import type { MeterProvider } from '@opentelemetry/api';
import { labels, serverMetrics } from '../observability/metrics.js';
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
  const byMethod = new Map<string, ReturnType<typeof labels>>();
  return (next) => (call) => {
    const path = call.method.path.slice(1);
    let methodLabels = byMethod.get(path);
    if (!methodLabels) byMethod.set(path, (methodLabels = labels({ 'grpc.method': path })));
    instruments.callStarted.add(1, methodLabels.base);
    const started = performance.now();
    const { withStatus } = methodLabels;
    return next(call).then((result) => {
      instruments.callDuration.record((performance.now() - started) / 1000, withStatus(result.status.code));
      return result;
    });
  };
}
