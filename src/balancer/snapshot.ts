import type { HealthStatus } from '../health/health-checker.js';

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
  readonly picks: number;
  readonly lastError: string | undefined;
}

export interface BalancerSnapshot {
  readonly service: string;
  /** READY, CONNECTING or TRANSIENT_FAILURE, as reported to the channel. */
  readonly state: string;
  /** Share of traffic per priority tier, 0–100. */
  readonly tiers: ReadonlyArray<{ readonly priority: number; readonly load: number }>;
  readonly endpoints: readonly EndpointSnapshot[];
}
