import { Signal, type Disposer } from './signal.js';

/** Everything that can happen to one endpoint, as the balancer sees it. */
export type EndpointEventKind =
  'added' | 'removed' | 'updated' | 'connected' | 'disconnected' | 'healthy' | 'unhealthy' | 'ejected' | 'probing' | 'readmitted';

export interface EndpointEvent {
  readonly service: string;
  readonly endpoint: string;
  readonly address: string;
  readonly kind: EndpointEventKind;
  /** Why, in words: "health Watch: NOT_SERVING", "5 consecutive failures (last: UNAVAILABLE)". */
  readonly reason: string;
  /** Set when the event concerns one method at this endpoint only ("orders.v1.OrderService/GetOrder", as metrics and breakers name it). */
  readonly method?: string;
}

/**
 * An endpoint came (back) into service: it is connected and healthy again, or back in
 * rotation after an ejection. Whatever gave up on the service (an open breaker) may try again.
 */
export interface RecoveryEvent {
  readonly service: string;
  readonly endpoint: string;
  readonly address: string;
  /** What brought it back: "connected", "healthy", "readmitted", "updated". */
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

/**
 * A route's destination subset had no usable endpoint, or has one again: once per episode
 * and per route and subset, when the balancer sees it (not per call).
 * - `fallback`: the route's fallback is "any": its calls for the subset go to the whole service;
 * - `unavailable`: its fallback is "none": those calls fail with UNAVAILABLE;
 * - `recovered`: the subset serves the route's calls again (or the config no longer has them).
 */
export interface RoutingEvent {
  readonly service: string;
  readonly route: string;
  readonly subset: string;
  readonly kind: 'fallback' | 'unavailable' | 'recovered';
  /** Why, in words: "subset \"v2\" has no usable endpoint (v2-a (127.0.0.1:50052) unhealthy: …)". */
  readonly reason: string;
}

export interface ConfigEvent {
  /** What was reloaded: the mesh config itself, or a service's TLS files (a rotation). */
  readonly subject: 'mesh-config' | 'tls-files';
  /** Where it came from, e.g. "file /etc/mesh.json", "TLS files ca.pem, client.pem, client.key". */
  readonly source: string;
  /** The service whose TLS files these are. */
  readonly service?: string;
  /** Set when the new config was rejected; the previous one keeps serving. */
  readonly error?: string;
}

/**
 * What a discovery source (etcd) of a service did: listed its endpoints (`synced`, after a
 * start or a break), lost its backend (`unavailable`: the last endpoint set keeps serving),
 * or skipped a value it could not use (`skipped`: the rest keeps serving).
 */
export interface DiscoveryEvent {
  readonly service: string;
  /** "etcd 127.0.0.1:2379 prefix services/orders". */
  readonly source: string;
  readonly kind: 'synced' | 'unavailable' | 'skipped';
  readonly reason: string;
  /** Endpoints the source holds now. */
  readonly endpoints: number;
}

/** A circuit breaker of a mesh client changed state (opened: its calls fail fast). */
export interface BreakerEvent {
  readonly service: string;
  /** The breaker's key: by default the method it guards ("orders.v1.OrderService/GetOrder"). */
  readonly breaker: string;
  readonly state: 'closed' | 'open' | 'half-open';
  readonly previous: 'closed' | 'open' | 'half-open';
}

/** The emitting side of MeshEvents, held by the mesh's own components only. */
export interface MeshEventSink {
  endpoint(event: EndpointEvent): void;
  breaker(event: BreakerEvent): void;
  recovered(event: RecoveryEvent): void;
  failover(event: FailoverEvent): void;
  routing(event: RoutingEvent): void;
  configApplied(event: ConfigEvent): void;
  configRejected(event: ConfigEvent): void;
  discovery(event: DiscoveryEvent): void;
}

/**
 * The mesh's typed events. Each `onX` returns a disposer; logs and metrics subscribe here
 * instead of being written into the logic. Only the mesh emits them.
 *
 * @example
 *   const dispose = mesh.events.onEndpoint((e) => console.log(e.endpoint, e.kind, e.reason));
 */
export class MeshEvents {
  readonly #endpoint = new Signal<EndpointEvent>();
  readonly #recovered = new Signal<RecoveryEvent>();
  readonly #failover = new Signal<FailoverEvent>();
  readonly #routing = new Signal<RoutingEvent>();
  readonly #configApplied = new Signal<ConfigEvent>();
  readonly #configRejected = new Signal<ConfigEvent>();
  readonly #discovery = new Signal<DiscoveryEvent>();
  readonly #breaker = new Signal<BreakerEvent>();

  /** A new event stream and the one sink that feeds it. */
  static create(): { events: MeshEvents; sink: MeshEventSink } {
    const events = new MeshEvents();
    const sink: MeshEventSink = {
      endpoint: (event) => events.#endpoint.emit(event),
      recovered: (event) => events.#recovered.emit(event),
      failover: (event) => events.#failover.emit(event),
      routing: (event) => events.#routing.emit(event),
      configApplied: (event) => events.#configApplied.emit(event),
      configRejected: (event) => events.#configRejected.emit(event),
      discovery: (event) => events.#discovery.emit(event),
      breaker: (event) => events.#breaker.emit(event),
    };
    return { events, sink };
  }

  onEndpoint(listener: (event: EndpointEvent) => void): Disposer {
    return this.#endpoint.subscribe(listener);
  }

  /** An endpoint of `service` (or of any service, without one) came back into rotation. */
  onRecovered(listener: (event: RecoveryEvent) => void, service?: string): Disposer {
    return this.#recovered.subscribe(service === undefined ? listener : (event) => event.service === service && listener(event));
  }

  /** A breaker of a mesh client opened, went half-open (probing) or closed. */
  onBreaker(listener: (event: BreakerEvent) => void): Disposer {
    return this.#breaker.subscribe(listener);
  }

  onFailover(listener: (event: FailoverEvent) => void): Disposer {
    return this.#failover.subscribe(listener);
  }

  /** A route's subset had no usable endpoint (its calls fall back, or fail), or serves again. */
  onRouting(listener: (event: RoutingEvent) => void): Disposer {
    return this.#routing.subscribe(listener);
  }

  onConfigApplied(listener: (event: ConfigEvent) => void): Disposer {
    return this.#configApplied.subscribe(listener);
  }

  onConfigRejected(listener: (event: ConfigEvent) => void): Disposer {
    return this.#configRejected.subscribe(listener);
  }

  onDiscovery(listener: (event: DiscoveryEvent) => void): Disposer {
    return this.#discovery.subscribe(listener);
  }
}
