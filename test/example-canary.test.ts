// The canary demo's parts (npm start -- --scenario canary): its configs, the load's tagged share,
// and the backend fault that fails the mirrored copies.
import * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import { parseMeshConfig } from '../src/index.js';
import { silentLogger } from '../src/observability/logger.js';
import { startBackend } from '../examples/backend.js';
import { CANARY_HEADER, CANARY_PHASES, canaryConfig } from '../examples/canary.js';
import { LoadGenerator } from '../examples/load.js';
import { MemoryOrderStore } from '../examples/order-store.js';
import { OrderClient } from '../examples/orders.js';
import { useTestPool } from './helpers/servers.js';

describe('the canary demo (examples/canary.ts)', () => {
  const pool = useTestPool();

  it('gives every phase a valid config whose route "split" is the phase\'s, after the x-canary route', () => {
    const addresses = { ServiceA: '127.0.0.1:1001', ServiceB: '127.0.0.1:1002' };
    const splits = CANARY_PHASES.map((phase) => {
      const orders = parseMeshConfig(canaryConfig(addresses, phase.split)).services['orders']!;
      expect(orders.endpoints.map((e) => [e.name, e.address, e.labels])).to.deep.equal([
        ['ServiceA', '127.0.0.1:1001', { version: 'v1' }],
        ['ServiceB', '127.0.0.1:1002', { version: 'v2' }],
      ]);
      expect(orders.routes!.map((r) => r.name)).to.deep.equal(['x-canary', 'split']);
      const split = orders.routes![1]!;
      return [split.destinations!.find((d) => d.subset === 'v2')?.weight ?? 0, split.fault?.abort?.percent, split.mirror?.subset];
    });
    expect(splits).to.deep.equal([
      [0, undefined, undefined],
      [10, undefined, undefined],
      [50, undefined, undefined],
      [100, undefined, undefined],
      [1, 20, undefined],
      [0, undefined, 'v2'],
    ]);
  });

  it('tags every tenth call with x-canary, and a backend told to fails exactly the calls without it', async () => {
    const backend = await startBackend({
      name: 'ServiceB',
      port: 0,
      store: new MemoryOrderStore(),
      logger: silentLogger,
      faults: { failWithoutHeader: CANARY_HEADER.name },
    });
    await backend.ready;
    pool.defer(() => backend.forceStop());
    const client = pool.track(new OrderClient(backend.address, grpc.credentials.createInsecure()));
    // CreateOrder only: GetOrder would need an order first.
    const load = new LoadGenerator(client, { ratePerSecond: 400, createShare: 1, keyPrefix: 'canary-test', header: CANARY_HEADER });
    load.start();
    await new Promise((resolve) => setTimeout(resolve, 300));
    await load.stop();
    const { records } = load;
    expect(records.length).to.be.greaterThan(20);
    const tagged = records.filter((r) => r.withHeader);
    expect(tagged).to.have.length(Math.floor(records.length / 10));
    expect(tagged.every((r) => r.code === grpc.status.OK && r.servedBy === 'ServiceB')).to.equal(true);
    const others = records.filter((r) => !r.withHeader);
    expect(new Set(others.map((r) => `${r.code} ${r.details}`))).to.deep.equal(
      new Set([`${grpc.status.UNAVAILABLE} ServiceB: injected failure of a call without x-canary`]),
    );
  });
});
