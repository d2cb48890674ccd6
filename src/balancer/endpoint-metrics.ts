import type { status as Status } from '@grpc/grpc-js';
import type { Attributes } from '@opentelemetry/api';
import type { CounterSeries } from '../observability/aggregation.js';
import { INSTRUMENTS, onFirstUse, perStatus, type Recorder } from '../observability/metrics.js';
import type { EndpointController } from './endpoint-controller.js';

/** Per-endpoint attempt counts and times, and the way to let go of an endpoint's series. */
export interface EndpointAttemptRecorder {
  record(endpoint: EndpointController, code: Status, durationMs: number): void;
  /** The endpoint left (or its channel closed): its series go from the next collection (aggregated). */
  forget(endpoint: EndpointController): void;
}

/**
 * Counts and times attempts per endpoint and status (`meshlite.endpoint.attempts` and
 * `.attempt.duration`), the series made once per endpoint and code, and released when the
 * endpoint goes: with pod-IP churn, per-address series would otherwise grow for the life of
 * the process (each code seen costs a counter and a 42-bucket histogram).
 */
export function endpointAttemptRecorder(recorder: Recorder, service: () => string): EndpointAttemptRecorder {
  const attempts = recorder.counter(INSTRUMENTS.endpointAttempts);
  const durations = recorder.histogram(INSTRUMENTS.endpointAttemptDuration);
  type Series = {
    attempts: (code: number) => { add(value: number): void };
    durations: (code: number) => { record(value: number): void };
    /** The label sets made so far (each code's, the same for both instruments), to release. */
    made: Attributes[];
  };
  const byEndpoint = new WeakMap<EndpointController, Series>();
  // An attempt that ends after its endpoint left must not bring its series back for good.
  const gone = new WeakSet<EndpointController>();
  return {
    record: (endpoint, code, durationMs) => {
      if (gone.has(endpoint)) return;
      let series = byEndpoint.get(endpoint);
      if (!series) {
        const base = { 'meshlite.service': service(), 'meshlite.endpoint': endpoint.config.name, 'meshlite.address': endpoint.address };
        const made: Attributes[] = [];
        // Every attempt records both instruments with the same code: the counter's label sets
        // are the histogram's too.
        const noted = (attributes: Attributes) => {
          made.push(attributes);
          return attempts(attributes);
        };
        series = { attempts: perStatus(noted, base), durations: perStatus(durations, base), made };
        byEndpoint.set(endpoint, series);
      }
      series.attempts(code).add(1);
      series.durations(code).record(durationMs / 1000);
    },
    forget: (endpoint) => {
      gone.add(endpoint);
      const series = byEndpoint.get(endpoint);
      if (!series) return;
      byEndpoint.delete(endpoint);
      for (const attributes of series.made) {
        recorder.release(INSTRUMENTS.endpointAttempts, attributes);
        recorder.release(INSTRUMENTS.endpointAttemptDuration, attributes);
      }
    },
  };
}

/**
 * gRPC A94's `grpc.subchannel.connection_attempts_succeeded`, `…_failed` and `.disconnections`
 * for the channel's target (`mesh:///<service>`), from the endpoints' connectivity changes.
 * Counted per channel: clients of one mesh share connections, and each counts what it sees.
 */
export function connectionCounters(recorder: Recorder, service: string): Record<'succeeded' | 'failed' | 'disconnected', CounterSeries> {
  const target = { 'grpc.target': `mesh:///${service}` };
  return {
    succeeded: recorder.counter(INSTRUMENTS.connectionsSucceeded)(target),
    failed: recorder.counter(INSTRUMENTS.connectionsFailed)(target),
    disconnected: recorder.counter(INSTRUMENTS.disconnections)(target),
  };
}

/** Counts one route's picks: `index` is the destination's place in the route (undefined: the whole service). */
export type RoutePickCounter = (index: number | undefined, fellBack: boolean) => void;

/**
 * `meshlite.route.picks` for one route, the series made once per destination and outcome: a pick
 * costs an array read and an add. Labels are the service, the route and the subset names from
 * the config — never a header value, so the series stay as few as the config's routes.
 */
export function routePickCounter(recorder: Recorder, service: string, route: string, subsets: readonly string[]): RoutePickCounter {
  const picks = recorder.counter(INSTRUMENTS.routePicks);
  const series = (subset: string, fallback: boolean) =>
    onFirstUse(picks, {
      'meshlite.service': service,
      'meshlite.route': route,
      'meshlite.subset': subset,
      'meshlite.fallback': String(fallback),
    });
  const whole = series('', false);
  const bySubset = subsets.map((subset) => ({ served: series(subset, false), fellBack: series(subset, true) }));
  return (index, fellBack) => {
    const destination = index === undefined ? undefined : bySubset[index];
    if (destination === undefined) whole().add(1);
    else (fellBack ? destination.fellBack : destination.served)().add(1);
  };
}
