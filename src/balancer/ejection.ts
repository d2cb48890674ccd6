import { status as Status } from '@grpc/grpc-js';
import type { Clock } from '../clock.js';
import { statusName } from '../call/status.js';

export interface EjectionSettings {
  readonly enabled: boolean;
  readonly consecutiveFailures: number;
  readonly baseEjectionMs: number;
  readonly maxEjectionMs: number;
  readonly failureCodes: readonly number[];
}

/** Where an endpoint stands with passive ejection; each state carries only its own data. */
export type EjectionState =
  | { readonly kind: 'admitted'; readonly consecutiveFailures: number; readonly lastFailure?: string }
  | { readonly kind: 'ejected'; readonly until: number; readonly reason: string }
  | { readonly kind: 'probing'; readonly probeInFlight: boolean; readonly reason: string };

export type EjectionChange =
  | { readonly kind: 'ejected'; readonly reason: string; readonly forMs: number }
  | { readonly kind: 'probing' }
  | { readonly kind: 'readmitted'; readonly reason: string };

/** One set per settings' list, shared by every endpoint's (and method's) tracker. */
const codeSets = new WeakMap<readonly number[], ReadonlySet<number>>();

function codeSet(codes: readonly number[]): ReadonlySet<number> {
  let set = codeSets.get(codes);
  if (set === undefined) codeSets.set(codes, (set = new Set(codes)));
  return set;
}

/**
 * Passive ejection from call results, for one endpoint. `consecutiveFailures` failures in a
 * row eject it for base·2^(n−1) (capped), n counting recent ejections; when the time is up
 * one real call probes it: success re-admits it, failure ejects it again for longer.
 * Unlike gRPC's outlier detection (success-rate needs five hosts) this works with two.
 * The caller decides whether an ejection is allowed (the last usable endpoint never is).
 */
export class EjectionTracker {
  readonly #settings: EjectionSettings;
  readonly #clock: Clock;
  readonly #failureCodes: ReadonlySet<number>;
  #state: EjectionState = { kind: 'admitted', consecutiveFailures: 0 };
  /** Recent ejections, for the growing penalty; forgotten after maxEjectionMs admitted. */
  #ejections = 0;
  #admittedAt = 0;
  /** Whether an ejection is allowed now, unless record() is told otherwise: made once, not per call. */
  readonly #mayEject: () => boolean;

  constructor(settings: EjectionSettings, clock: Clock, mayEject: () => boolean = () => true) {
    this.#settings = settings;
    this.#clock = clock;
    this.#mayEject = mayEject;
    this.#failureCodes = codeSet(settings.failureCodes);
  }

  get state(): EjectionState {
    return this.#state;
  }

  /** True while the endpoint takes regular traffic. */
  get admitted(): boolean {
    return this.#state.kind === 'admitted';
  }

  /**
   * Feeds one finished regular call. CANCELLED is neutral (a hedge that lost says nothing
   * about the endpoint); results that arrive while ejected or probing come from calls sent
   * earlier and are ignored. Returns the change it caused, if any. `mayEject` (default: the
   * tracker's own) is asked only when the failures reach the threshold.
   */
  record(code: Status, mayEject: () => boolean = this.#mayEject): EjectionChange | undefined {
    const state = this.#state;
    if (!this.#settings.enabled || code === Status.CANCELLED || state.kind !== 'admitted') return undefined;
    if (!this.#failureCodes.has(code)) {
      if (state.consecutiveFailures > 0) this.#state = { kind: 'admitted', consecutiveFailures: 0 };
      return undefined;
    }
    const consecutiveFailures = state.consecutiveFailures + 1;
    const lastFailure = statusName(code);
    this.#state = { kind: 'admitted', consecutiveFailures, lastFailure };
    if (consecutiveFailures < this.#settings.consecutiveFailures || !mayEject()) return undefined;
    return this.#eject(`${consecutiveFailures} consecutive failures (last: ${lastFailure})`, true);
  }

  /**
   * Feeds the result of the probe call: success re-admits, failure ejects again for longer,
   * and a cancelled probe (it lost a hedge race, or its caller gave up) lets the next call probe.
   */
  recordProbe(code: Status): EjectionChange | undefined {
    const state = this.#state;
    if (state.kind !== 'probing' || !state.probeInFlight) return undefined;
    if (code === Status.CANCELLED) {
      this.releaseProbe();
      return undefined;
    }
    if (!this.#failureCodes.has(code)) {
      this.#admit();
      return { kind: 'readmitted', reason: `probe call succeeded (${statusName(code)})` };
    }
    return this.#eject(`probe call failed with ${statusName(code)}`, false);
  }

  /**
   * Moves an ejection whose time is up to probing; `early` does so at once (an active health
   * check just passed, as Envoy's successful_active_health_check_uneject_host).
   */
  expire(early = false): EjectionChange | undefined {
    const state = this.#state;
    if (state.kind !== 'ejected' || (!early && this.#clock.now() < state.until)) return undefined;
    this.#state = { kind: 'probing', probeInFlight: false, reason: state.reason };
    return { kind: 'probing' };
  }

  /** Claims the single probe of a probing endpoint; false when it is taken or not probing. */
  claimProbe(): boolean {
    const state = this.#state;
    if (state.kind !== 'probing' || state.probeInFlight) return false;
    this.#state = { ...state, probeInFlight: true };
    return true;
  }

  /** Lets another probe go when the claimed one never reached the endpoint. */
  releaseProbe(): void {
    if (this.#state.kind === 'probing') this.#state = { ...this.#state, probeInFlight: false };
  }

  /** Re-admits at once (the endpoint was replaced or reconnected and proved healthy). */
  reset(): void {
    this.#admit();
  }

  #admit(): void {
    this.#state = { kind: 'admitted', consecutiveFailures: 0 };
    this.#admittedAt = this.#clock.now();
  }

  #eject(reason: string, wasAdmitted: boolean): EjectionChange {
    const now = this.#clock.now();
    // A long healthy stretch since the last re-admission forgets earlier ejections.
    if (wasAdmitted && now - this.#admittedAt > this.#settings.maxEjectionMs) this.#ejections = 0;
    const forMs = Math.min(this.#settings.maxEjectionMs, this.#settings.baseEjectionMs * 2 ** this.#ejections);
    this.#ejections++;
    this.#state = { kind: 'ejected', until: now + forMs, reason };
    return { kind: 'ejected', reason, forMs };
  }
}
