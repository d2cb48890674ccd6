import type { HealthStatus } from '../health/health-checker.js';

/**
 * An endpoint's state in one word, most telling first:
 * - `in-rotation`: takes its full share; `slow-start`: back in rotation, share still ramping;
 * - `ejected`: out after failed calls, until its ejection time is up; `probing`: its single
 *   probe call decides whether it comes back;
 * - `disconnected`: no connection, whatever its ejection (a backend ejected before it died is
 *   down, not probing); `starting`: connected, waiting for the first health answer;
 * - `not-serving`: its health says NOT_SERVING; `health-failing`: the health stream broke or a
 *   probe got no answer;
 * - `drained`: weight 0 in the config;
 * - `leaving`: removed from the config (or its discovery source) while none of the endpoints
 *   that replace it was usable yet: it serves until one is.
 */
export type EndpointStatus =
  | 'in-rotation'
  | 'slow-start'
  | 'ejected'
  | 'probing'
  | 'disconnected'
  | 'starting'
  | 'not-serving'
  | 'health-failing'
  | 'drained'
  | 'leaving';

export interface EndpointSnapshot {
  readonly name: string;
  readonly address: string;
  readonly weight: number;
  /** Weight in use now (lower during slow start, 0 when not usable). */
  readonly effectiveWeight: number;
  readonly priority: number;
  /** grpc connectivity of the endpoint's connection: IDLE, CONNECTING, READY, TRANSIENT_FAILURE. */
  readonly connectivity: string;
  readonly health: HealthStatus;
  readonly healthDetail: string;
  readonly ejection: 'admitted' | 'ejected' | 'probing';
  readonly ejectionReason: string | undefined;
  readonly ejectedUntil: number | undefined;
  readonly usable: boolean;
  /** Connected and passing its health check, whatever its ejection state. */
  readonly serving: boolean;
  readonly status: EndpointStatus;
  readonly picks: number;
  /** Times ejected (whole endpoint or one method) since it was added. */
  readonly ejections: number;
  /** Times its health check failed (a probe unanswered or failed, the Watch broken) since it was added. */
  readonly healthFailures: number;
  /** Calls sent to it that have not ended yet. */
  readonly inFlight: number;
  /** Its calls' round-trip time, peak-EWMA, ms (what the p2c_ewma policy weighs). */
  readonly latencyMs: number;
  readonly lastError: string | undefined;
  /** Methods ejected here alone (the endpoint serves the others), with why and until when. */
  readonly methods: ReadonlyArray<{
    readonly method: string;
    readonly ejection: 'ejected' | 'probing';
    readonly reason: string;
    readonly ejectedUntil: number | undefined;
  }>;
}

/** One route of the service: its destinations' configured and actual shares. */
export interface RouteSnapshot {
  readonly name: string;
  readonly fallback: 'any' | 'none';
  /** The route's picks (attempts) through this balancer since its config version was applied. */
  readonly picks: number;
  readonly destinations: ReadonlyArray<{
    readonly subset: string;
    readonly weight: number;
    /** Its share by weight, 0–100. */
    readonly configuredShare: number;
    /** Its share of the route's last 1,000 picks, 0–100; undefined before the first. */
    readonly actualShare: number | undefined;
    /** Picks for it while it had no usable endpoint: served by the whole service (fallback "any") or failed ("none"). */
    readonly fallbacks: number;
  }>;
}

/** One subset of the service: the endpoints its selector picks out, and whether it can take calls. */
export interface SubsetSnapshot {
  readonly name: string;
  readonly selector: Readonly<Record<string, string>>;
  /** Names of the endpoints it selects. */
  readonly endpoints: readonly string[];
  /** `serving`: an endpoint of it is usable; `waiting`: none yet, one is on its way (calls wait); `unusable`: none (routes fall back). */
  readonly state: 'serving' | 'waiting' | 'unusable';
  /** Share of its calls per priority tier, as the service's `tiers`. */
  readonly tiers: ReadonlyArray<TierSnapshot>;
}

/** A priority tier's share of the calls. */
export interface TierSnapshot {
  readonly priority: number;
  /** 0–100. */
  readonly load: number;
  readonly panic: boolean;
  /** With zone-aware routing in force in the tier: the share of its calls kept in the client's zone, 0–100. */
  readonly localZone?: number;
}

export interface BalancerSnapshot {
  readonly service: string;
  /** READY, CONNECTING or TRANSIENT_FAILURE, as reported to the channel. */
  readonly state: string;
  /** Share of traffic per priority tier, 0–100. */
  readonly tiers: readonly TierSnapshot[];
  /** Times traffic moved to another tier (or to none) since the balancer started. */
  readonly failovers: number;
  /**
   * Times the picker was rebuilt since the balancer started: once per change that can move
   * traffic (membership, connectivity, health verdicts, ejections, slow-start steps), each
   * O(endpoints). Climbing steadily while nothing changes is churn worth a look.
   */
  readonly pickerBuilds: number;
  /** Calls failed at once because no endpoint was usable (or there was none), waitForReady calls aside. */
  readonly unavailable: number;
  readonly endpoints: readonly EndpointSnapshot[];
  /** The client's zone (`createMesh({ zone })`) that zone-aware routing keeps calls in; undefined: none. */
  readonly zone: string | undefined;
  /** The service's subsets (none without `subsets` in its config). */
  readonly subsets: readonly SubsetSnapshot[];
  /** The service's routes, in order (none without `routes`). */
  readonly routes: readonly RouteSnapshot[];
}
