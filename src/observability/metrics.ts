// gRPC's standard metrics (gRPC proposals A66 and A96), recorded through the OpenTelemetry
// metrics API: dashboards built for grpc-go and grpc-java work unchanged. Without an
// OpenTelemetry SDK (no meter provider registered, none given) nothing is recorded and the
// layers that record step aside: the cost per call is nil.
import { createNoopMeter, metrics, type Attributes, type Counter, type Histogram, type MeterProvider } from '@opentelemetry/api';
import { statusName } from '../call/status.js';

/** A66's buckets for latencies, in seconds (0 to 100 s). */
export const LATENCY_BUCKETS_S = Object.freeze([
  0, 0.00001, 0.00005, 0.0001, 0.0003, 0.0006, 0.0008, 0.001, 0.002, 0.003, 0.004, 0.005, 0.006, 0.008, 0.01, 0.013, 0.016, 0.02,
  0.025, 0.03, 0.04, 0.05, 0.065, 0.08, 0.1, 0.13, 0.16, 0.2, 0.25, 0.3, 0.4, 0.5, 0.65, 0.8, 1, 2, 5, 10, 20, 50, 100,
]);

/** A96's buckets for retries and hedges per call. */
const COUNT_BUCKETS = Object.freeze([1, 2, 3, 4, 5]);

export interface ClientMetrics {
  readonly attemptStarted: Counter;
  readonly attemptDuration: Histogram;
  readonly callDuration: Histogram;
  readonly retries: Histogram;
  readonly hedges: Histogram;
}

export interface ServerMetrics {
  readonly callStarted: Counter;
  readonly callDuration: Histogram;
}

const METER_NAME = 'grpc-meshlite';

/** The meter of `provider` (default: the global one), or undefined when it is OpenTelemetry's no-op. */
function meterOf(provider: MeterProvider | undefined) {
  const meter = (provider ?? metrics.getMeterProvider()).getMeter(METER_NAME);
  return meter === createNoopMeter() ? undefined : meter;
}

/** The client instruments (A66, A96), or undefined when nothing would record them. */
export function clientMetrics(provider?: MeterProvider): ClientMetrics | undefined {
  const meter = meterOf(provider);
  if (!meter) return undefined;
  const latency = { unit: 's', advice: { explicitBucketBoundaries: [...LATENCY_BUCKETS_S] } };
  return {
    attemptStarted: meter.createCounter('grpc.client.attempt.started', { unit: '{attempt}', description: 'Number of client call attempts started.' }),
    attemptDuration: meter.createHistogram('grpc.client.attempt.duration', { ...latency, description: 'End-to-end time taken to complete a client call attempt.' }),
    callDuration: meter.createHistogram('grpc.client.call.duration', { ...latency, description: 'Time taken by gRPC to complete an RPC from the application\u2019s perspective.' }),
    retries: meter.createHistogram('grpc.client.call.retries', {
      unit: '{retry}',
      description: 'Number of retries during the client call. If there were no retries, 0 is not reported.',
      advice: { explicitBucketBoundaries: [...COUNT_BUCKETS] },
    }),
    hedges: meter.createHistogram('grpc.client.call.hedges', {
      unit: '{hedge}',
      description: 'Number of hedges during the client call. If there were no hedges, 0 is not reported.',
      advice: { explicitBucketBoundaries: [...COUNT_BUCKETS] },
    }),
  };
}

/** The server instruments (A66), or undefined when nothing would record them. */
export function serverMetrics(provider?: MeterProvider): ServerMetrics | undefined {
  const meter = meterOf(provider);
  if (!meter) return undefined;
  return {
    callStarted: meter.createCounter('grpc.server.call.started', { unit: '{call}', description: 'Number of server calls started.' }),
    callDuration: meter.createHistogram('grpc.server.call.duration', {
      unit: 's',
      advice: { explicitBucketBoundaries: [...LATENCY_BUCKETS_S] },
      description: 'End-to-end time taken to complete a call from server transport\u2019s perspective.',
    }),
  };
}

/**
 * Attribute sets for one method, target or endpoint, with A66's `grpc.status` added per code:
 * each made once, so recording costs one lookup, not an allocation.
 */
export function labels(base: Attributes): { base: Attributes; withStatus: (code: number) => Attributes } {
  const byCode = new Map<number, Attributes>();
  return {
    base,
    withStatus: (code) => {
      let value = byCode.get(code);
      if (!value) byCode.set(code, (value = { ...base, 'grpc.status': statusName(code) }));
      return value;
    },
  };
}

