// The discovery sources of a mesh's services, kept in line with the config: one etcd source
// per service that names one, restarted when its section changes, closed when it goes.
import type { Clock } from '../clock.js';
import type { EndpointConfig, MeshConfig, ServiceConfig } from '../config/mesh-config.js';
import type { DiscoveryEvent } from '../observability/events.js';
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
      if (this.#sources.get(service)?.signature === signature) continue;
      this.#sources.get(service)?.source.close();
      const source: EtcdEndpointSource = new EtcdEndpointSource(
        etcd,
        {
          changed: () => this.#hooks.changed(),
          report: (kind, reason) =>
            this.#hooks.event({ service, source: source.describe(), kind, reason, endpoints: source.endpoints().length }),
        },
        this.#clock,
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
  }

  /**
   * The service as the resolver and balancer use it: its listed endpoints, then those its
   * source found (an address listed in the config keeps the config's entry).
   */
  effective(service: string, settings: ServiceConfig): ServiceConfig {
    const source = this.#sources.get(service)?.source;
    if (!source) return settings;
    const listed = new Set(settings.endpoints.map((endpoint) => endpoint.address));
    const found: EndpointConfig[] = source.endpoints().filter((endpoint) => !listed.has(endpoint.address));
    return found.length === 0 ? settings : { ...settings, endpoints: [...settings.endpoints, ...found] };
  }

  /** Why a service has no endpoints, when a source is the reason. */
  whyEmpty(service: string): string | undefined {
    return this.#sources.get(service)?.source.whyEmpty();
  }

  close(): void {
    for (const { source } of this.#sources.values()) source.close();
    this.#sources.clear();
  }
}
