// Which endpoints a balancer has, and how an update changes them: added, updated, replaced
// (new settings that an endpoint takes when it is made), removed, or — make before break —
// kept serving as a tier below every other while the endpoints that replace them come up, for
// at most the service's removalGraceMs, and taken back when an update names them again. It
// knows nothing of pickers or connections: the balancer asks it what there is.
import { experimental } from '@grpc/grpc-js';
import type { EndpointConfig, ServiceConfig } from '../config/mesh-config.js';
import type { EndpointStatus } from './snapshot.js';

/** What the membership reads and changes of an endpoint (an EndpointController; a fake in tests). */
export interface Member {
  readonly address: string;
  readonly config: EndpointConfig;
  /** Connected, healthy, admitted and weighted: may take regular calls. */
  readonly usable: boolean;
  readonly connected: boolean;
  update(config: EndpointConfig): void;
  markLeaving(): void;
  markStaying(): void;
  status(now: number): EndpointStatus;
  destroy(): void;
}

/** What changes in the membership are said through. */
export interface MembershipHost<E extends Member> {
  /** An endpoint was added, updated or removed; `reason` says what and why. */
  emit(endpoint: E, kind: 'added' | 'updated' | 'removed', reason: string): void;
  /** A note about the bridge of leaving endpoints as a whole (a log line, not an endpoint event). */
  note(level: 'info' | 'warn', fields: Record<string, unknown>, message: string): void;
}

/** The parts of a service's settings the membership reads. */
export type MembershipSettings = Pick<ServiceConfig, 'endpoints' | 'healthCheck' | 'balancer'>;

/** Makes the endpoint for an address an update names for the first time. */
export type MemberFactory<E extends Member> = (endpoint: experimental.Endpoint, config: EndpointConfig) => E;

export class Membership<E extends Member> {
  readonly #host: MembershipHost<E>;
  /** The endpoints the last update named, by address. */
  readonly #current = new Map<string, E>();
  /**
   * Endpoints an update removed while usable: make before break, they serve as a tier below
   * every other what the endpoints that stay cannot take yet (settle()).
   */
  readonly #leaving = new Map<string, E>();
  /** Current endpoints without a connection (which the balancer's exitIdle nudges). */
  readonly #notConnected = new Set<E>();
  /** Endpoints leaving because the settings they were made with changed (their removal says so). */
  readonly #replaced = new WeakSet<E>();
  /** The settings (signature) each endpoint was made with: only one made with today's may come back. */
  readonly #madeWith = new WeakMap<E, string>();
  /**
   * The settings an endpoint takes when it is made (health checking, ejection, EWMA), as text:
   * an update that changes them replaces every endpoint, make before break.
   */
  #signature: string | undefined;
  #graceMs = 0;
  /** When the removed endpoints began to serve as a tier (the grace runs from here). */
  #bridgeSince: number | undefined;

  constructor(host: MembershipHost<E>) {
    this.#host = host;
  }

  /** The endpoints the last update named, by address. */
  get current(): ReadonlyMap<string, E> {
    return this.#current;
  }

  /** The endpoints an update removed that still serve, by address. */
  get leaving(): ReadonlyMap<string, E> {
    return this.#leaving;
  }

  /** Current endpoints without a connection. */
  get notConnected(): ReadonlySet<E> {
    return this.#notConnected;
  }

  /** When the leaving endpoints' grace runs out, while they serve as a tier. */
  get graceEnd(): number | undefined {
    return this.#bridgeSince === undefined || this.#leaving.size === 0 ? undefined : this.#bridgeSince + this.#graceMs;
  }

