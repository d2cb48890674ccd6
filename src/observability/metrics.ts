// gRPC's standard metrics (gRPC proposals A66 and A96), recorded through the OpenTelemetry
// metrics API: dashboards built for grpc-go and grpc-java work unchanged. Without an
// OpenTelemetry SDK (no meter provider registered, none given) nothing is recorded and the
// layers that record step aside: the cost per call is nil. With an aggregation bound to the
// provider (servePrometheus), measurements are aggregated here and collected by its reader.
import {
  createNoopMeter,
  metrics,
  type Attributes,
  type BatchObservableCallback,
  type Meter,
  type MeterProvider,
  type Observable,
} from '@opentelemetry/api';
import type {
  CounterSeries,
  HistogramSeries,
  InstrumentDescription,
  MetricAggregation,
  ObservableDescription,
  Observe,
} from './aggregation.js';
import { VERSION } from '../version.js';
import { statusName } from '../call/status.js';

/** A66's buckets for latencies, in seconds (0 to 100 s). */
export const LATENCY_BUCKETS_S = Object.freeze([
  0, 0.00001, 0.00005, 0.0001, 0.0003, 0.0006, 0.0008, 0.001, 0.002, 0.003, 0.004, 0.005, 0.006, 0.008, 0.01, 0.013, 0.016, 0.02, 0.025,
  0.03, 0.04, 0.05, 0.065, 0.08, 0.1, 0.13, 0.16, 0.2, 0.25, 0.3, 0.4, 0.5, 0.65, 0.8, 1, 2, 5, 10, 20, 50, 100,
]);

/** A66's buckets for message sizes, in bytes (0 to 4 GiB). */
export const SIZE_BUCKETS_BYTES = Object.freeze([
  0, 1024, 2048, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864, 268435456, 1073741824, 4294967296,
]);

/** A96's buckets for retries and hedges per call. */
const COUNT_BUCKETS = Object.freeze([1, 2, 3, 4, 5]);

/** Where a layer's measurements go: series made once per label set, then one call per measurement. */
export interface Recorder {
  /** For asynchronous instruments (gauges read at collection). */
  readonly meter: Meter;
  counter(description: InstrumentDescription): (attributes: Attributes) => CounterSeries;
  histogram(description: InstrumentDescription): (attributes: Attributes) => HistogramSeries;
  /**
   * Reads `callback`'s observations of `instruments` (gauges, counts kept elsewhere) each time
   * a reader collects; returns the disposer. Aggregated, a label set not observed any more is
   * gone from the next collection; through the SDK's own observable instruments it stays.
   */
  observe(instruments: readonly ObservableDescription[], callback: (observe: Observe) => void): () => void;
  /**
   * Drops a series a holder took with `counter` or `histogram` when its subject went away (an
   * endpoint that left). Aggregated only: the SDK's synchronous instruments keep every series.
   */
  release(description: InstrumentDescription, attributes: Attributes): void;
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
  const meter = resolved.getMeter(METER_NAME, VERSION);
  if (meter === createNoopMeter()) return undefined;
  const aggregation = AGGREGATIONS.get(resolved);
  if (aggregation) {
    return {
      meter,
      counter: (d) => aggregation.counter(d),
      histogram: (d) => aggregation.histogram(d),
      observe: (_instruments, callback) => aggregation.observe(callback),
      release: (d, attributes) => aggregation.release(d.name, attributes),
    };
  }
  return {
    meter,
    observe: (instruments, callback) => observeThroughSdk(meter, instruments, callback),
    release: () => {},
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

/** Observable instruments through the SDK's own: one per description, read in one batch callback. */
function observeThroughSdk(meter: Meter, instruments: readonly ObservableDescription[], callback: (observe: Observe) => void): () => void {
  const byName = new Map(
    instruments.map((d) => {
      const options = { unit: d.unit, description: d.description };
      const observable: Observable =
        d.kind === 'gauge' ? meter.createObservableGauge(d.name, options) : meter.createObservableCounter(d.name, options);
      return [d.name, observable] as const;
    }),
  );
  const observables = [...byName.values()];
  const batch: BatchObservableCallback = (result) =>
    callback((description, value, attributes) => result.observe(byName.get(description.name)!, value, attributes));
  meter.addBatchObservableCallback(batch, observables);
  return () => meter.removeBatchObservableCallback(batch, observables);
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
  attemptSentSize: {
    name: 'grpc.client.attempt.sent_total_compressed_message_size',
    unit: 'By',
    description: 'Compressed message bytes sent per client call attempt.',
    boundaries: SIZE_BUCKETS_BYTES,
  },
  attemptRcvdSize: {
    name: 'grpc.client.attempt.rcvd_total_compressed_message_size',
    unit: 'By',
    description: 'Compressed message bytes received per call attempt.',
    boundaries: SIZE_BUCKETS_BYTES,
  },
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
  connectionsSucceeded: {
    name: 'grpc.subchannel.connection_attempts_succeeded',
    unit: '{attempt}',
    description: 'Number of successful connection attempts.',
  },
  connectionsFailed: {
    name: 'grpc.subchannel.connection_attempts_failed',
    unit: '{attempt}',
    description: 'Number of failed connection attempts.',
  },
  disconnections: {
    name: 'grpc.subchannel.disconnections',
    unit: '{disconnection}',
    description: 'Number of times the selected subchannel becomes disconnected.',
  },
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
