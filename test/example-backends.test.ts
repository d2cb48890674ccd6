import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import { silentLogger } from '../src/observability/logger.js';
import { startBackend, type Backend } from '../examples/backend.js';
import { DirectoryOrderStore, MemoryOrderStore, type OrderStore } from '../examples/order-store.js';
import { OrderClient, callUnary, type Order } from '../examples/orders.js';
import { expectGrpcError, useTestPool } from './helpers/servers.js';
import { readAll } from './helpers/streams.js';

describe('example backends ServiceA and ServiceB', () => {
  const pool = useTestPool();

  async function startPair(store: OrderStore = new MemoryOrderStore()) {
    const start = async (name: string) => {
      const backend = await startBackend({ name, port: 0, store, logger: silentLogger });
      await backend.ready;
      pool.defer(() => backend.forceStop());
      const client = pool.track(new OrderClient(backend.address, grpc.credentials.createInsecure()));
      return { backend, client };
    };
    return { a: await start('ServiceA'), b: await start('ServiceB') };
  }

  const create = (client: OrderClient, key: string, item = 'book') =>
    callUnary(client.CreateOrder, client, { idempotency_key: key, item, quantity: 1 });

  it('both serve orders and name themselves in every response', async () => {
    const { a, b } = await startPair();
    const created = await create(a.client, 'k-1');
    expect(created.served_by).to.equal('ServiceA');
    expect(created.created_by).to.equal('ServiceA');
    const read = await callUnary(b.client.GetOrder, b.client, { id: created.id });
    expect(read).to.include({ id: created.id, served_by: 'ServiceB', created_by: 'ServiceA' });
    const listed = await readAll<Order>(b.client.ListOrders({ limit: 10 }));
    expect(listed.map((o) => [o.id, o.served_by])).to.deep.equal([[created.id, 'ServiceB']]);
  });

  it('CreateOrder is idempotent by key: the same key twice returns the first order', async () => {
    const { a, b } = await startPair();
    const first = await create(a.client, 'same-key', 'book');
    const again = await create(a.client, 'same-key', 'lamp');
    const elsewhere = await create(b.client, 'same-key', 'chair');
    expect(again.id).to.equal(first.id);
    expect(elsewhere.id).to.equal(first.id);
    expect(elsewhere.item).to.equal('book');
    const listed = await readAll<Order>(a.client.ListOrders({ limit: 0 }));
    expect(listed).to.have.length(1);
  });

  it('refuses a CreateOrder without an idempotency key with INVALID_ARGUMENT', async () => {
    const { a } = await startPair();
    const error = await expectGrpcError(create(a.client, ''));
    expect(error.code).to.equal(grpc.status.INVALID_ARGUMENT);
    expect(error.details).to.match(/idempotency_key is required/);
    expect((await expectGrpcError(create(a.client, 'x'.repeat(129)))).code).to.equal(grpc.status.INVALID_ARGUMENT);
  });

  it('answers NOT_FOUND for an order that does not exist', async () => {
    const { a } = await startPair();
    const error = await expectGrpcError(callUnary(a.client.GetOrder, a.client, { id: 'ord-missing' }));
    expect(error.code).to.equal(grpc.status.NOT_FOUND);
  });

  it('fails calls when told to, and toggles health like SIGUSR2', async () => {
    const { a } = await startPair();
    a.backend.faults.failRate = 1;
    const error = await expectGrpcError(create(a.client, 'k'));
    expect(error.code).to.equal(grpc.status.UNAVAILABLE);
    expect(error.details).to.contain('ServiceA');
    expect(a.backend.toggleHealth()).to.equal('NOT_SERVING');
    expect(a.backend.health.get('orders.v1.OrderService')).to.equal('NOT_SERVING');
    expect(a.backend.toggleHealth()).to.equal('SERVING');
  });

  it('a directory store shared by two backends creates one order per key under concurrency', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'meshlite-orders-'));
    pool.defer(() => rmSync(dir, { recursive: true, force: true }));
    const { a, b } = await startPair(new DirectoryOrderStore(dir));
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => create(i % 2 === 0 ? a.client : b.client, `key-${i % 5}`)));
    const idsByKey = new Map<string, Set<string>>();
    for (const order of results) {
      idsByKey.set(order.idempotency_key, (idsByKey.get(order.idempotency_key) ?? new Set()).add(order.id));
    }
    expect([...idsByKey.values()].map((ids) => ids.size)).to.deep.equal([1, 1, 1, 1, 1]);
    expect(new DirectoryOrderStore(dir).count()).to.equal(5);
  });
});

describe('npm run service (command line)', function () {
  this.timeout(30_000);

  function run(args: string[]): Promise<{ code: number | null; stderr: string; stdout: string }> {
    return new Promise((resolve) => {
      const child = spawn(process.execPath, ['--import', 'tsx', '--conditions=grpc-meshlite-source', 'examples/service.ts', ...args], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stderr = '';
      let stdout = '';
      child.stderr.on('data', (chunk) => (stderr += chunk));
      child.stdout.on('data', (chunk) => (stdout += chunk));
      child.on('exit', (code) => resolve({ code, stderr, stdout }));
    });
  }

  it('rejects an unknown flag with a one-line reason and exit code 2', async () => {
    const result = await run(['--name', 'ServiceA', '--colour', 'blue']);
    expect(result.code).to.equal(2);
    expect(result.stderr.split('\n')[0]).to.equal("service: Unknown option '--colour'");
  });

  it('rejects an invalid port, naming the flag and the value', async () => {
    const result = await run(['--name', 'ServiceA', '--port', '70000']);
    expect(result.code).to.equal(2);
    expect(result.stderr.split('\n')[0]).to.equal('service: --port must be an integer 0-65535, got "70000"');
  });

  it('exits 1 with a clear line when the port is in use', async () => {
    let backend: Backend | undefined;
    try {
      backend = await startBackend({ name: 'Holder', port: 0, store: new MemoryOrderStore(), logger: silentLogger });
      const result = await run(['--name', 'ServiceB', '--port', String(backend.port)]);
      expect(result.code).to.equal(1);
      expect(result.stderr.trim()).to.equal(`service: ServiceB: cannot listen on 127.0.0.1:${backend.port}: the port is already in use`);
    } finally {
      backend?.forceStop();
    }
  });
});
