import type { status as Status } from '@grpc/grpc-js';
import { INSTRUMENTS, onFirstUse, perStatus, type Recorder } from '../observability/metrics.js';
import type { EndpointController } from './endpoint-controller.js';

/**
 * Counts and times attempts per endpoint and status (`meshlite.endpoint.attempts` and
 * `.attempt.duration`), the series made once per endpoint and code.
 */
export function endpointAttemptRecorder(
  recorder: Recorder,
  service: () => string,
): (endpoint: EndpointController, code: Status, durationMs: number) => void {
  const attempts = recorder.counter(INSTRUMENTS.endpointAttempts);
  const durations = recorder.histogram(INSTRUMENTS.endpointAttemptDuration);
  type Series = { attempts: (code: number) => { add(value: number): void }; durations: (code: number) => { record(value: number): void } };
  const byEndpoint = new WeakMap<EndpointController, Series>();
  return (endpoint, code, durationMs) => {
    let series = byEndpoint.get(endpoint);
    if (!series) {
      const base = { 'meshlite.service': service(), 'meshlite.endpoint': endpoint.config.name, 'meshlite.address': endpoint.address };
      byEndpoint.set(endpoint, (series = { attempts: perStatus(attempts, base), durations: perStatus(durations, base) }));
    }
    series.attempts(code).add(1);
    series.durations(code).record(durationMs / 1000);
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
