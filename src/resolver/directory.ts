import type { ServiceConfig } from '../config/mesh-config.js';
import type { Disposer } from '../observability/signal.js';

/** Channel option naming the mesh a channel belongs to (a string, so the subchannel pool can share connections). */
export const MESH_OPTION = 'grpc-meshlite.mesh';

/** What the resolver needs from a mesh: its services, where they came from, and change notices. */
export interface MeshDirectory {
  readonly id: string;
  service(name: string): ServiceConfig | undefined;
  serviceNames(): string[];
  /** Where the config was looked for, for error messages: "file /etc/mesh.json". */
  describeSource(): string;
  onConfigChange(listener: () => void): Disposer;
}

const directories = new Map<string, MeshDirectory>();

export function registerDirectory(directory: MeshDirectory): () => void {
  directories.set(directory.id, directory);
  return () => {
    if (directories.get(directory.id) === directory) directories.delete(directory.id);
  };
}

/**
 * The mesh for a channel: the one its MESH_OPTION names or, without the option, the only
 * mesh there is. A string explains why there is none.
 */
export function findDirectory(id: unknown): MeshDirectory | string {
  if (typeof id === 'string') {
    return directories.get(id) ?? `mesh "${id}" is closed or was never created`;
  }
  if (directories.size === 1) return directories.values().next().value!;
  return directories.size === 0
    ? 'no grpc-meshlite mesh exists: create one with createMesh() before using mesh:/// targets'
    : `${directories.size} meshes exist: pass mesh.channelOptions() to the client to choose one`;
}
