// npm start: ServiceA and ServiceB as processes, and a client that reaches them through
// mesh:///orders (weights 80/20) and prints which backend served the calls.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { createLogger } from 'grpc-meshlite';
import { createOrdersClient, exampleConfig } from './client.js';
import { callUnary } from './orders.js';
import { spawnBackend, type BackendProcess } from './supervisor.js';

async function main(): Promise<void> {
  console.log('starting ServiceA and ServiceB ...');
  // The two backends share one order store, the way replicas share a database.
  const storeDir = mkdtempSync(join(tmpdir(), 'meshlite-demo-'));
  const backends = await Promise.all(
    ['ServiceA', 'ServiceB'].map((name) => spawnBackend({ name, args: ['--store-dir', storeDir, '--grace-ms', '200'] })),
  );
  for (const b of backends) console.log(`  ${b.name} listening on 127.0.0.1:${b.port} (pid ${b.child.pid})`);
  const addresses = Object.fromEntries(backends.map((b) => [b.name, `127.0.0.1:${b.port}`]));
  const orders = createOrdersClient(exampleConfig(addresses), createLogger({ name: 'client', level: 'warn' }));
  const { client } = orders;
  const [serviceA] = backends as [BackendProcess, BackendProcess];

  const round = async (label: string, calls: number) => {
    const served: Record<string, number> = {};
    let failed = 0;
    for (let i = 0; i < calls; i++) {
      const key = `demo-${process.pid}-${label}-${i}`;
      const metadata = new grpc.Metadata();
      metadata.set('idempotency-key', key);
      try {
        const created = await callUnary(client.CreateOrder, client, { idempotency_key: key, item: 'book', quantity: 1 }, metadata);
        const read = await callUnary(client.GetOrder, client, { id: created.id });
        served[read.served_by] = (served[read.served_by] ?? 0) + 1;
      } catch {
        failed++;
      }
    }
    const shares = Object.entries(served)
      .sort()
      .map(([name, count]) => `${name} ${Math.round((100 * count) / calls)} %`)
      .join(', ');
    console.log(`${label.padEnd(34)} ${calls} GetOrder calls: ${shares}; failed: ${failed}`);
  };

  try {
    await round('both healthy (weights 80/20)', 100);
    serviceA.send({ type: 'health', status: 'NOT_SERVING' });
    await waitFor(() => orders.mesh.snapshot('orders')[0]?.endpoints[0]?.usable === false);
    await round('ServiceA NOT_SERVING', 50);
    serviceA.send({ type: 'health', status: 'SERVING' });
    await waitFor(() => orders.mesh.snapshot('orders')[0]?.endpoints.every((e) => e.effectiveWeight === e.weight) === true);
    await round('ServiceA healthy again', 100);
  } finally {
    orders.close();
    await Promise.all(backends.map((b) => b.stop()));
    rmSync(storeDir, { recursive: true, force: true });
  }
  console.log('done. The full failover timeline is described in the README.');
}

/** Re-checks a condition every 20 ms, for at most 10 s. */
async function waitFor(condition: () => boolean): Promise<void> {
  for (let waited = 0; !condition(); waited += 20) {
    if (waited > 10_000) throw new Error('the mesh did not reach the expected state within 10 s');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
