// gRPC's standard metrics (gRPC proposals A66 and A96), recorded through the OpenTelemetry
// metrics API: dashboards built for grpc-go and grpc-java work unchanged. Without an
// OpenTelemetry SDK (no meter provider registered, none given) nothing is recorded and the
// layers that record step aside: the cost per call is nil. With an aggregation bound to the
// provider (servePrometheus), measurements are aggregated here and collected by its reader.
import { createNoopMeter, metrics, type Attributes, type Meter, type MeterProvider } from '@opentelemetry/api';
import type { CounterSeries, HistogramSeries, InstrumentDescription, MetricAggregation } from './aggregation.js';
import { statusName } from '../call/status.js';

/** A66's buckets for latencies, in seconds (0 to 100 s). */
export const LATENCY_BUCKETS_S = Object.freeze([
  0, 0.00001, 0.00005, 0.0001, 0.0003, 0.0006, 0.0008, 0.001, 0.002, 0.003, 0.004, 0.005, 0.006, 0.008, 0.01, 0.013, 0.016, 0.02, 0.025,
  0.03, 0.04, 0.05, 0.065, 0.08, 0.1, 0.13, 0.16, 0.2, 0.25, 0.3, 0.4, 0.5, 0.65, 0.8, 1, 2, 5, 10, 20, 50, 100,
]);

/** A96's buckets for retries and hedges per call. */
const COUNT_BUCKETS = Object.freeze([1, 2, 3, 4, 5]);

/** Where a layer's measurements go: series made once per label set, then one call per measurement. */
export interface Recorder {
  /** For asynchronous instruments (gauges read at collection). */
  readonly meter: Meter;
  counter(description: InstrumentDescription): (attributes: Attributes) => CounterSeries;
  histogram(description: InstrumentDescription): (attributes: Attributes) => HistogramSeries;
}

const METER_NAME = 'grpc-meshlite';
const AGGREGATIONS = new WeakMap<MeterProvider, MetricAggregation>();

/**
 * Makes every recorder of `provider` aggregate into `aggregation`, which a reader of that
 * provider collects through a metric producer (`servePrometheus` does both).
 */
export function aggregateInto(provider: MeterProvider, aggregation: MetricAggregation): void {
  AGGREGATIONS.set(provider, aggregation);
}

/**
 * The recorder for `provider` (default: the global one): aggregated in the process when the
 * provider has an aggregation, else through the API's synchronous instruments (any SDK).
 * Undefined when the provider is OpenTelemetry's no-op: nothing would record.
 */
export function recorderFor(provider?: MeterProvider): Recorder | undefined {
  const resolved = provider ?? metrics.getMeterProvider();
  const meter = resolved.getMeter(METER_NAME);
  if (meter === createNoopMeter()) return undefined;
  const aggregation = AGGREGATIONS.get(resolved);
  if (aggregation) return { meter, counter: (d) => aggregation.counter(d), histogram: (d) => aggregation.histogram(d) };
  return {
    meter,
    counter: ({ name, unit, description }) => {
      const counter = meter.createCounter(name, { unit, description });
      return (attributes) => ({ add: (value) => counter.add(value, attributes) });
    },
    histogram: ({ name, unit, description, boundaries }) => {
      const histogram = meter.createHistogram(name, {
        unit,
        description,
        ...(boundaries && { advice: { explicitBucketBoundaries: [...boundaries] } }),
      });
      return (attributes) => ({ record: (value) => histogram.record(value, attributes) });
    },
  };
}

const latency = (name: string, description: string): InstrumentDescription => ({
  name,
  unit: 's',
  description,
  boundaries: LATENCY_BUCKETS_S,
});

