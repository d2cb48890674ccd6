import type { HealthStatus } from '../health/health-checker.js';

/**
 * An endpoint's state in one word, most telling first:
 * - `in-rotation`: takes its full share; `slow-start`: back in rotation, share still ramping;
 * - `ejected`: out after failed calls, until its ejection time is up; `probing`: its single
 *   probe call decides whether it comes back;
 * - `disconnected`: no connection; `starting`: connected, waiting for the first health answer;
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

export interface BalancerSnapshot {
  readonly service: string;
  /** READY, CONNECTING or TRANSIENT_FAILURE, as reported to the channel. */
  readonly state: string;
  /** Share of traffic per priority tier, 0–100. */
  readonly tiers: ReadonlyArray<{ readonly priority: number; readonly load: number; readonly panic: boolean }>;
  /** Times traffic moved to another tier (or to none) since the balancer started. */
  readonly failovers: number;
  readonly endpoints: readonly EndpointSnapshot[];
}
