import { Metadata, experimental, status as Status, type ChannelOptions, type ServiceConfig as GrpcServiceConfig } from '@grpc/grpc-js';
import { BALANCER_NAME, type BalancerConfigJson } from '../balancer/balancer-config.js';
import { MESH_OPTION, findMesh } from '../mesh/registry.js';
import type { Disposer } from '../observability/signal.js';

export const MESH_SCHEME = 'mesh';

/**
 * The `mesh` name resolver: `mesh:///orders` → the endpoints of service "orders" in the
 * mesh config, plus a service config that selects the `meshlite_weighted` policy for that
 * mesh and service (the balancer reads the service's weights, priorities, health checking
 * and ejection settings from the parsed config). A config change (file reload) is pushed as
 * a new resolution; grpc-js keeps connections to endpoints that stay, so calls in flight
 * are not disturbed.
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
    const mesh = findMesh(this.#meshId);
    if (typeof mesh !== 'string' && !this.#unsubscribe) {
      this.#unsubscribe = mesh.onConfigChange(() => this.#schedule());
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
    const mesh = findMesh(this.#meshId);
    if (typeof mesh === 'string') return this.#fail(`cannot resolve mesh:///${this.#service}: ${mesh}`, undefined);
    const service = mesh.service(this.#service);
    if (!service) {
      const known = mesh.serviceNames();
      return this.#fail(
        `service "${this.#service}" is not in the mesh config (${mesh.describeSource()}; ` +
          `services: ${known.length > 0 ? known.join(', ') : 'none'})`,
        mesh.id,
      );
    }
    const endpoints = service.endpoints.map((endpoint) => ({ addresses: [parseAddress(endpoint.address)] }));
    // The balancer reads the same parsed config, in the same tick, from the registry.
    this.#listener(experimental.statusOrFromValue(endpoints), {}, serviceConfig({ mesh: mesh.id, service: this.#service }), '');
  }

  #fail(details: string, meshId: string | undefined): void {
    const error = experimental.statusOrFromError<experimental.Endpoint[]>({
      code: Status.UNAVAILABLE,
      details,
      metadata: new Metadata(),
    });
    // Still name our policy, so the error reaches callers in its own words.
    this.#listener(error, {}, serviceConfig({ mesh: meshId, service: this.#service }), details);
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
