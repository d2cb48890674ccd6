// Counters and histograms aggregated in the process, handed to an OpenTelemetry SDK reader as
// a metric producer at collection. Why: the SDK hashes a measurement's attributes on every
// record (about 1 µs for three labels); here a series is found once per label set and a
// measurement is an increment and a bucket search. The data has the SDK's own shape, so an
// exporter cannot tell it from instruments recorded through the API.
import type { Attributes } from '@opentelemetry/api';

export interface InstrumentDescription {
  readonly name: string;
  readonly unit: string;
  readonly description: string;
  /** A histogram's explicit bucket boundaries (upper bounds, inclusive, like the SDK's). */
  readonly boundaries?: readonly number[];
}

export interface CounterSeries {
  add(value: number): void;
}

export interface HistogramSeries {
  record(value: number): void;
}

/** An instrument read when a reader collects: a gauge, or a count kept elsewhere (cumulative). */
export interface ObservableDescription extends InstrumentDescription {
  readonly kind: 'gauge' | 'counter';
}

/** An observable gauge's description. */
export const observableGauge = (name: string, unit: string, description: string): ObservableDescription => ({
  kind: 'gauge',
  name,
  unit,
  description,
});

/** An observable counter's description (a count kept elsewhere, read cumulative). */
export const observableCounter = (name: string, unit: string, description: string): ObservableDescription => ({
  kind: 'counter',
  name,
  unit,
  description,
});

/** Gives one reading of an observable instrument, for one label set. */
export type Observe = (description: ObservableDescription, value: number, attributes: Attributes) => void;

/** One aggregated instrument's points, cumulative since the aggregation started. */
export type AggregatedMetric =
  | {
      /** A counter's cumulative sum. */
      readonly kind: 'sum';
      readonly description: InstrumentDescription;
      readonly points: ReadonlyArray<{ attributes: Attributes; value: number }>;
    }
  | {
      /** A reading taken at this collection. */
      readonly kind: 'gauge';
      readonly description: InstrumentDescription;
      readonly points: ReadonlyArray<{ attributes: Attributes; value: number }>;
    }
  | {
      readonly kind: 'histogram';
      readonly description: InstrumentDescription;
      readonly points: ReadonlyArray<{ attributes: Attributes; value: HistogramValue }>;
    };

export interface HistogramValue {
  readonly buckets: { readonly boundaries: number[]; readonly counts: number[] };
  readonly sum: number;
  readonly count: number;
  readonly min: number;
  readonly max: number;
}

class Sum implements CounterSeries {
  value = 0;
  add(value: number): void {
    this.value += value;
  }
}

class Buckets implements HistogramSeries {
  readonly counts: number[];
  sum = 0;
  count = 0;
  min = Infinity;
  max = -Infinity;
  constructor(readonly boundaries: readonly number[]) {
    this.counts = Array.from({ length: boundaries.length + 1 }, () => 0);
  }
  record(value: number): void {
    if (Number.isNaN(value)) return;
    this.count++;
    this.sum += value;
    if (value < this.min) this.min = value;
    if (value > this.max) this.max = value;
    // The first boundary >= value, as the SDK's binarySearchUB: a bucket's bound is inclusive.
    const boundaries = this.boundaries;
    let lo = 0;
    let hi = boundaries.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (boundaries[mid]! < value) lo = mid + 1;
      else hi = mid;
    }
    this.counts[lo]!++;
  }
}

/** An attribute set's identity regardless of key order (as the SDK hashes it); made once per series. */
function seriesKey(attributes: Attributes): string {
  return JSON.stringify(
    Object.keys(attributes)
      .sort()
      .map((key) => [key, attributes[key]]),
  );
}

interface Instrument<S> {
  readonly description: InstrumentDescription;
  /** Per label set: its state, and how many holders took it (see release). */
  readonly series: Map<string, { attributes: Attributes; state: S; holders: number }>;
}

