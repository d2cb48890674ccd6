// Host names that fan out, against a real DNS server (UDP, on 127.0.0.1) the test controls.
// Only 127.0.0.1 has a backend; the other records are loopback addresses nothing listens on
// (connections refused at once), endpoints that never connect, as a dead pod's would.
import * as grpc from '@grpc/grpc-js';
import type { MeterProvider } from '@opentelemetry/api';
import { expect } from 'chai';
import { createMesh, type DiscoveryEvent, type MeshConfigInput } from 'grpc-meshlite';
import { OrderClient, callUnary } from '../../examples/orders.js';
import { startDns } from '../helpers/dns.js';
import { startFakeBackend } from '../helpers/fake-backend.js';
import { split, until } from '../helpers/mesh.js';
import { testMeter, valueOf } from '../helpers/metrics.js';
import { expectGrpcError, useTestPool } from '../helpers/servers.js';
import { until as waitFor } from '../helpers/until.js';

const SERVICE = 'orders.v1.OrderService';

describe('DNS names that fan out (real DNS server)', function () {
  this.timeout(20_000);
  const pool = useTestPool();

  async function setup(
    name: string,
    records: string[] | undefined,
    {
      refreshMs = 1000,
      refused = [],
      meterProvider,
    }: { refreshMs?: number; refused?: Array<'A' | 'AAAA'>; meterProvider?: MeterProvider } = {},
  ) {
    const dns = await startDns(pool);
    if (records) dns.records.set(name, records);
    for (const type of refused) dns.refused.add(type);
    const backend = await startFakeBackend('ServiceA');
    pool.defer(() => backend.stop());
    const port = backend.address.split(':')[1];
    const config: MeshConfigInput = {
      services: {
        orders: {
          endpoints: [{ name: 'orders', address: `${name}:${port}`, weight: 3, priority: 1 }],
          discovery: { dns: { servers: [dns.address], refreshMs } },
          healthCheck: { serviceName: SERVICE, probeIntervalMs: 0 },
          balancer: { slowStart: { windowMs: 0 } },
        },
      },
    };
    const mesh = createMesh({ config, ...(meterProvider && { meterProvider }) });
    pool.defer(() => mesh.close());
    const discovery: DiscoveryEvent[] = [];
    pool.defer(mesh.events.onDiscovery((event) => discovery.push(event)));
    const client = pool.track(mesh.client(OrderClient, 'orders'));
    client.getChannel().getConnectivityState(true);
    return { dns, mesh, client, port, backend, discovery };
  }

  const endpoints = (mesh: ReturnType<typeof createMesh>) =>
    (mesh.snapshot('orders')[0]?.endpoints ?? [])
      .map((e) => [e.name, e.address, e.weight, e.priority])
      .sort(([a], [b]) => (String(a) < String(b) ? -1 : 1));

  it("makes one endpoint of each A/AAAA record, with the entry's weight and priority, and follows a change in the records", async () => {
    const { dns, mesh, client, port } = await setup('orders.test', ['127.0.0.1', '127.0.0.2', '::1']);
    await until(mesh, (e) => Object.keys(e).length === 3 && e['orders@127.0.0.1']?.usable === true);
    expect(endpoints(mesh)).to.deep.equal([
      ['orders@127.0.0.1', `127.0.0.1:${port}`, 3, 1],
      ['orders@127.0.0.2', `127.0.0.2:${port}`, 3, 1],
      ['orders@::1', `[::1]:${port}`, 3, 1],
    ]);
    expect(await split(client, 3)).to.deep.equal({ ServiceA: 3 });

    // The records change: the next lookup (refreshMs 1 s) follows them.
    dns.records.set('orders.test', ['127.0.0.1', '127.0.0.3']);
    await until(mesh, (e) => e['orders@127.0.0.3'] !== undefined && e['orders@127.0.0.2'] === undefined, { timeoutMs: 5000 });
    expect(endpoints(mesh).map(([name]) => name)).to.deep.equal(['orders@127.0.0.1', 'orders@127.0.0.3']);
  });

  it('keeps the addresses it had when a lookup fails, and says so once', async () => {
    const meter = await testMeter('aggregated');
    pool.defer(() => meter.shutdown());
    const { dns, mesh, discovery } = await setup('orders.test', ['127.0.0.1', '127.0.0.2'], { meterProvider: meter.provider });
    const source = { 'meshlite.service': 'orders', 'meshlite.source': 'DNS orders.test' };
    const state = async () => {
      const metrics = await meter.collect();
      return [valueOf(metrics.get('meshlite.discovery.up'), source), valueOf(metrics.get('meshlite.discovery.outages'), source)];
    };
    await until(mesh, (e) => Object.keys(e).length === 2);
    dns.records.delete('orders.test'); // NXDOMAIN from now on
    // Two lookups later (an A and an AAAA query each), the endpoints are the last ones found.
    const asked = dns.queries.get('orders.test') ?? 0;
    await waitFor(() => (dns.queries.get('orders.test') ?? 0) >= asked + 4, { timeoutMs: 5000 });
    expect(endpoints(mesh).map(([name]) => name)).to.deep.equal(['orders@127.0.0.1', 'orders@127.0.0.2']);
    // Said once, with what serves meanwhile; and again when the name resolves.
    const said = discovery.map((e) => [e.source, e.kind, e.reason, e.endpoints]);
    expect(said).to.deep.equal([['DNS orders.test', 'unavailable', 'lookup failed (ENOTFOUND); its last 2 address(es) keep serving', 2]]);
    expect(await state()).to.deep.equal([0, 1]); // down, one outage
    dns.records.set('orders.test', ['127.0.0.1']);
    await waitFor(() => discovery.length === 2, { timeoutMs: 5000 });
    expect([discovery[1]!.kind, discovery[1]!.reason]).to.deep.equal(['synced', 'resolves again, to 1 address(es)']);
    expect(await state()).to.deep.equal([1, 1]);
  });

  it('resolves a name whose AAAA query is refused with its A records (as grpc-js does), saying the refused query once', async () => {
    // Split-horizon and some corporate resolvers answer A and refuse AAAA.
    const { dns, mesh, client, port, discovery } = await setup('orders.test', ['127.0.0.1', '127.0.0.2'], { refused: ['AAAA'] });
    await until(mesh, (e) => Object.keys(e).length === 2 && e['orders@127.0.0.1']?.usable === true);
    expect(endpoints(mesh)).to.deep.equal([
      ['orders@127.0.0.1', `127.0.0.1:${port}`, 3, 1],
      ['orders@127.0.0.2', `127.0.0.2:${port}`, 3, 1],
    ]);
    expect(await split(client, 4)).to.deep.equal({ ServiceA: 4 });
    // Two more lookups (refreshMs 1 s), each refused again: said once, not at each lookup.
    const asked = dns.queries.get('orders.test') ?? 0;
    await waitFor(() => (dns.queries.get('orders.test') ?? 0) >= asked + 4, { timeoutMs: 5000 });
    const said = () => discovery.map((e) => [e.source, e.kind, e.reason, e.endpoints]);
    expect(said()).to.deep.equal([
      ['DNS orders.test', 'skipped', 'AAAA query failed (EREFUSED); the name resolves to its A records alone', 2],
    ]);

    // AAAA answers again, then A is refused: the A addresses last found keep serving beside the AAAA ones.
    dns.records.set('orders.test', ['127.0.0.1', '127.0.0.2', '::1']);
    dns.refused.clear();
    await until(mesh, (e) => e['orders@::1'] !== undefined, { timeoutMs: 5000 });
    dns.refused.add('A');
    dns.records.set('orders.test', ['127.0.0.1', '::1']);
    await waitFor(() => discovery.length === 3, { timeoutMs: 5000 });
    expect(said().slice(1)).to.deep.equal([
      ['DNS orders.test', 'synced', 'AAAA answers again; the name resolves to 3 address(es)', 3],
      ['DNS orders.test', 'skipped', 'A query failed (EREFUSED); its last 2 A address(es) keep serving, beside the AAAA records', 3],
    ]);
    expect(endpoints(mesh).map(([name]) => name)).to.deep.equal(['orders@127.0.0.1', 'orders@127.0.0.2', 'orders@::1']);
  });

  it('fails a name only when neither query answers, with the DNS error', async () => {
    const { client } = await setup('orders.test', ['127.0.0.1'], { refused: ['A', 'AAAA'] });
    const error = await expectGrpcError(
      callUnary(client.GetOrder, client, { id: 'x' }, new grpc.Metadata(), { deadline: Date.now() + 5000 }),
    );
    expect(error.details).to.equal('no endpoints for orders: DNS orders.test: EREFUSED');
  });

  it('looks a name up again as soon as one of its addresses loses its connection (a pod replaced), not only on refresh', async () => {
    const { dns, mesh, backend } = await setup('orders.test', ['127.0.0.1'], { refreshMs: 3_600_000 });
    await until(mesh, (e) => e['orders']?.usable === true);
    const asked = dns.queries.get('orders.test') ?? 0;
    backend.stop();
    await waitFor(() => (dns.queries.get('orders.test') ?? 0) > asked, { timeoutMs: 5000 });
  });

  it('queues the first calls until the name is looked up, then fails them naming the name and the DNS error', async () => {
    const { client } = await setup('missing.test', undefined);
    // Made at once: the lookup is still on its way, so the call waits for its answer.
    const error = await expectGrpcError(
      callUnary(client.GetOrder, client, { id: 'x' }, new grpc.Metadata(), { deadline: Date.now() + 5000 }),
    );
    expect(error.code).to.equal(grpc.status.UNAVAILABLE);
    expect(error.details).to.equal('no endpoints for orders: DNS missing.test: ENOTFOUND');
  });

  it('serves the first call made before the name is looked up', async () => {
    const { client } = await setup('orders.test', ['127.0.0.1']);
    const order = await callUnary(client.GetOrder, client, { id: 'x' }, new grpc.Metadata(), { deadline: Date.now() + 5000 });
    expect(order.served_by).to.equal('ServiceA');
  });
});
