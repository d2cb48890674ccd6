import type { status as Status } from '@grpc/grpc-js';
import { INSTRUMENTS, perStatus, type Recorder } from '../observability/metrics.js';
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
