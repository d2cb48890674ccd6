import type { status as Status } from '@grpc/grpc-js';
import type { Clock } from '../clock.js';
import { EjectionTracker, type EjectionChange, type EjectionSettings } from './ejection.js';

/** How many methods one endpoint tracks; calls of further methods count for the endpoint only. */
export const MAX_TRACKED_METHODS = 100;

/** What the per-attempt outcome callbacks of one method at one endpoint feed. */
export interface MethodOutcomes {
  /** A regular call of the method ended. */
  readonly regular: (code: Status) => void;
  /** The endpoint's own probe call (after an endpoint ejection) ended. */
  readonly endpointProbe: (code: Status) => void;
  /** The method's probe call at this endpoint ended. */
  readonly methodProbe: (code: Status) => void;
}

export interface MethodEjectionOwner {
  /** The endpoint-level outcome of the same call: every call counts there too. */
  endpointOutcome(code: Status, probe: boolean): void;
  /** Whether the endpoint itself takes traffic; while it is ejected, its methods are not judged. */
  endpointAdmitted(): boolean;
  /** Whether this method may be taken off this endpoint (another endpoint serves it). */
  mayEject(method: string): boolean;
  /** The method's ejection state here changed. */
  changed(method: string, change: EjectionChange): void;
}

/**
 * Per-method passive ejection at one endpoint. A backend can fail one method while its health
 * says SERVING and its other methods work (a handler that hangs on one dependency); the
 * endpoint's own consecutive-failure count never reaches the threshold, because the other
 * methods' successes reset it. Here each method counts on its own, with the same settings
 * and the same single-probe re-admission as the endpoint's ejection, and an ejected method
 * goes to the other endpoints while this one keeps serving the rest.
 */
export class MethodEjections {
  readonly #settings: EjectionSettings;
  readonly #clock: Clock;
  readonly #owner: MethodEjectionOwner;
  readonly #trackers = new Map<string, EjectionTracker>();
  readonly #outcomes = new Map<string, MethodOutcomes>();

  constructor(settings: EjectionSettings, clock: Clock, owner: MethodEjectionOwner) {
    this.#settings = settings;
    this.#clock = clock;
    this.#owner = owner;
  }

  /** The outcome callbacks for `method` (made once per method: nothing is allocated per call). */
  outcomes(method: string): MethodOutcomes | undefined {
    let outcomes = this.#outcomes.get(method);
    if (outcomes || !this.#settings.enabled || this.#outcomes.size >= MAX_TRACKED_METHODS) return outcomes;
    const tracker = new EjectionTracker(this.#settings, this.#clock);
    this.#trackers.set(method, tracker);
    const settle = (change: EjectionChange | undefined) => change && this.#owner.changed(method, change);
    outcomes = {
      regular: (code) => {
        this.#owner.endpointOutcome(code, false);
        if (this.#owner.endpointAdmitted()) settle(tracker.record(code, () => this.#owner.mayEject(method)));
      },
      endpointProbe: (code) => {
        this.#owner.endpointOutcome(code, true);
        if (this.#owner.endpointAdmitted()) settle(tracker.record(code, () => this.#owner.mayEject(method)));
      },
      methodProbe: (code) => {
        this.#owner.endpointOutcome(code, false);
        settle(tracker.recordProbe(code));
      },
    };
    this.#outcomes.set(method, outcomes);
    return outcomes;
  }

  /** The whole endpoint was ejected: that verdict covers its methods, which start afresh after it. */
  resetAll(): void {
    for (const tracker of this.#trackers.values()) tracker.reset();
  }

  /** True while `method` is out of rotation here (ejected, or waiting for its probe). */
  excluded(method: string): boolean {
    const tracker = this.#trackers.get(method);
    return tracker !== undefined && !tracker.admitted;
  }

  /** Claims the single probe of a method waiting for one. */
  claimProbe(method: string): boolean {
    return this.#trackers.get(method)?.claimProbe() ?? false;
  }

  releaseProbe(method: string): void {
    this.#trackers.get(method)?.releaseProbe();
  }

  /** Moves ejections whose time is up to probing; returns the methods that moved. */
  expire(): string[] {
    const moved: string[] = [];
    for (const [method, tracker] of this.#trackers) if (tracker.expire()) moved.push(method);
    return moved;
  }

  /** Every method not admitted here, with its state. */
  *notAdmitted(): IterableIterator<[string, EjectionTracker['state']]> {
    for (const [method, tracker] of this.#trackers) if (!tracker.admitted) yield [method, tracker.state];
  }

  /** The end of the soonest ejection, for the balancer's next rebuild (Infinity: none). */
  nextExpiry(): number {
    let next = Infinity;
    for (const tracker of this.#trackers.values()) {
      const state = tracker.state;
      if (state.kind === 'ejected') next = Math.min(next, state.until);
    }
    return next;
  }
}
