// The client side of gRPC's standard metrics (A66 call and attempt metrics, A96 retries,
// hedges and retry delay): attempts counted as they start, the rest recorded once a call has
// ended, from its attempts. Outermost in the stack, so a call's duration is what the caller waited.
import type { MeterProvider } from '@opentelemetry/api';
import type { ServiceDefinition as GrpcServiceDefinition } from '@grpc/grpc-js';
import { INSTRUMENTS, onFirstUse, perStatus, recorderFor, type Recorder } from '../observability/metrics.js';
import type { AttemptRecord, ClientLayer, MethodInfo } from './types.js';

export interface MetricsOptions {
  /** The channel target, A66's `grpc.target` label: "mesh:///orders", "dns:///orders:50051". Default "other". */
  target?: string;
  /** Where to record. Default: OpenTelemetry's global meter provider; without one the layer steps aside. */
  meterProvider?: MeterProvider;
  /**
   * The registered methods (a grpc-js service definition, or paths "/pkg.Service/Method"):
   * any other method is labelled "other" (A66), so arbitrary paths cannot explode the label
   * set. `mesh.client()` gives its client's service. Default: methods are labelled as they
   * come, the first 100 of them, then "other".
   */
  methods?: GrpcServiceDefinition | readonly string[];
}

/** Distinct method labels a layer without registered methods gives before it says "other". */
export const MAX_UNREGISTERED_METHOD_LABELS = 100;

/** The series of one method, made on first use. */
interface MethodSeries {
  readonly attemptStarted: () => { add(value: number): void };
  readonly attemptDuration: (code: number) => { record(value: number): void };
  readonly attemptSent: (code: number) => { record(value: number): void };
  readonly attemptRcvd: (code: number) => { record(value: number): void };
  readonly callDuration: (code: number) => { record(value: number): void };
  readonly retries: () => { record(value: number): void };
  readonly hedges: () => { record(value: number): void };
  readonly retryDelay: () => { record(value: number): void };
}

function methodSeries(recorder: Recorder, method: string, target: string): MethodSeries {
  const base = { 'grpc.method': method, 'grpc.target': target };
  return {
    attemptStarted: onFirstUse(recorder.counter(INSTRUMENTS.attemptStarted), base),
    attemptDuration: perStatus(recorder.histogram(INSTRUMENTS.attemptDuration), base),
    attemptSent: perStatus(recorder.histogram(INSTRUMENTS.attemptSentSize), base),
    attemptRcvd: perStatus(recorder.histogram(INSTRUMENTS.attemptRcvdSize), base),
    callDuration: perStatus(recorder.histogram(INSTRUMENTS.callDuration), base),
    retries: onFirstUse(recorder.histogram(INSTRUMENTS.retries), base),
    hedges: onFirstUse(recorder.histogram(INSTRUMENTS.hedges), base),
    retryDelay: onFirstUse(recorder.histogram(INSTRUMENTS.retryDelay), base),
  };
}

/** A66's method label: the method when registered, else "other". */
function methodLabeller(methods: MetricsOptions['methods']): (path: string) => string {
  if (methods) {
    const paths = Array.isArray(methods) ? methods : Object.values(methods as GrpcServiceDefinition).map((method) => method.path);
    const registered = new Set(paths);
    return (path) => (registered.has(path) ? path.slice(1) : 'other');
  }
  const seen = new Set<string>();
  return (path) => {
    if (seen.has(path)) return path.slice(1);
    if (seen.size >= MAX_UNREGISTERED_METHOD_LABELS) return 'other';
    seen.add(path);
    return path.slice(1);
  };
}

/**
 * Time with no attempt running between the first attempt's start and the last one's end
 * (backoff pauses): A96's retry delay. Attempts are few; hedges overlap.
 */
export function retryDelayMs(attempts: readonly AttemptRecord[]): number {
  const spans = attempts.map((a) => [a.startedAt, a.startedAt + a.durationMs] as const).sort((a, b) => a[0] - b[0]);
  let idle = 0;
  let reach = spans[0]?.[1] ?? 0;
  for (const [start, end] of spans) {
    if (start > reach) idle += start - reach;
    if (end > reach) reach = end;
  }
  return idle;
}

/**
 * Records `grpc.client.call.duration`, `grpc.client.attempt.started`,
 * `grpc.client.attempt.duration`, `grpc.client.call.retries`, `grpc.client.call.hedges` and
 * `grpc.client.call.retry_delay` with A66's names, units and labels (`grpc.method`,
 * `grpc.target`, `grpc.status`). Undefined when no meter provider would record anything (the
 * stack leaves it out).
 */
export type MetricsLayer = ClientLayer & {
  /**
   * Counts one attempt of `method` as it starts (`grpc.client.attempt.started`; A66 counts
   * attempts "including those that have not completed"): the attempt engine under the layer
   * calls it (the stack wires it to the retry layer's `onAttempt`). Once it has been called,
   * the layer no longer counts attempts from a finished call's records; a stack without an
   * attempt engine is counted so, at the call's end.
   */
  readonly attemptStarted: (method: MethodInfo) => void;
};

export function metricsLayer(options: MetricsOptions = {}): MetricsLayer | undefined {
  const recorder = recorderFor(options.meterProvider);
  if (!recorder) return undefined;
  const target = options.target ?? 'other';
  const label = methodLabeller(options.methods);
  const byPath = new Map<string, MethodSeries>();
  const byLabel = new Map<string, MethodSeries>();
  const seriesOf = (path: string) => {
    let series = byPath.get(path);
    if (!series) {
      const method = label(path);
      series = byLabel.get(method) ?? methodSeries(recorder, method, target);
      byLabel.set(method, series);
      byPath.set(path, series);
    }
    return series;
  };
  // Set once the attempt engine counts attempts as they start (see attemptStarted).
  let countedAtStart = false;
  const layer: ClientLayer = (next) => (call) => {
    const started = performance.now();
    return next(call).then((result) => {
      const series = seriesOf(call.method.path);
      if (!countedAtStart && result.attempts.length > 0) series.attemptStarted().add(result.attempts.length);
      let retries = -1;
      let hedges = 0;
      for (const attempt of result.attempts) {
        series.attemptDuration(attempt.code).record(attempt.durationMs / 1000);
        if (attempt.sentBytes !== undefined) {
          series.attemptSent(attempt.code).record(attempt.sentBytes);
          series.attemptRcvd(attempt.code).record(attempt.receivedBytes ?? 0);
        }
        if (attempt.hedge) hedges++;
        else retries++;
      }
      series.callDuration(result.status.code).record((performance.now() - started) / 1000);
      if (retries > 0) series.retries().record(retries);
      if (hedges > 0) series.hedges().record(hedges);
      if (retries > 0 || hedges > 0) series.retryDelay().record(retryDelayMs(result.attempts) / 1000);
      return result;
    });
  };
  return Object.assign(layer, {
    attemptStarted: (method: MethodInfo) => {
      countedAtStart = true;
      seriesOf(method.path).attemptStarted().add(1);
    },
  });
}
