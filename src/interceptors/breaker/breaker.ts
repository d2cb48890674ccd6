// One circuit breaker, as the layer uses it: our small typed wrapper around opossum, so the
// rest of the code never sees opossum's untyped string events or its options object.
import CircuitBreaker from 'opossum';
import type { Clock } from '../../clock.js';

export type BreakerState = 'closed' | 'open' | 'half-open';

export interface BreakerSettings {
  readonly volumeThreshold: number;
  readonly errorThresholdPercentage: number;
  readonly rollingWindowMs: number;
  readonly rollingBuckets: number;
  readonly resetTimeoutMs: number;
}

/** What a breaker runs, and what it answers instead when it will not run it. */
export interface BreakerAction<A extends unknown[], T> {
  run(...args: A): Promise<T>;
  /** Outcomes that count against the dependency; everything else counts as a success. */
  isFailure(outcome: T): boolean;
  /** The answer while open (or half-open with its probe out). */
  refused(...args: A): T | Promise<T>;
}

/**
 * One breaker around an action. opossum's own timeout is off: the gRPC deadline is the only
 * clock on a call. Outcomes are values, never exceptions: a failure is counted, then handed
 * back as it came.
 */
export class Breaker<A extends unknown[], T> {
  readonly #breaker: CircuitBreaker<A, T>;
  readonly #action: BreakerAction<A, T>;
  readonly #clock: Clock;
  readonly #errorThresholdPercentage: number;
  readonly #onChange: (state: BreakerState, previous: BreakerState) => void;
  #state: BreakerState = 'closed';
  #openedAt = 0;
  #opened = 0;
  #refused = 0;

