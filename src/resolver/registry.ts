// The one registry of live meshes. grpc-js creates resolvers itself, with no way to pass them
// arguments: a resolver finds its mesh here, by the id its channel carries in its options, and
// hands the balancer what it needs of the mesh with each resolution (balancer/runtime.ts).
import { BALANCER_NAME, onBalancerConfigRejected, type BalancerConfigRejection } from '../balancer/balancer-config.js';
import type { BalancerRuntime } from '../balancer/runtime.js';
import type { ServiceConfig } from '../config/mesh-config.js';
import type { Disposer } from '../observability/signal.js';

/** Channel option naming the mesh a channel belongs to (a string, so the subchannel pool can share connections). */
export const MESH_OPTION = 'grpc-meshlite.mesh';

/** What the resolver needs from the mesh it serves, and what it hands the balancer. */
export interface MeshRuntime extends BalancerRuntime {
  readonly id: string;
  /** The service's config as parsed and validated, defaults filled in, discovery applied; undefined when it has none. */
  service(name: string): ServiceConfig | undefined;
  serviceNames(): string[];
  /** Why a service has no endpoints now: "etcd 127.0.0.1:2379 prefix services/orders: …". */
  whyNoEndpoints(name: string): string;
  /** True while a service has no endpoints only because its first discovery answer is still coming. */
  resolving(name: string): boolean;
  /** Where the config was looked for, for error messages: "file /etc/mesh.json". */
  describeSource(): string;
  onConfigChange(listener: () => void): Disposer;
}

const meshes = new Map<string, MeshRuntime>();
let stopHearingRejections: Disposer | undefined;

export function registerMesh(runtime: MeshRuntime): Disposer {
  meshes.set(runtime.id, runtime);
  stopHearingRejections ??= onBalancerConfigRejected(logRejection);
  return () => {
    if (meshes.get(runtime.id) === runtime) meshes.delete(runtime.id);
    if (meshes.size > 0) return;
    stopHearingRejections?.();
    stopHearingRejections = undefined;
  };
}

/**
 * The mesh a channel belongs to: the one `id` names or, without an id, the only mesh there
 * is. A string explains why there is none.
 */
export function findMesh(id: unknown): MeshRuntime | string {
  if (typeof id === 'string') return meshes.get(id) ?? `mesh "${id}" is closed or was never created`;
  if (meshes.size === 1) return meshes.values().next().value!;
  return meshes.size === 0
    ? 'no grpc-meshlite mesh exists: create one with createMesh() before using mesh:/// targets'
    : `${meshes.size} meshes exist: pass mesh.channelOptions() to the client to choose one`;
}

/** grpc-js falls back to another policy in silence: the mesh the config names says it. */
function logRejection({ mesh: id, error }: BalancerConfigRejection): void {
  const mesh = findMesh(id);
  if (typeof mesh === 'string') return;
  mesh.logger.error({ err: error }, `${BALANCER_NAME} config rejected; grpc-js will fall back to another policy`);
}
