import { createMesh, type BalancerSnapshot, type EndpointSnapshot, type Mesh, type MeshOptions } from 'grpc-meshlite';
import { OrderClient, callUnary, type Order } from '../../examples/orders.js';
import { md } from './clients.js';

/**
 * Resolves once `condition` holds for the mesh's snapshot of `service`. It is re-checked
 * on every mesh event and every 10 ms (for what changes with time alone, like slow start),
 * and fails after `timeoutMs` with the snapshot, so a broken test says what it saw.
 */
export function until(
  mesh: Mesh,
  condition: (endpoints: Record<string, EndpointSnapshot>, snapshot: BalancerSnapshot | undefined) => boolean,
  { service = 'orders', timeoutMs = 5000 } = {},
): Promise<void> {
  return new Promise((resolve, reject) => {
    const check = () => {
      const snapshot = mesh.snapshot(service)[0];
      const endpoints = Object.fromEntries((snapshot?.endpoints ?? []).map((e) => [e.name, e]));
      if (!condition(endpoints, snapshot)) return;
      done();
      resolve();
    };
    const dispose = mesh.events.onEndpoint(check);
    const interval = setInterval(check, 10);
    const timer = setTimeout(() => {
      done();
      reject(new Error(`condition not reached in ${timeoutMs} ms; snapshot: ${JSON.stringify(mesh.snapshot(service), null, 1)}`));
    }, timeoutMs);
    const done = () => {
      dispose();
      clearInterval(interval);
      clearTimeout(timer);
    };
    check();
  });
}

/** Every named endpoint is usable at full weight (slow start over). */
export const allUsable =
  (...names: string[]) =>
  (endpoints: Record<string, EndpointSnapshot>) =>
    names.every((name) => endpoints[name]?.usable && endpoints[name]!.effectiveWeight === endpoints[name]!.weight);

export interface LoopResult {
  readonly served: string[];
  readonly errors: Array<{ code: number; details: string }>;
}

/**
 * Calls GetOrder back to back with `concurrency` callers until `stop()`; bounded to
 * `maxCalls` so a runaway test cannot loop forever.
 */
export function callLoop(client: OrderClient, { concurrency = 4, maxCalls = 50_000, headers = {} as Record<string, string> } = {}) {
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

export function meshFor(options: MeshOptions): Mesh {
  return createMesh(options);
}