  constructor(
    name: string,
    settings: BreakerSettings,
    action: BreakerAction<A, T>,
    clock: Clock,
    onChange: (state: BreakerState, previous: BreakerState) => void,
  ) {
    this.#clock = clock;
    this.#onChange = onChange;
    this.#action = action;
    this.#errorThresholdPercentage = settings.errorThresholdPercentage;
    this.#breaker = new CircuitBreaker<A, T>(
      (...args: A) =>
        action.run(...args).then((outcome) => {
          if (action.isFailure(outcome)) throw new Failed(outcome);
          return outcome;
        }),
      {
        name,
        timeout: false,
        volumeThreshold: settings.volumeThreshold,
        errorThresholdPercentage: settings.errorThresholdPercentage,
        rollingCountTimeout: settings.rollingWindowMs,
        rollingCountBuckets: settings.rollingBuckets,
        resetTimeout: settings.resetTimeoutMs,
        // Latency percentiles would keep every call's latency in the window and sort them on
        // each failure; nothing here reads them.
        rollingPercentilesEnabled: false,
        // Nor are its per-bucket 'snapshot' events (a timer per breaker, a sum over the window each time).
        enableSnapshots: false,
        // Only outcomes that say the dependency is unhealthy count; a thrown error is not ours.
        errorFilter: (error: unknown) => !(error instanceof Failed),
      },
    );
    this.#breaker.on('open', () => this.#move('open'));
    this.#breaker.on('halfOpen', () => this.#move('half-open'));
    this.#breaker.on('close', () => this.#move('closed'));
  }

  get state(): BreakerState {
    return this.#state;
  }

  /** Times it opened. */
  get opened(): number {
    return this.#opened;
  }

  /** Calls refused since it was made (opossum's own count is a rolling window's). */
  get refused(): number {
    return this.#refused;
  }

  /** Epoch ms of the last opening. */
  get openedAt(): number {
    return this.#openedAt;
  }

  get stats(): { readonly successes: number; readonly failures: number; readonly rejects: number } {
    return this.#breaker.stats;
  }

  /** Runs the action through the breaker: its outcome, or the refusal when the breaker would not let it go. */
  fire(...args: A): Promise<T> {
    const breaker = this.#breaker;
    // Closed, a breaker only counts. opossum's fire would wrap each call in four promises, a
    // semaphore and a timer check; its own events (which feed its rolling window and close a
    // half-open breaker) and its opening rule below do the counting without them. Open and
    // half-open breakers go through fire, which refuses or lets the one probe go.
    if (breaker.closed && breaker.enabled && !breaker.isShutdown) {
      breaker.emit('fire', args);
      let running: Promise<T>;
      try {
        running = this.#action.run(...args);
      } catch (error) {
        // A layer that throws at once fails its call like one that rejects (fire does the same),
        // with what it threw, as it is.
        // oxlint-disable-next-line typescript/prefer-promise-reject-errors
        running = Promise.reject(error);
      }
      return Promise.resolve(running).then((outcome) => {
        let failed: boolean;
        try {
          failed = this.#action.isFailure(outcome);
        } catch (error) {
          return this.#thrown(error);
        }
        this.#count(failed, args, outcome);
        return outcome;
      }, this.#thrown);
    }
    return breaker.fire(...args).catch((error: unknown) => {
      if (error instanceof Failed) return error.outcome as T;
      if (error instanceof Error && CircuitBreaker.isOurError(error)) {
        this.#refused++;
        return this.#action.refused(...args);
      }
      // What the action threw is not the breaker's doing.
      throw error;
    });
  }

  /**
   * fire's callback form while the breaker is closed: `start(input, counted)` runs the action, handing its
   * outcome to the callback it is given, which counts the outcome as fire does and passes it
   * to `done` (as fire does, an outcome it cannot judge fails the call: `unjudged`). Returns
   * false, doing nothing, when the breaker is not closed: the call then goes
   * through fire, which refuses it or lets the one probe go.
   */
  sendClosed<I>(
    args: A,
    start: (input: I, counted: (outcome: T) => void) => void,
    input: I,
    done: (outcome: T) => void,
    /** The outcome of a call whose outcome could not be judged (isFailure threw). */
    unjudged: (error: unknown) => T,
  ): boolean {
    if (!this.admitClosed(args)) return false;
    try {
      start(input, (outcome) => done(this.countClosed(args, outcome, unjudged)));
    } catch (error) {
      this.thrownClosed(error);
      throw error;
    }
    return true;
  }

  /**
   * sendClosed in three steps, for a maker of calls that runs the breaker itself: whether the
   * breaker is closed, the call then counted as fired; if so, the call's outcome goes to
   * countClosed, or what the action threw at once to thrownClosed.
   */
  admitClosed(args: A): boolean {
    const breaker = this.#breaker;
    if (!breaker.closed || !breaker.enabled || breaker.isShutdown) return false;
    breaker.emit('fire', args);
    return true;
  }

  /** Counts a call's outcome as fire does; returns the outcome to hand on (`unjudged`'s when isFailure threw). */
  countClosed(args: A, outcome: T, unjudged: (error: unknown) => T): T {
    let failed: boolean;
    try {
      failed = this.#action.isFailure(outcome);
    } catch (error) {
      // An outcome it cannot judge is not the dependency's doing, and fails the call as fire does.
      this.#breaker.emit('success', error, 0);
      return unjudged(error);
    }
    this.#count(failed, args, outcome);
    return outcome;
  }

  /** What the action threw at once is not the dependency's doing either (fire's #thrown). */
  thrownClosed(error: unknown): void {
    this.#breaker.emit('success', error, 0);
  }

  /** Closes it now, whatever its state. */
  close(): void {
    this.#breaker.close();
  }

  /** Stops its window timers. */
  shutdown(): void {
    this.#breaker.shutdown();
  }

  /**
   * What the action threw — or an outcome it cannot judge — is not the dependency's doing: a
   * success, then the rejection (errorFilter, as fire does).
   */
  readonly #thrown = (error: unknown): never => {
    this.#breaker.emit('success', error, 0);
    throw error;
  };

  /** An outcome counted as opossum's fire counts it, opening the breaker by the same rule (lib/circuit.js fail()). */
  #count(failed: boolean, args: A, outcome: T): void {
    const breaker = this.#breaker;
    if (!failed) {
      breaker.emit('success', outcome, 0);
      return;
    }
    breaker.emit('failure', outcome, 0, args);
    if (breaker.warmUp) return;
    const { fires, failures } = breaker.stats;
    if (fires < breaker.volumeThreshold && !breaker.halfOpen) return;
    if ((failures / fires) * 100 > this.#errorThresholdPercentage || breaker.halfOpen) breaker.open();
  }

  #move(state: BreakerState): void {
    const previous = this.#state;
    this.#state = state;
    if (state === 'open') {
      this.#openedAt = this.#clock.now();
      if (previous !== 'open') this.#opened++;
    }
    if (previous !== state) this.#onChange(state, previous);
  }
}

/** A counted failure travels through opossum as this rejection and comes out as itself again. */
class Failed extends Error {
  constructor(readonly outcome: unknown) {
    super('counted as a failure');
  }
}