/** The instruments of gRPC's proposals and the mesh's own, described once. */
export const INSTRUMENTS = Object.freeze({
  attemptStarted: { name: 'grpc.client.attempt.started', unit: '{attempt}', description: 'Number of client call attempts started.' },
  attemptDuration: latency('grpc.client.attempt.duration', 'End-to-end time taken to complete a client call attempt.'),
  callDuration: latency('grpc.client.call.duration', 'Time taken by gRPC to complete an RPC from the application\u2019s perspective.'),
  retries: {
    name: 'grpc.client.call.retries',
    unit: '{retry}',
    description: 'Number of retries during the client call. If there were no retries, 0 is not reported.',
    boundaries: COUNT_BUCKETS,
  },
  hedges: {
    name: 'grpc.client.call.hedges',
    unit: '{hedge}',
    description: 'Number of hedges during the client call. If there were no hedges, 0 is not reported.',
    boundaries: COUNT_BUCKETS,
  },
  retryDelay: latency('grpc.client.call.retry_delay', 'Total time of delay while there is no active attempt during the client call.'),
  serverCallStarted: { name: 'grpc.server.call.started', unit: '{call}', description: 'Number of server calls started.' },
  serverCallDuration: latency(
    'grpc.server.call.duration',
    'End-to-end time taken to complete a call from server transport\u2019s perspective.',
  ),
  endpointAttempts: {
    name: 'meshlite.endpoint.attempts',
    unit: '{attempt}',
    description: 'Attempts each endpoint of a mesh service took, by the status they ended with.',
  },
  endpointAttemptDuration: latency('meshlite.endpoint.attempt.duration', 'Time each attempt took, by the endpoint it went to.'),
  routePicks: {
    name: 'meshlite.route.picks',
    unit: '{pick}',
    description:
      'Attempts each route sent, by destination subset ("" for the whole service) and whether the subset had no usable endpoint (fallback).',
  },
} satisfies Record<string, InstrumentDescription>);

/**
 * The series of one label set with A66's `grpc.status` added per code, each made on its first
 * measurement: recording costs an array read, and a code never seen has no series.
 */
export function perStatus<S>(make: (attributes: Attributes) => S, base: Attributes): (code: number) => S {
  const byCode: S[] = [];
  return (code) => (byCode[code] ??= make({ ...base, 'grpc.status': statusName(code) }));
}

/** A series made on its first measurement (A96: a call without retries reports no 0). */
export function onFirstUse<S>(make: (attributes: Attributes) => S, attributes: Attributes): () => S {
  let series: S | undefined;
  return () => (series ??= make(attributes));
}

/** What the mesh's state instruments read, each time a reader collects. */
export interface MeshStateSource {
  snapshot(): ReadonlyArray<{
    readonly service: string;
    readonly failovers: number;
    readonly tiers: ReadonlyArray<{ readonly priority: number; readonly load: number; readonly panic: boolean }>;
    readonly endpoints: ReadonlyArray<{
      readonly name: string;
      readonly address: string;
      readonly priority: number;
      readonly weight: number;
      readonly effectiveWeight: number;
      readonly usable: boolean;
      readonly serving: boolean;
      readonly ejection: string;
      readonly ejections: number;
      readonly inFlight: number;
      readonly status: string;
    }>;
  }>;
  /** Breaker states and openings, retry budget balances and refusals of the mesh's clients. */
  clients(): ReadonlyArray<{
    readonly breakers: Readonly<Record<string, { readonly state: string; readonly opened: number }>>;
    readonly budget: { readonly available: number; readonly refused: number } | null;
  }>;
}

const BREAKER_STATES: Record<string, number> = { closed: 0, 'half-open': 1, halfOpen: 1, open: 2 };

/**
 * The mesh's state, read from its snapshots when a reader collects (nothing is computed per
 * call): per endpoint in rotation, serving (connected and healthy), ejected, effective weight,
 * ejections; per service and tier the share of traffic and panic mode, tier failovers; per
 * client breaker state and openings, retry budget balance and refusals.
 */
