import type { status as Status } from '@grpc/grpc-js';
import type { Clock } from '../clock.js';
import { EjectionTracker, type EjectionChange, type EjectionSettings } from './ejection.js';

/** How many methods one endpoint tracks; calls of further methods count for the endpoint only. */
export const MAX_TRACKED_METHODS = 100;

/** The endpoint whose methods are judged (its controller: one object, no callbacks per endpoint). */
export interface MethodEjectionOwner {
  /** The endpoint-level outcome of the same call (its probe, or not): every call counts there too. */
  endpointOutcome(code: Status, probe: boolean): void;
  /** Whether the endpoint itself takes traffic; while it is ejected, its methods are not judged. */
  readonly endpointAdmitted: boolean;
  /** Whether this method may be taken off this endpoint (another endpoint serves it). */
  mayEjectMethod(method: string): boolean;
  /** The method's ejection state here changed. */
  methodChanged(method: string, change: EjectionChange): void;
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
  /** Made with the first method tracked (never while ejection is off). */
  #trackers: Map<string, EjectionTracker> | undefined;

  constructor(settings: EjectionSettings, clock: Clock, owner: MethodEjectionOwner) {
    this.#settings = settings;
    this.#clock = clock;
    this.#owner = owner;
  }

  /**
   * Whether `method`'s outcomes are judged here (made on its first call: nothing is allocated
   * per call); false when method ejection is off or MAX_TRACKED_METHODS are tracked already.
   */
  tracks(method: string): boolean {
    if (this.#trackers?.has(method)) return true;
    if (!this.#settings.enabled || (this.#trackers?.size ?? 0) >= MAX_TRACKED_METHODS) return false;
    const tracker = new EjectionTracker(this.#settings, this.#clock, () => this.#owner.mayEjectMethod(method));
    (this.#trackers ??= new Map()).set(method, tracker);
    return true;
  }

  /**
   * A call of a tracked method ended: it counts for the endpoint, and for the method while the
   * endpoint is admitted. `probe`: the call was the endpoint's probe, or the method's.
   */
  ended(method: string, code: Status, probe: 'endpoint' | 'method' | undefined): void {
    const tracker = this.#trackers?.get(method);
    this.#owner.endpointOutcome(code, probe === 'endpoint');
    if (tracker === undefined) return;
    let change: EjectionChange | undefined;
    if (probe === 'method') change = tracker.recordProbe(code);
    else if (this.#owner.endpointAdmitted) change = tracker.record(code);
    if (change) this.#owner.methodChanged(method, change);
  }

  /** The whole endpoint was ejected: that verdict covers its methods, which start afresh after it. */
  resetAll(): void {
    if (this.#trackers) for (const tracker of this.#trackers.values()) tracker.reset();
  }

  /** True while `method` is out of rotation here (ejected, or waiting for its probe). */
  excluded(method: string): boolean {
    const tracker = this.#trackers?.get(method);
    return tracker !== undefined && !tracker.admitted;
  }

  /** Claims the single probe of a method waiting for one. */
  claimProbe(method: string): boolean {
    return this.#trackers?.get(method)?.claimProbe() ?? false;
  }

  releaseProbe(method: string): void {
    this.#trackers?.get(method)?.releaseProbe();
  }

  /** Moves ejections whose time is up to probing; returns the methods that moved. */
  expire(): string[] {
    const moved: string[] = [];
    if (this.#trackers) for (const [method, tracker] of this.#trackers) if (tracker.expire()) moved.push(method);
    return moved;
  }

  /** Every method not admitted here, with its state. */
  *notAdmitted(): IterableIterator<[string, EjectionTracker['state']]> {
    if (this.#trackers) for (const [method, tracker] of this.#trackers) if (!tracker.admitted) yield [method, tracker.state];
  }

  /** The end of the soonest ejection, for the balancer's next rebuild (Infinity: none). */
  nextExpiry(): number {
    let next = Infinity;
    for (const tracker of this.#trackers?.values() ?? []) {
      const state = tracker.state;
      if (state.kind === 'ejected') next = Math.min(next, state.until);
    }
    return next;
  }
}