  /**
   * Applies an update: the endpoints it names, with their entries in `settings` (an address
   * only discovery knows gets weight 1, priority 0). Returns the endpoints it made, whose
   * connections are not opened yet.
   */
  apply(incoming: readonly experimental.Endpoint[], settings: MembershipSettings, create: MemberFactory<E>): E[] {
    const configured = new Map(settings.endpoints.map((e) => [e.address, e]));
    const addresses = incoming.map((endpoint) => experimental.subchannelAddressToString(endpoint.addresses[0]!));
    const named = new Set(addresses);
    // Health checking, ejection and the EWMA are set up when an endpoint is made: new settings
    // take new endpoints (on the same pooled connections), the old ones serving meanwhile.
    // (Only what is taken then: the EWMA's tolerance and penalty are read at each use.)
    const { healthCheck, balancer } = settings;
    const signature = JSON.stringify([healthCheck, balancer.ejection, balancer.ewma.decayMs, balancer.ewma.defaultRttMs]);
    const renew = this.#signature !== undefined && this.#signature !== signature;
    this.#signature = signature;
    this.#graceMs = balancer.removalGraceMs;
    // Those the update keeps are replaced; those it drops are removed as any would be.
    const replaced = renew ? [...this.#current].filter(([address]) => named.has(address)) : [];
    for (const [address, endpoint] of replaced) {
      this.#current.delete(address);
      this.#notConnected.delete(endpoint);
      this.#replaced.add(endpoint);
    }
    const created: E[] = [];
    incoming.forEach((endpoint, i) => {
      const address = addresses[i]!;
      const config: EndpointConfig = configured.get(address) ?? { name: address, address, weight: 1, priority: 0 };
      const existing = this.#current.get(address) ?? (renew ? undefined : this.#comeBack(address));
      if (existing) {
        const before = existing.config;
        existing.update(config);
        // Only what changed: a name that discovery gave again differently, a weight, a priority.
        const changes = (['name', 'weight', 'priority'] as const)
          .filter((field) => before[field] !== config[field])
          .map((field) => `${field} ${before[field]} → ${config[field]}`);
        if (changes.length > 0) this.#host.emit(existing, 'updated', changes.join(', '));
      } else {
        const made = create(endpoint, config);
        this.#madeWith.set(made, signature);
        this.#current.set(address, made);
        this.#notConnected.add(made);
        created.push(made);
        this.#host.emit(made, 'added', `weight ${config.weight}, priority ${config.priority}`);
      }
    });
    const removed = [...this.#current].filter(([address]) => !named.has(address));
    for (const [address, endpoint] of removed) {
      this.#current.delete(address);
      this.#notConnected.delete(endpoint);
    }
    // Make before break: a usable endpoint removed keeps serving what the endpoints that stay
    // cannot take yet (a config that moves to new hosts would otherwise hold every call until
    // their connections and health checks are up), for at most removalGraceMs; the balancer's
    // next settle() lets it go at once when they can take everything. An empty set takes
    // effect at once.
    const grace = this.#current.size > 0 && this.#graceMs > 0;
    for (const [address, endpoint] of [...replaced, ...removed]) {
      if (grace && endpoint.usable) {
        endpoint.markLeaving();
        const before = this.#leaving.get(address);
        if (before) this.#remove(before, '');
        this.#leaving.set(address, endpoint);
      } else {
        this.#remove(endpoint, '');
      }
    }
    return created;
  }

  /** Keeps the not-connected set in line after an endpoint's connection changed. */
  noteConnectivity(endpoint: E): void {
    if (endpoint.connected) this.#notConnected.delete(endpoint);
    else if (this.#current.get(endpoint.address) === endpoint) this.#notConnected.add(endpoint);
  }

  /**
   * Lets the leaving endpoints go once they are not needed: when the endpoints that stay take
   * all the traffic (`leavingLoad`, the leaving tier's share, is 0), when the update left
   * none, when the grace is over, and one by one as they stop being usable. Returns whether
   * any went.
   */
  settle(leavingLoad: number, now: number): boolean {
    if (this.#leaving.size === 0) {
      // The bridge may have ended outside settle(): its endpoints named again by an update.
      this.#bridgeSince = undefined;
      return false;
    }
    const graceMs = this.#graceMs;
    const since = this.#bridgeSince ?? now;
    const over =
      this.#current.size === 0
        ? 'the update left no endpoint'
        : leavingLoad === 0
          ? 'the endpoints that replace it took all the traffic'
          : now - since >= graceMs
            ? `its grace of ${graceMs} ms was over`
            : undefined;
    let removed = false;
    for (const [address, endpoint] of this.#leaving) {
      if (over === undefined && endpoint.usable) continue;
      this.#leaving.delete(address);
      removed = true;
      // Not needed from the start (the endpoints that stay take everything): a plain removal.
      const note =
        this.#bridgeSince === undefined ? '' : `; it had kept serving until ${endpoint.usable ? over! : 'it stopped being usable'}`;
      this.#remove(endpoint, note);
    }
    if (this.#leaving.size > 0 && this.#bridgeSince === undefined) {
      this.#bridgeSince = now;
      const endpoints = [...this.#leaving.values()].map((e) => e.config.name);
      this.#host.note(
        'info',
        { endpoints, graceMs },
        'removed endpoints keep serving what the endpoints that replace them cannot take yet',
      );
    } else if (this.#leaving.size === 0 && this.#bridgeSince !== undefined) {
      this.#bridgeSince = undefined;
      if (over?.startsWith('its grace')) {
        const notUsable = [...this.#current.values()]
          .filter((e) => !e.usable)
          .map((e) => `${e.config.name} (${e.address}): ${e.status(now)}`);
        this.#host.note(
          'warn',
          { graceMs, notUsable },
          'removed endpoints stopped serving at the end of their grace: endpoints that replace them are not usable yet',
        );
      }
    }
    return removed;
  }

  /** Destroys every endpoint, current and leaving, without a word (the balancer goes). */
  destroy(): void {
    for (const endpoint of this.#current.values()) endpoint.destroy();
    for (const endpoint of this.#leaving.values()) endpoint.destroy();
    this.#current.clear();
    this.#leaving.clear();
    this.#notConnected.clear();
  }

  /** A leaving endpoint the update names again: it stays, as if never removed. */
  #comeBack(address: string): E | undefined {
    const endpoint = this.#leaving.get(address);
    // One made with settings the service no longer has never comes back — whether it left as
    // replaced or was dropped by the same update: a new one is made.
    if (!endpoint || this.#madeWith.get(endpoint) !== this.#signature) return undefined;
    this.#leaving.delete(address);
    endpoint.markStaying();
    this.#current.set(address, endpoint);
    if (!endpoint.connected) this.#notConnected.add(endpoint);
    this.#host.emit(endpoint, 'updated', 'named again while it was leaving: it stays');
    return endpoint;
  }

  #remove(endpoint: E, note: string): void {
    endpoint.destroy();
    const why = this.#replaced.has(endpoint)
      ? "replaced by one with the service's new health checking, ejection or EWMA settings"
      : 'no longer in the config or its discovery source';
    this.#host.emit(endpoint, 'removed', `${why}${note}`);
  }
}
