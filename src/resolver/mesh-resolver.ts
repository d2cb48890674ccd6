import { Metadata, experimental, status as Status, type ChannelOptions, type ServiceConfig as GrpcServiceConfig } from '@grpc/grpc-js';
import { BALANCER_NAME, type BalancerConfigJson } from '../balancer/balancer-config.js';
import type { Disposer } from '../observability/signal.js';
import { MESH_OPTION, findDirectory, type MeshDirectory } from './directory.js';

export const MESH_SCHEME = 'mesh';

/**
 * The `mesh` name resolver: `mesh:///orders` → the endpoints of service "orders" in the
 * mesh config, plus a service config that selects the `meshlite_weighted` policy with the
 * endpoints' weights, priorities, health checking and ejection settings. A config change
 * (file reload) is pushed as a new resolution; grpc-js keeps connections to endpoints that
 * stay, so calls in flight are not disturbed.
 */
export class MeshResolver implements experimental.Resolver {
  readonly #service: string;
  readonly #listener: experimental.ResolverListener;
  readonly #meshId: unknown;
  #unsubscribe: Disposer | undefined;
  #pending = false;

  constructor(target: experimental.GrpcUri, listener: experimental.ResolverListener, options: ChannelOptions) {
    this.#service = serviceOf(target);
    this.#listener = listener;
    this.#meshId = options[MESH_OPTION];
  }

  static getDefaultAuthority(target: experimental.GrpcUri): string {
    return serviceOf(target);
  }

  updateResolution(): void {
    const directory = findDirectory(this.#meshId);
    if (typeof directory !== 'string' && !this.#unsubscribe) {
      this.#unsubscribe = directory.onConfigChange(() => this.#schedule());
    }
    this.#schedule();
  }

  destroy(): void {
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
  }

  /** Never report synchronously: grpc-js requires the listener to be called on a later tick. */
  #schedule(): void {
    if (this.#pending) return;
    this.#pending = true;
    process.nextTick(() => {
      this.#pending = false;
      this.#report();
    });
  }

  #report(): void {
    const directory = findDirectory(this.#meshId);
    if (typeof directory === 'string') return this.#fail(`cannot resolve mesh:///${this.#service}: ${directory}`, undefined);
    const service = directory.service(this.#service);
    if (!service) {
      const known = directory.serviceNames();
      return this.#fail(
        `service "${this.#service}" is not in the mesh config (${directory.describeSource()}; ` +
          `services: ${known.length > 0 ? known.join(', ') : 'none'})`,
        directory,
      );
    }
    const config: BalancerConfigJson = {
      mesh: directory.id,
      service: this.#service,
      endpoints: service.endpoints,
      healthCheck: service.healthCheck,
      balancer: service.balancer,
    };
    const endpoints = service.endpoints.map((endpoint) => ({ addresses: [parseAddress(endpoint.address)] }));
    this.#listener(experimental.statusOrFromValue(endpoints), {}, serviceConfig(config), '');
  }

  #fail(details: string, directory: MeshDirectory | undefined): void {
    const error = experimental.statusOrFromError<experimental.Endpoint[]>({
      code: Status.UNAVAILABLE,
      details,
      metadata: new Metadata(),
    });
    // Still name our policy, so the error reaches callers in its own words.
    const config = serviceConfig({ mesh: directory?.id, service: this.#service });
    this.#listener(error, {}, config, details);
  }
}

function serviceConfig(config: BalancerConfigJson) {
  const value: GrpcServiceConfig = { loadBalancingConfig: [{ [BALANCER_NAME]: config }], methodConfig: [] };
  return experimental.statusOrFromValue(value);
}

function serviceOf(target: experimental.GrpcUri): string {
  return target.path.replace(/^\/+/, '');
}

/** "127.0.0.1:50051" or "[::1]:50051" → { host, port }. The config schema has checked the form. */
export function parseAddress(address: string): { host: string; port: number } {
  const colon = address.lastIndexOf(':');
  const host = address.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
  return { host, port: Number(address.slice(colon + 1)) };
}

/** Registers the `mesh` scheme with grpc-js. Safe to call more than once. */
export function registerMeshResolver(): void {
  experimental.registerResolver(MESH_SCHEME, MeshResolver);
}