export function observeMeshState(recorder: Recorder | undefined, source: MeshStateSource): (() => void) | undefined {
  if (!recorder) return undefined;
  const { meter } = recorder;
  const inRotation = meter.createObservableGauge('meshlite.endpoint.in_rotation', {
    description: '1 when the endpoint takes regular calls, else 0.',
  });
  const serving = meter.createObservableGauge('meshlite.endpoint.serving', {
    description: '1 when connected and passing its health check, else 0.',
  });
  const ejected = meter.createObservableGauge('meshlite.endpoint.ejected', {
    description: '1 when ejected (or probing) for failures, else 0.',
  });
  const weight = meter.createObservableGauge('meshlite.endpoint.effective_weight', {
    description: 'Weight in use now (slow start lowers it).',
  });
  const inFlight = meter.createObservableGauge('meshlite.endpoint.in_flight', {
    unit: '{call}',
    description: 'Calls sent to the endpoint that have not ended yet.',
  });
  const ejections = meter.createObservableCounter('meshlite.endpoint.ejections', {
    unit: '{ejection}',
    description: 'Times the endpoint (or one of its methods) was ejected for failures.',
  });
  const tierLoad = meter.createObservableGauge('meshlite.service.tier.load', {
    unit: '%',
    description: 'Share of the service\u2019s traffic a priority tier takes.',
  });
  const panic = meter.createObservableGauge('meshlite.service.tier.panic', {
    description: '1 when the tier is in panic mode (spreads over every connected endpoint), else 0.',
  });
  const failovers = meter.createObservableCounter('meshlite.service.failovers', {
    unit: '{failover}',
    description: 'Times traffic moved to another priority tier (or to none).',
  });
  const breaker = meter.createObservableGauge('meshlite.client.breaker.state', { description: '0 closed, 1 half-open, 2 open.' });
  const opened = meter.createObservableCounter('meshlite.client.breaker.opened', {
    unit: '{transition}',
    description: 'Times the breaker opened.',
  });
  const budget = meter.createObservableGauge('meshlite.client.retry_budget.available', {
    unit: '{retry}',
    description: 'Retries the budget would grant now.',
  });
  const refused = meter.createObservableCounter('meshlite.client.retry_budget.refused', {
    unit: '{retry}',
    description: 'Retries and hedges the budget refused.',
  });
  const observables = [
    inRotation,
    serving,
    ejected,
    weight,
    inFlight,
    ejections,
    tierLoad,
    panic,
    failovers,
    breaker,
    opened,
    budget,
    refused,
  ];
  const callback = (result: { observe(observable: (typeof observables)[number], value: number, attributes?: Attributes): void }) => {
    // Several channels may balance one service: their counts add up, their states are each channel's.
    const failoversByService = new Map<string, number>();
    for (const balancer of source.snapshot()) {
      const service = { 'meshlite.service': balancer.service };
      failoversByService.set(balancer.service, (failoversByService.get(balancer.service) ?? 0) + balancer.failovers);
      for (const tier of balancer.tiers) {
        const attributes = { ...service, 'meshlite.priority': tier.priority };
        result.observe(tierLoad, tier.load, attributes);
        result.observe(panic, tier.panic ? 1 : 0, attributes);
      }
      for (const endpoint of balancer.endpoints) {
        const attributes = {
          ...service,
          'meshlite.endpoint': endpoint.name,
          'meshlite.address': endpoint.address,
          'meshlite.priority': endpoint.priority,
        };
        result.observe(inFlight, endpoint.inFlight, attributes);
        result.observe(inRotation, endpoint.usable ? 1 : 0, attributes);
        result.observe(serving, endpoint.serving ? 1 : 0, attributes);
        result.observe(ejected, endpoint.ejection === 'admitted' ? 0 : 1, attributes);
        result.observe(weight, endpoint.effectiveWeight, attributes);
        result.observe(ejections, endpoint.ejections, attributes);
      }
    }
    for (const [service, count] of failoversByService) result.observe(failovers, count, { 'meshlite.service': service });
    source.clients().forEach((client, index) => {
      for (const [key, snapshot] of Object.entries(client.breakers)) {
        const attributes = { 'meshlite.client': String(index), 'meshlite.breaker': key };
        result.observe(breaker, BREAKER_STATES[snapshot.state] ?? -1, attributes);
        result.observe(opened, snapshot.opened, attributes);
      }
      if (client.budget) {
        result.observe(budget, client.budget.available, { 'meshlite.client': String(index) });
        result.observe(refused, client.budget.refused, { 'meshlite.client': String(index) });
      }
    });
  };
  meter.addBatchObservableCallback(callback, observables);
  return () => meter.removeBatchObservableCallback(callback, observables);
}