/**
 * Instruments aggregated locally. `counter(d)(attributes)` and `histogram(d)(attributes)`
 * return the series to record into; callers keep it per label set. A series whose subject
 * went away (an endpoint that left) is dropped by `release`, and observable instruments are
 * read afresh at each collection: unlike the SDK's own instruments, which keep every label set
 * they ever saw (OpenTelemetry JS issue #4096), nothing here outlives what it describes.
 */
export class MetricAggregation {
  readonly #sums = new Map<string, Instrument<Sum>>();
  readonly #histograms = new Map<string, Instrument<Buckets>>();
  readonly #observers = new Set<(observe: Observe) => void>();

  counter(description: InstrumentDescription): (attributes: Attributes) => CounterSeries {
    const instrument = instrumentIn(this.#sums, description);
    return (attributes) => seriesOf(instrument, attributes, () => new Sum());
  }

  histogram(description: InstrumentDescription): (attributes: Attributes) => HistogramSeries {
    const instrument = instrumentIn(this.#histograms, description);
    const boundaries = description.boundaries ?? [];
    return (attributes) => seriesOf(instrument, attributes, () => new Buckets(boundaries));
  }

  /**
   * A holder of the series of `name` with `attributes` is done with it (its endpoint left): the
   * series goes when its last holder is (Prometheus sees it end; a counter that comes back
   * starts again at 0, which rate() reads as a reset).
   */
  release(name: string, attributes: Attributes): void {
    const key = seriesKey(attributes);
    for (const instruments of [this.#sums, this.#histograms] as Array<Map<string, Instrument<unknown>>>) {
      const series = instruments.get(name)?.series;
      const entry = series?.get(key);
      if (entry !== undefined && --entry.holders <= 0) series!.delete(key);
    }
  }

  /** Reads `callback`'s observations at each collection, until the returned disposer is called. */
  observe(callback: (observe: Observe) => void): () => void {
    this.#observers.add(callback);
    return () => this.#observers.delete(callback);
  }

  /** Every instrument with at least one series, its points copied (the series keep counting). */
  collect(): AggregatedMetric[] {
    const out: AggregatedMetric[] = this.#observed();
    for (const { description, series } of this.#sums.values()) {
      if (series.size === 0) continue;
      out.push({
        kind: 'sum',
        description,
        points: [...series.values()].map(({ attributes, state }) => ({ attributes, value: state.value })),
      });
    }
    for (const { description, series } of this.#histograms.values()) {
      if (series.size === 0) continue;
      const points = [...series.values()].map(({ attributes, state }) => ({
        attributes,
        value: {
          buckets: { boundaries: [...state.boundaries], counts: [...state.counts] },
          sum: state.sum,
          count: state.count,
          min: state.min,
          max: state.max,
        },
      }));
      out.push({ kind: 'histogram', description, points });
    }
    return out;
  }

  /** This collection's readings of the observable instruments, one point per label set (the last reading wins). */
  #observed(): AggregatedMetric[] {
    const byName = new Map<
      string,
      { description: ObservableDescription; points: Map<string, { attributes: Attributes; value: number }> }
    >();
    const observe: Observe = (description, value, attributes) => {
      let metric = byName.get(description.name);
      if (!metric) byName.set(description.name, (metric = { description, points: new Map() }));
      metric.points.set(seriesKey(attributes), { attributes, value });
    };
    for (const observer of this.#observers) observer(observe);
    return [...byName.values()].map(({ description, points }) => ({
      kind: description.kind === 'gauge' ? ('gauge' as const) : ('sum' as const),
      description,
      points: [...points.values()],
    }));
  }
}

function instrumentIn<S>(instruments: Map<string, Instrument<S>>, description: InstrumentDescription): Instrument<S> {
  let instrument = instruments.get(description.name);
  if (!instrument) instruments.set(description.name, (instrument = { description, series: new Map() }));
  return instrument;
}

function seriesOf<S>(instrument: Instrument<S>, attributes: Attributes, create: () => S): S {
  const key = seriesKey(attributes);
  let entry = instrument.series.get(key);
  if (!entry) instrument.series.set(key, (entry = { attributes: { ...attributes }, state: create(), holders: 0 }));
  entry.holders++;
  return entry.state;
}
