// The one registry of live meshes. grpc-js creates resolvers and balancers itself, with no way
// to pass them arguments; they find their mesh here, by the id a channel carries in its
// options (the resolver) or in its LB config (the balancer, which the resolver configures).
import type { BalancerSnapshot } from '../balancer/snapshot.js';
import type { Clock } from '../clock.js';
import type { ServiceConfig } from '../config/mesh-config.js';
import type { MeshEventSink } from '../observability/events.js';
import type { Logger } from '../observability/logger.js';
import type { Recorder } from '../observability/metrics.js';
import type { Disposer } from '../observability/signal.js';

/** Channel option naming the mesh a channel belongs to (a string, so the subchannel pool can share connections). */
export const MESH_OPTION = 'grpc-meshlite.mesh';

/** What the resolver and the balancer need from the mesh they serve. */
export interface MeshRuntime {
  readonly id: string;
  /** The service's config as parsed and validated, defaults filled in; undefined when it has none. */
  service(name: string): ServiceConfig | undefined;
  serviceNames(): string[];
  /** Why a service has no endpoints now: "etcd 127.0.0.1:2379 prefix services/orders: …". */
  whyNoEndpoints(name: string): string;
  /** True while a service has no endpoints only because its first discovery answer is still coming. */
  resolving(name: string): boolean;
  /** Where the config was looked for, for error messages: "file /etc/mesh.json". */
  describeSource(): string;
  onConfigChange(listener: () => void): Disposer;
  readonly events: MeshEventSink;
  readonly logger: Logger;
  readonly clock: Clock;
  /** Where the balancer's random choices come from (start phases; P2C samples). */
  readonly random: () => number;
  /** The mesh's own instruments (per-endpoint attempts), when a meter provider records them. */
  readonly metrics: Recorder | undefined;
  /** Where each attempt's outcome and duration per endpoint go while the admin page runs. */
  readonly attemptRecorder: ((service: string, address: string, code: number, durationMs: number) => void) | undefined;
  /** Registers a live balancer for the mesh's snapshots; returns the unregister function. */
  registerBalancer(snapshot: () => BalancerSnapshot): Disposer;
}

const meshes = new Map<string, MeshRuntime>();

export function registerMesh(runtime: MeshRuntime): Disposer {
  meshes.set(runtime.id, runtime);
  return () => {
    if (meshes.get(runtime.id) === runtime) meshes.delete(runtime.id);
  };
}

/**
 * The mesh a channel or balancer belongs to: the one `id` names or, without an id, the only
 * mesh there is. A string explains why there is none.
 */
export function findMesh(id: unknown): MeshRuntime | string {
  if (typeof id === 'string') return meshes.get(id) ?? `mesh "${id}" is closed or was never created`;
  if (meshes.size === 1) return meshes.values().next().value!;
  return meshes.size === 0
    ? 'no grpc-meshlite mesh exists: create one with createMesh() before using mesh:/// targets'
    : `${meshes.size} meshes exist: pass mesh.channelOptions() to the client to choose one`;
}
