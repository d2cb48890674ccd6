// The server side of gRPC's standard metrics (A66): calls started, and their duration by
// status; and the server's own state, read at collection: calls shed, idempotent replays,
// the concurrency limit and what runs under it, the drain phase.
import type { MeterProvider } from '@opentelemetry/api';
import { observableCounter, observableGauge } from '../observability/aggregation.js';
import { INSTRUMENTS, onFirstUse, perStatus, recorderFor, type Recorder } from '../observability/metrics.js';
import type { DrainPhase } from './drain.js';
import type { ServerLayer } from './types.js';

export interface ServerMetricsOptions {
  /** Where to record. Default: OpenTelemetry's global meter provider; without one the layer steps aside. */
  meterProvider?: MeterProvider;
}

/**
 * Records `grpc.server.call.started` and `grpc.server.call.duration` (labels `grpc.method`,
 * `grpc.status`). A grpc-js server answers a method it does not serve with UNIMPLEMENTED
 * before any interceptor runs, so every method label here is a registered one (A66's rule).
 * Undefined when no meter provider would record anything.
 */
export function serverMetricsLayer(options: ServerMetricsOptions = {}): ServerLayer | undefined {
  const recorder = recorderFor(options.meterProvider);
  return recorder && metricsLayerOn(recorder);
}

function metricsLayerOn(recorder: Recorder): ServerLayer {
  const started = recorder.counter(INSTRUMENTS.serverCallStarted);
  const duration = recorder.histogram(INSTRUMENTS.serverCallDuration);
  const byPath = new Map<
    string,
    { started: () => { add(value: number): void }; duration: (code: number) => { record(value: number): void } }
  >();
  return (next) => (call) => {
    let series = byPath.get(call.method.path);
    if (!series) {
      const base = { 'grpc.method': call.method.path.slice(1) };
      byPath.set(call.method.path, (series = { started: onFirstUse(started, base), duration: perStatus(duration, base) }));
    }
    series.started().add(1);
    const begun = performance.now();
    const { duration: byCode } = series;
    return next(call).then((result) => {
      byCode(result.status.code).record((performance.now() - begun) / 1000);
      return result;
    });
  };
}

/** What the server's state gauges read. */
export interface ServerStateSource {
  readonly shed?: () => number;
  readonly replays?: () => number;
  readonly limit?: { readonly limit: number; readonly inFlight: number };
  readonly drainPhase: () => DrainPhase | 'serving';
}

/** The drain phase as a number, in the order a drain goes through them. */
export const DRAIN_PHASE_VALUES: Readonly<Record<DrainPhase | 'serving', number>> = Object.freeze({
  serving: 0,
  deregistered: 1,
  'not-serving': 2,
  'shutting-down': 3,
  stopped: 4,
  forced: 5,
});

/**
 * The server's state as instruments read at collection: `meshlite.server.shed` (calls refused
 * by load shedding), `meshlite.server.idempotent_replays`, `meshlite.server.concurrency.limit`
 * and `.in_flight`, `meshlite.server.drain.phase` (0 serving … 4 stopped, 5 forced). Returns
 * the disposer, or undefined when nothing would record.
 */
export function observeServerState(options: ServerMetricsOptions, source: ServerStateSource): (() => void) | undefined {
  const recorder = recorderFor(options.meterProvider);
  if (!recorder) return undefined;
  const { shed, replays, limit, inFlight, drain } = SERVER_STATE_INSTRUMENTS;
  return recorder.observe(Object.values(SERVER_STATE_INSTRUMENTS), (observe) => {
    if (source.shed) observe(shed, source.shed(), NO_ATTRIBUTES);
    if (source.replays) observe(replays, source.replays(), NO_ATTRIBUTES);
    if (source.limit) {
      observe(limit, source.limit.limit, NO_ATTRIBUTES);
      observe(inFlight, source.limit.inFlight, NO_ATTRIBUTES);
    }
    observe(drain, DRAIN_PHASE_VALUES[source.drainPhase()], NO_ATTRIBUTES);
  });
}

const NO_ATTRIBUTES = Object.freeze({});

/** The server-state instruments (observeServerState), read through the recorder as the mesh's own are. */
const SERVER_STATE_INSTRUMENTS = {
  shed: observableCounter('meshlite.server.shed', '{call}', 'Calls refused by load shedding (RESOURCE_EXHAUSTED).'),
  replays: observableCounter(
    'meshlite.server.idempotent_replays',
    '{call}',
    'Calls answered with a remembered response for their idempotency key.',
  ),
  limit: observableGauge('meshlite.server.concurrency.limit', '{call}', 'Calls the server runs at once before it sheds.'),
  inFlight: observableGauge('meshlite.server.concurrency.in_flight', '{call}', 'Calls running under the limit now.'),
  // Unitless: its Prometheus name takes no suffix.
  drain: observableGauge(
    'meshlite.server.drain.phase',
    '',
    '0 serving, 1 deregistered, 2 not serving (grace), 3 shutting down, 4 stopped, 5 forced.',
  ),
};
