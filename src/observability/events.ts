import { Signal, type Disposer } from './signal.js';

/** Everything that can happen to one endpoint, as the balancer sees it. */
export type EndpointEventKind =
  | 'added'
  | 'removed'
  | 'updated'
  | 'connected'
  | 'disconnected'
  | 'healthy'
  | 'unhealthy'
  | 'ejected'
  | 'probing'
  | 'readmitted';

export interface EndpointEvent {
  readonly service: string;
  readonly endpoint: string;
  readonly address: string;
  readonly kind: EndpointEventKind;
  /** Why, in words: "health Watch: NOT_SERVING", "5 consecutive failures (last: UNAVAILABLE)". */
  readonly reason: string;
}

/** Traffic moved to another priority tier (or to none). */
export interface FailoverEvent {
  readonly service: string;
  /** Lowest priority that took traffic before; undefined when none did. */
  readonly from: number | undefined;
  readonly to: number | undefined;
  readonly reason: string;
}

export interface ConfigEvent {
  /** Where the config came from, e.g. "file /etc/mesh.json". */
  readonly source: string;
  /** Set when the new config was rejected; the previous one keeps serving. */
  readonly error?: string;
}

/**
 * The mesh's typed events. Each `onX` returns a disposer; logs and metrics subscribe here
 * instead of being written into the logic.
 *
 * @example
 *   const dispose = events.onEndpoint((e) => console.log(e.endpoint, e.kind, e.reason));
 */
export class MeshEvents {
  readonly endpoint = new Signal<EndpointEvent>();
  readonly failover = new Signal<FailoverEvent>();
  readonly configApplied = new Signal<ConfigEvent>();
  readonly configRejected = new Signal<ConfigEvent>();

  onEndpoint(listener: (event: EndpointEvent) => void): Disposer {
    return this.endpoint.subscribe(listener);
  }

  onFailover(listener: (event: FailoverEvent) => void): Disposer {
    return this.failover.subscribe(listener);
  }

  onConfigApplied(listener: (event: ConfigEvent) => void): Disposer {
    return this.configApplied.subscribe(listener);
  }

  onConfigRejected(listener: (event: ConfigEvent) => void): Disposer {
    return this.configRejected.subscribe(listener);
  }
}
