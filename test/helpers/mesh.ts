import type { ClientOptions } from '@grpc/grpc-js';
import {
  createMesh,
  type BalancerSnapshot,
  type ClientStackOptions,
  type EndpointSnapshot,
  type Mesh,
  type MeshOptions,
} from 'grpc-meshlite';
import { OrderClient, callUnary, type Order } from '../../examples/orders.js';
import { md } from './clients.js';
import type { TestPool } from './servers.js';
import { until as waitFor } from './until.js';

/**
 * Resolves once `condition` holds for the mesh's snapshot of `service`. It is re-checked
 * on every mesh event and every few ms (for what changes with time alone, like slow start),
 * and fails after `timeoutMs` with the snapshot, so a broken test says what it saw.
 */
export function until(
  mesh: Mesh,
  condition: (endpoints: Record<string, EndpointSnapshot>, snapshot: BalancerSnapshot | undefined) => boolean,
  { service = 'orders', timeoutMs = 5000 } = {},
): Promise<void> {
  return waitFor(
    () => {
      const snapshot = mesh.snapshot(service)[0];
      return condition(Object.fromEntries((snapshot?.endpoints ?? []).map((e) => [e.name, e])), snapshot);
    },
    { timeoutMs, describe: () => JSON.stringify(mesh.snapshot(service), null, 1), wake: (check) => mesh.events.onEndpoint(check) },
  );
}

/** Every named endpoint is usable at full weight (slow start over). */
export const allUsable =
  (...names: string[]) =>
  (endpoints: Record<string, EndpointSnapshot>) =>
    names.every((name) => endpoints[name]?.usable && endpoints[name].effectiveWeight === endpoints[name].weight);

export interface LoopResult {
  readonly served: string[];
  readonly errors: Array<{ code: number; details: string }>;
}

/**
 * Calls GetOrder back to back with `concurrency` callers until `stop()`; bounded to
 * `maxCalls` so a runaway test cannot loop forever.
 */
export function callLoop(client: OrderClient, { concurrency = 4, maxCalls = 50_000, headers = {} } = {}) {
  const result: LoopResult = { served: [], errors: [] };
  let stopped = false;
  let calls = 0;
  const worker = async () => {
    while (!stopped && calls < maxCalls) {
      calls++;
      try {
        const order: Order = await callUnary(client.GetOrder, client, { id: 'x' }, md(headers));
        result.served.push(order.served_by);
      } catch (error) {
        const e = error as { code: number; details: string };
        result.errors.push({ code: e.code, details: e.details });
      }
    }
  };
  const workers = Array.from({ length: concurrency }, worker);
  return {
    result,
    /** Calls made so far. */
    get count() {
      return result.served.length + result.errors.length;
    },
    async stop(): Promise<LoopResult> {
      stopped = true;
      await Promise.all(workers);
      return result;
    },
  };
}

/** Counts of each backend name. */
export function tally(names: readonly string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const name of names) counts[name] = (counts[name] ?? 0) + 1;
  return counts;
}

/** GetOrder `calls` times, one after another; how many each backend served. */
export async function split(client: OrderClient, calls: number): Promise<Record<string, number>> {
  const served: string[] = [];
  for (let i = 0; i < calls; i++) served.push((await callUnary(client.GetOrder, client, { id: 'x' })).served_by);
  return tally(served);
}

export interface MeshClientOptions {
  /** The service the client calls. Default "orders". */
  service?: string;
  /** Options of its client stack, on top of the service's `client` config. */
  stack?: ClientStackOptions;
  /** grpc-js client options (a `grpc.service_config`, say). */
  clientOptions?: ClientOptions;
}

/** A mesh and an OrderClient through it, both closed after the test. */
export function meshClient(pool: TestPool, options: MeshOptions, { service = 'orders', stack, clientOptions }: MeshClientOptions = {}) {
  // Every picker starts at phase 0 unless a test seeds another: sequences the tests pin
  // (ServiceA first) do not depend on a random start.
  const mesh = createMesh({ random: () => 0, ...options });
  pool.defer(() => mesh.close());
  const client = pool.track(mesh.client(OrderClient, service, { ...(stack && { stack }), ...(clientOptions && { clientOptions }) }));
  return { mesh, client };
}

/**
 * Connects a client of `mesh` (channels connect lazily: this asks) and resolves once every
 * endpoint named in `ready` is usable at full weight.
 */
type Connectable = { getConnectivityState(tryToConnect: boolean): unknown };

export async function connectAndWait(
  mesh: Mesh,
  client: { getChannel(): Connectable } | Connectable,
  ready: string[],
  { service = 'orders', timeoutMs = 5000 } = {},
): Promise<void> {
  const channel = 'getChannel' in client ? client.getChannel() : client;
  channel.getConnectivityState(true);
  await until(mesh, allUsable(...ready), { service, timeoutMs });
}

/** A mesh and an OrderClient through it, connected and ready (see connectAndWait). */
export async function readyMeshClient(pool: TestPool, options: MeshOptions, ready: string[], clientOptions: MeshClientOptions = {}) {
  const created = meshClient(pool, options, clientOptions);
  await connectAndWait(created.mesh, created.client, ready, { service: clientOptions.service });
  return created;
}