/** The mesh's own per-endpoint instruments. */
export interface MeshMetrics {
  /** Every attempt an endpoint took, by how it ended. */
  readonly endpointAttempts: Counter;
  /** How long each took, by endpoint. */
  readonly endpointAttemptDuration: Histogram;
}

/** What the mesh's state gauges read, each time a reader collects. */
export interface MeshStateSource {
  snapshot(): ReadonlyArray<{
    readonly service: string;
    readonly endpoints: ReadonlyArray<{
      readonly name: string;
      readonly address: string;
      readonly priority: number;
      readonly weight: number;
      readonly effectiveWeight: number;
      readonly usable: boolean;
      readonly serving: boolean;
      readonly ejection: string;
      readonly status: string;
    }>;
  }>;
  /** Breaker states (0 closed, 1 half-open, 2 open) and retry budget balances of the mesh's clients. */
  clients(): ReadonlyArray<{ readonly breakers: Readonly<Record<string, { readonly state: string }>>; readonly budget: { readonly available: number } | null }>;
}

/** The mesh's instruments, or undefined when nothing would record them. */
export function meshMetrics(provider?: MeterProvider): MeshMetrics | undefined {
  const meter = meterOf(provider);
  if (!meter) return undefined;
  return {
    endpointAttempts: meter.createCounter('meshlite.endpoint.attempts', {
      unit: '{attempt}',
      description: 'Attempts each endpoint of a mesh service took, by the status they ended with.',
    }),
    endpointAttemptDuration: meter.createHistogram('meshlite.endpoint.attempt.duration', {
      unit: 's',
      advice: { explicitBucketBoundaries: [...LATENCY_BUCKETS_S] },
      description: 'Time each attempt took, by the endpoint it went to.',
    }),
  };
}

const BREAKER_STATES: Record<string, number> = { closed: 0, 'half-open': 1, halfOpen: 1, open: 2 };

/**
 * The mesh's state as gauges, read from its snapshots when a reader collects (nothing is
 * computed per call): per endpoint in rotation, serving (connected and healthy), ejected,
 * effective weight; per client breaker state and retry budget balance.
 */
export function observeMeshState(provider: MeterProvider | undefined, source: MeshStateSource): (() => void) | undefined {
  const meter = meterOf(provider);
  if (!meter) return undefined;
  const inRotation = meter.createObservableGauge('meshlite.endpoint.in_rotation', { description: '1 when the endpoint takes regular calls, else 0.' });
  const serving = meter.createObservableGauge('meshlite.endpoint.serving', { description: '1 when connected and passing its health check, else 0.' });
  const ejected = meter.createObservableGauge('meshlite.endpoint.ejected', { description: '1 when ejected (or probing) for failures, else 0.' });
  const weight = meter.createObservableGauge('meshlite.endpoint.effective_weight', { description: 'Weight in use now (slow start lowers it).' });
  const breaker = meter.createObservableGauge('meshlite.client.breaker.state', { description: '0 closed, 1 half-open, 2 open.' });
  const budget = meter.createObservableGauge('meshlite.client.retry_budget.available', { unit: '{retry}', description: 'Retries the budget would grant now.' });
  const observables = [inRotation, serving, ejected, weight, breaker, budget];
  const callback = (result: { observe(observable: (typeof observables)[number], value: number, attributes?: Attributes): void }) => {
    for (const balancer of source.snapshot()) {
      for (const endpoint of balancer.endpoints) {
        const attributes = { 'meshlite.service': balancer.service, 'meshlite.endpoint': endpoint.name, 'meshlite.address': endpoint.address };
        result.observe(inRotation, endpoint.usable ? 1 : 0, attributes);
        result.observe(serving, endpoint.serving ? 1 : 0, attributes);
        result.observe(ejected, endpoint.ejection === 'admitted' ? 0 : 1, attributes);
        result.observe(weight, endpoint.effectiveWeight, attributes);
      }
    }
    source.clients().forEach((client, index) => {
      for (const [key, snapshot] of Object.entries(client.breakers)) {
        result.observe(breaker, BREAKER_STATES[snapshot.state] ?? -1, { 'meshlite.client': String(index), 'meshlite.breaker': key });
      }
      if (client.budget) result.observe(budget, client.budget.available, { 'meshlite.client': String(index) });
    });
  };
  meter.addBatchObservableCallback(callback, observables);
  return () => meter.removeBatchObservableCallback(callback, observables);
}
