// The discovery sources of a mesh's services, kept in line with the config: one etcd source
// per service that names one, restarted when its section changes, closed when it goes.
import { isIP } from 'node:net';
import type { Clock } from '../clock.js';
import { parseEndpointAddress } from '../config/address.js';
import type { EndpointConfig, MeshConfig, ServiceConfig } from '../config/mesh-config.js';
import type { DiscoveryEvent } from '../observability/events.js';
import { DNS_DEFAULTS } from '../config/mesh-config.js';
import { DnsExpander } from './dns.js';
import { EtcdEndpointSource } from './etcd-source.js';

export interface DiscoveryHooks {
  /** Some service's discovered endpoints changed. */
  changed(): void;
  event(event: DiscoveryEvent): void;
}

export class ServiceDiscovery {
  readonly #hooks: DiscoveryHooks;
  readonly #clock: Clock;
  readonly #sources = new Map<string, { signature: string; source: EtcdEndpointSource }>();
  readonly #dns = new Map<string, { signature: string; expander: DnsExpander }>();

  constructor(hooks: DiscoveryHooks, clock: Clock) {
    this.#hooks = hooks;
    this.#clock = clock;
  }

  /** Starts, restarts and stops sources so that each service's `discovery` section has one. */
  reconcile(config: MeshConfig): void {
    const wanted = new Set<string>();
    for (const [service, settings] of Object.entries(config.services)) {
      const etcd = settings.discovery?.etcd;
      if (!etcd) continue;
      wanted.add(service);
      const signature = JSON.stringify(etcd);
      const previous = this.#sources.get(service);
      if (previous?.signature === signature) continue;
      previous?.source.close();
      // A changed section starts a new source, seeded with what the old one held.
      const source: EtcdEndpointSource = new EtcdEndpointSource(
        etcd,
        {
          changed: () => this.#hooks.changed(),
          report: (kind, reason) =>
            this.#hooks.event({ service, source: source.describe(), kind, reason, endpoints: source.endpoints().length }),
        },
        this.#clock,
        previous?.source.endpoints() ?? [],
      );
      this.#sources.set(service, { signature, source });
      source.start();
    }
    for (const [service, { source }] of this.#sources) {
      if (wanted.has(service)) continue;
      source.close();
      this.#sources.delete(service);
      this.#hooks.changed();
    }
    for (const [service, { signature, expander }] of this.#dns) {
      const settings = config.services[service];
      if (settings && signature === JSON.stringify(settings.discovery?.dns ?? null)) continue;
      expander.close();
      this.#dns.delete(service);
    }
  }

  /**
   * The service as the resolver and balancer use it: its listed endpoints, then those its
   * source found (an address listed in the config keeps the config's entry).
   */
  effective(service: string, settings: ServiceConfig): ServiceConfig {
    const endpoints = this.#named(service, settings);
    const expanded = endpoints.some(hasHostName) ? this.#expander(service, settings).expand(endpoints) : endpoints;
    return expanded === settings.endpoints ? settings : { ...settings, endpoints: dedupe(expanded) };
  }

  /** Why a service has no endpoints, when a source or a name lookup is the reason. */
  whyEmpty(service: string, settings: ServiceConfig | undefined): string | undefined {
    const reasons = [this.#sources.get(service)?.source.whyEmpty()];
    if (settings) reasons.push(this.#dns.get(service)?.expander.whyEmpty(this.#named(service, settings)));
    const known = reasons.filter((reason) => reason !== undefined);
    return known.length > 0 ? known.join('; ') : undefined;
  }

  /**
   * True while the service has no endpoints only because an answer is still coming (the
   * first etcd list, the first lookup of a name): calls should wait for it rather than fail.
   */
  pending(service: string, settings: ServiceConfig): boolean {
    if (this.#sources.get(service)?.source.pending) return true;
    return this.#dns.get(service)?.expander.pending(this.#named(service, settings)) ?? false;
  }

  /** An endpoint of `service` lost its connection: a host name behind it is looked up again. */
  connectionLost(service: string, address: string): void {
    this.#dns.get(service)?.expander.connectionLost(address);
  }

  /** Listed endpoints, then those the service's source found (an address listed keeps its entry). */
  #named(service: string, settings: ServiceConfig): readonly EndpointConfig[] {
    const source = this.#sources.get(service)?.source;
    if (!source) return settings.endpoints;
    const listed = new Set(settings.endpoints.map((endpoint) => endpoint.address));
    const found: EndpointConfig[] = source.endpoints().filter((endpoint) => !listed.has(endpoint.address));
    return found.length === 0 ? settings.endpoints : [...settings.endpoints, ...found];
  }

  #expander(service: string, settings: ServiceConfig): DnsExpander {
    let entry = this.#dns.get(service);
    if (!entry) {
      const dns = settings.discovery?.dns;
      const expander = new DnsExpander(
        dns ?? DNS_DEFAULTS,
        this.#clock,
        () => this.#hooks.changed(),
        (host, kind, reason, addresses) => this.#hooks.event({ service, source: `DNS ${host}`, kind, reason, endpoints: addresses }),
      );
      entry = { signature: JSON.stringify(dns ?? null), expander };
      this.#dns.set(service, entry);
    }
    return entry.expander;
  }

  close(): void {
    for (const { source } of this.#sources.values()) source.close();
    this.#sources.clear();
    for (const { expander } of this.#dns.values()) expander.close();
    this.#dns.clear();
  }
}

function hasHostName(endpoint: EndpointConfig): boolean {
  const parsed = parseEndpointAddress(endpoint.address);
  return typeof parsed !== 'string' && isIP(parsed.host) === 0;
}

/** One endpoint per address: a name and a listed IP that meet keep the first. */
function dedupe(endpoints: readonly EndpointConfig[]): EndpointConfig[] {
  const seen = new Set<string>();
  return endpoints.filter((endpoint) => !seen.has(endpoint.address) && seen.add(endpoint.address));
}
