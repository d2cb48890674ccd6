// The client side of gRPC's standard metrics (A66 call and attempt metrics, A96 retries and
// hedges), recorded once a call has ended, from its attempts. Outermost in the stack, so a
// call's duration is what the caller waited.
import type { MeterProvider } from '@opentelemetry/api';
import { clientMetrics, labels } from '../observability/metrics.js';
import type { ClientLayer } from './types.js';

export interface MetricsOptions {
  /** The channel target, A66's `grpc.target` label: "mesh:///orders", "dns:///orders:50051". Default "other". */
  target?: string;
  /** Where to record. Default: OpenTelemetry's global meter provider; without one the layer steps aside. */
  meterProvider?: MeterProvider;
}

/**
 * Records `grpc.client.call.duration`, `grpc.client.attempt.started`,
 * `grpc.client.attempt.duration`, `grpc.client.call.retries` and `grpc.client.call.hedges`
 * with A66's names, units and labels (`grpc.method`, `grpc.target`, `grpc.status`).
 * Undefined when no meter provider would record anything (the stack leaves it out).
 */
export function metricsLayer(options: MetricsOptions = {}): ClientLayer | undefined {
  const instruments = clientMetrics(options.meterProvider);
  if (!instruments) return undefined;
  const target = options.target ?? 'other';
  const byMethod = new Map<string, ReturnType<typeof labels>>();
  return (next) => (call) => {
    const started = performance.now();
    return next(call).then((result) => {
      const path = call.method.path.slice(1);
      let methodLabels = byMethod.get(path);
      if (!methodLabels) byMethod.set(path, (methodLabels = labels({ 'grpc.method': path, 'grpc.target': target })));
      let retries = -1;
      let hedges = 0;
      for (const attempt of result.attempts) {
        instruments.attemptStarted.add(1, methodLabels.base);
        instruments.attemptDuration.record(attempt.durationMs / 1000, methodLabels.withStatus(attempt.code));
        if (attempt.hedge) hedges++;
        else retries++;
      }
      instruments.callDuration.record((performance.now() - started) / 1000, methodLabels.withStatus(result.status.code));
      if (retries > 0) instruments.retries.record(retries, methodLabels.base);
      if (hedges > 0) instruments.hedges.record(hedges, methodLabels.base);
      return result;
    });
  };
}
