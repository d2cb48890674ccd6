// npm start: ServiceA and ServiceB as processes, and a client that calls them and prints
// which backend served each call.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { createLogger } from 'grpc-meshlite';
import { createOrdersClient } from './client.js';
import { callUnary } from './orders.js';
import { spawnBackend } from './supervisor.js';

async function main(): Promise<void> {
  console.log('starting ServiceA and ServiceB ...');
  // The two backends share one order store, the way replicas share a database.
  const storeDir = mkdtempSync(join(tmpdir(), 'meshlite-demo-'));
  const backends = await Promise.all(
    ['ServiceA', 'ServiceB'].map((name) => spawnBackend({ name, args: ['--store-dir', storeDir, '--grace-ms', '200'] })),
  );
  for (const b of backends) console.log(`  ${b.name} listening on 127.0.0.1:${b.port} (pid ${b.child.pid})`);

  const target = `ipv4:${backends.map((b) => `127.0.0.1:${b.port}`).join(',')}`;
  const orders = createOrdersClient(target, createLogger({ name: 'client', level: 'warn' }), {
    'grpc.service_config': JSON.stringify({ loadBalancingConfig: [{ round_robin: {} }] }),
  });
  const { client } = orders;
  try {
    for (let i = 1; i <= 10; i++) {
      const key = `demo-${process.pid}-${i}`;
      const metadata = new grpc.Metadata();
      metadata.set('idempotency-key', key);
      const created = await callUnary(client.CreateOrder, client, { idempotency_key: key, item: 'book', quantity: i }, metadata);
      const read = await callUnary(client.GetOrder, client, { id: created.id });
      console.log(`call ${String(i).padStart(2)}: CreateOrder served by ${created.served_by}, GetOrder served by ${read.served_by}`);
    }
  } finally {
    orders.close();
    await Promise.all(backends.map((b) => b.stop()));
    rmSync(storeDir, { recursive: true, force: true });
  }
  console.log('done: both backends answered; see README for the failover demo.');
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
