import {
  Metadata,
  experimental,
  status as Status,
  type ChannelOptions,
  type MethodConfig,
  type ServiceConfig as GrpcServiceConfig,
} from '@grpc/grpc-js';
import { BALANCER_NAME, type BalancerConfigJson } from '../balancer/balancer-config.js';
import { balancerUpdateAttributes } from '../balancer/runtime.js';
import { parseServiceConfig, serviceConfigOption, type HonouredServiceConfig } from '../call/grpc-service-config.js';
import { parseEndpointAddress } from '../config/address.js';
import type { Disposer } from '../observability/signal.js';
import { meshConfigSelector } from './config-selector.js';
import { MESH_OPTION, findMesh } from './registry.js';

export const MESH_SCHEME = 'mesh';

/**
 * The `mesh` name resolver: `mesh:///orders` → the endpoints of service "orders" in the
 * mesh config, plus a service config that selects the `meshlite_weighted` policy for that
 * mesh and service, and — in the resolution's attributes — the service's settings as the mesh
 * parsed them (weights, priorities, health checking, ejection) and the mesh's side of the
 * balancer (events, logger, clock). A config change (file reload) is pushed as a new
 * resolution; grpc-js keeps connections to endpoints that stay, so calls in flight are not
 * disturbed.
 */
export class MeshResolver implements experimental.Resolver {
  readonly #service: string;
  readonly #listener: experimental.ResolverListener;
  readonly #meshId: unknown;
  #unsubscribe: Disposer | undefined;
  #pending = false;
  /** The channel's own `grpc.service_config`, as the mesh honours it (or why it cannot). */
  readonly #serviceConfig: HonouredServiceConfig | Error;
  /** Names each call's method in the pick info and gives it its method config. */
  readonly #selector: experimental.ConfigSelector;

  constructor(target: experimental.GrpcUri, listener: experimental.ResolverListener, options: ChannelOptions) {
    this.#service = serviceOf(target);
    this.#listener = listener;
    this.#meshId = options[MESH_OPTION];
    this.#serviceConfig = honour(options);
    this.#selector = meshConfigSelector(this.#serviceConfig instanceof Error ? [] : this.#serviceConfig.methodConfig);
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
    if (this.#serviceConfig instanceof Error)
      return this.#fail(`cannot use mesh:///${this.#service}: ${this.#serviceConfig.message}`, mesh.id);
    const service = mesh.service(this.#service);
    if (!service) {
      const known = mesh.serviceNames();
      return this.#fail(
        `service "${this.#service}" is not in the mesh config (${mesh.describeSource()}; ` +
          `services: ${known.length > 0 ? known.join(', ') : 'none'})`,
        mesh.id,
      );
    }
    // Nothing yet, but the first etcd list or DNS answer is on its way: no resolution for now,
    // so grpc-js queues calls (within their deadlines) instead of failing them; the answer
    // brings a new report.
    if (service.endpoints.length === 0 && mesh.resolving(this.#service)) return;
    const endpoints: experimental.Endpoint[] = [];
    for (const { address } of service.endpoints) {
      const parsed = parseEndpointAddress(address);
      // The config's schema and the discovery sources have checked every address already.
      if (typeof parsed === 'string') return this.#fail(`cannot resolve mesh:///${this.#service}: ${address}: ${parsed}`, mesh.id);
      endpoints.push({ addresses: [{ host: parsed.host, port: parsed.port }] });
    }
    // The balancer takes the same settings with the endpoints: computed once per report. An
    // empty set (nothing discovered yet, or etcd unreachable at start) goes through too, with
    // the reason as the note: the balancer fails calls with it instead of keeping old ones.
    this.#listener(
      experimental.statusOrFromValue(endpoints),
      {
        [experimental.CHANNEL_ARGS_CONFIG_SELECTOR_KEY]: this.#selector,
        ...balancerUpdateAttributes({ runtime: mesh, settings: service }),
      },
      serviceConfig({ mesh: mesh.id, service: this.#service }, this.#serviceConfig.methodConfig),
      endpoints.length === 0 ? mesh.whyNoEndpoints(this.#service) : '',
    );
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

function serviceConfig(config: BalancerConfigJson, methodConfig: readonly MethodConfig[] = []) {
  const value: GrpcServiceConfig = { loadBalancingConfig: [{ [BALANCER_NAME]: config }], methodConfig: [...methodConfig] };
  return experimental.statusOrFromValue(value);
}

/** The channel's `grpc.service_config`, validated for a mesh channel; the error says what conflicts. */
function honour(options: ChannelOptions): HonouredServiceConfig | Error {
  try {
    return parseServiceConfig(serviceConfigOption(options), { mesh: true });
  } catch (error) {
    return error as Error;
  }
}

function serviceOf(target: experimental.GrpcUri): string {
  return target.path.replace(/^\/+/, '');
}

/** Registers the `mesh` scheme with grpc-js. Safe to call more than once. */
export function registerMeshResolver(): void {
  experimental.registerResolver(MESH_SCHEME, MeshResolver);
}
