// Endpoints from a real etcd (Debian's etcd-server, started by the test helper), in etcd's
// gRPC naming format.
import { inspect } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import { createMesh, type DiscoveryEvent, type MeshConfigInput } from 'grpc-meshlite';
import { OrderClient, callUnary } from '../../examples/orders.js';
import { readFileSync } from 'node:fs';
import { Etcd3 } from 'etcd3';
import { startEtcdProcess } from '../../examples/etcd-server.js';
import { testCa } from '../helpers/certs.js';
import { startEtcd, type EtcdServer } from '../helpers/etcd.js';
import { startFakeBackend, type FakeBackend } from '../helpers/fake-backend.js';
import { allUsable, callLoop, connectAndWait, split, until } from '../helpers/mesh.js';
import { FreezableProxy } from '../helpers/proxy.js';
import { expectGrpcError, useTestPool } from '../helpers/servers.js';
import { until as waitFor } from '../helpers/until.js';

const SERVICE = 'orders.v1.OrderService';
const PREFIX = 'services/orders';

/** A value exactly as Go's json.Marshal of etcd's endpoints `Update` writes it. */
const goValue = (address: string, metadata: Record<string, unknown> | null = null) =>
  `{"Op":0,"Addr":"${address}","Metadata":${metadata === null ? 'null' : JSON.stringify(metadata)}}`;

describe('discovery from etcd (real etcd)', function () {
  this.timeout(30_000);
  const pool = useTestPool();

  async function backends(...names: string[]): Promise<FakeBackend[]> {
    const started = await Promise.all(names.map((name) => startFakeBackend(name)));
    for (const backend of started) pool.defer(() => backend.stop());
    return started;
  }

  const config = (etcdEndpoint: string): MeshConfigInput => ({
    services: {
      orders: {
        discovery: { etcd: { endpoints: [etcdEndpoint], prefix: PREFIX, dialTimeoutMs: 500 } },
        healthCheck: { serviceName: SERVICE, probeIntervalMs: 0 },
        balancer: { slowStart: { windowMs: 0 } },
        client: { retry: { maxAttempts: 3, idempotent: true, backoff: { baseMs: 1, capMs: 1 } } },
      },
    },
  });

  function meshOn(etcdEndpoint: string) {
    const mesh = createMesh({ config: config(etcdEndpoint) });
    pool.defer(() => mesh.close());
    const events: DiscoveryEvent[] = [];
    mesh.events.onDiscovery((event) => events.push(event));
    const client = pool.track(mesh.client(OrderClient, 'orders'));
    client.getChannel().getConnectivityState(true);
    return { mesh, client, events };
  }

  const put = (etcd: EtcdServer, id: string, value: string) => etcd.client.put(`${PREFIX}/${id}`).value(value).exec();
  const names = (mesh: ReturnType<typeof meshOn>['mesh']) => (mesh.snapshot('orders')[0]?.endpoints ?? []).map((e) => e.name).sort();

  it('refuses a bad etcd section naming the field and the value, never a password', () => {
    const attempt = (etcd: unknown) => {
      try {
        createMesh({ config: { services: { orders: { discovery: { etcd } } } } as MeshConfigInput });
      } catch (error) {
        return (error as Error).message;
      }
      throw new Error('expected a ConfigError');
    };
    expect(attempt({ endpoints: [], prefix: PREFIX })).to.contain(
      'services.orders.discovery.etcd.endpoints: must list at least one etcd endpoint',
    );
    expect(attempt({ endpoints: ['127.0.0.1:2379'], prefix: 'services/orders/' })).to.contain(
      'services.orders.discovery.etcd.prefix: must not end with "/" (keys are "<prefix>/<id>"), got "services/orders/"',
    );
    expect(attempt({ endpoints: ['etcd 1'], prefix: PREFIX })).to.contain(
      'services.orders.discovery.etcd.endpoints[0]: must be "host:port"',
    );
    const inUrl = attempt({ endpoints: ['https://mesh:hunter2@127.0.0.1:2379'], prefix: PREFIX });
    expect(inUrl).to.contain('credentials go in `auth`').and.not.contain('hunter2');
    // Nor in the error's value: Node prints it with an uncaught error, a logger serialises it.
    let thrown: unknown;
    try {
      createMesh({
        config: { services: { orders: { discovery: { etcd: { endpoints: ['https://mesh:hunter2@127.0.0.1:2379'], prefix: PREFIX } } } } },
      });
    } catch (error) {
      thrown = error;
    }
    expect(inspect(thrown)).to.contain('[REDACTED]@127.0.0.1:2379').and.not.contain('hunter2');
    const secret = attempt({ endpoints: ['127.0.0.1:2379'], prefix: PREFIX, auth: { username: 'mesh', password: ['hunter2'] } });
    expect(secret).to.contain('services.orders.discovery.etcd.auth.password').and.contain('[REDACTED]').and.not.contain('hunter2');
    expect(attempt({ endpoints: ['127.0.0.1:2379'], prefix: PREFIX, dialTimeoutMs: 5 })).to.contain('dialTimeoutMs');
  });

  it("discovers endpoints as Go's endpoints.Manager writes them, and follows adds, removes and re-weights with no failed call", async () => {
    const etcd = await startEtcd(pool);
    const [a, b, c] = await backends('ServiceA', 'ServiceB', 'ServiceC');
    await put(etcd, 'a', goValue(a!.address)); // no Metadata: named by its key
    await put(etcd, 'b', goValue(b!.address, { name: 'ServiceB', weight: 1 }));
    const { mesh, client } = meshOn(etcd.endpoint);
    await until(mesh, allUsable('a', 'ServiceB'));
    const loop = callLoop(client);
    pool.defer(() => loop.stop());

    await put(etcd, 'c', goValue(c!.address, { name: 'ServiceC', priority: 0, weight: 1, zone: 'z1' }));
    await until(mesh, allUsable('a', 'ServiceB', 'ServiceC'));
    await etcd.client.delete().key(`${PREFIX}/a`).exec();
    await until(mesh, (endpoints) => endpoints['a'] === undefined);
    await put(etcd, 'b', goValue(b!.address, { name: 'ServiceB', weight: 3 }));
    await until(mesh, (endpoints) => endpoints['ServiceB']?.weight === 3);

    expect((await loop.stop()).errors).to.deep.equal([]);
    expect(names(mesh)).to.deep.equal(['ServiceB', 'ServiceC']);
    expect(await split(client, 8)).to.deep.equal({ ServiceB: 6, ServiceC: 2 });
  });

  it("lists with etcd's own user/password authentication", async () => {
    const etcd = await startEtcd(pool);
    const [a] = await backends('ServiceA');
    await put(etcd, 'a', goValue(a!.address, { name: 'ServiceA' }));
    await etcd.client.user('root').create('root-secret');
    await etcd.client.role('root').create();
    await etcd.client.user('root').addRole('root');
    await etcd.client.user('mesh').create('mesh-secret');
    await etcd.client.role('reader').create();
    await etcd.client.role('reader').grant({ permission: 'Read', range: etcd.client.range({ prefix: `${PREFIX}/` }) });
    await etcd.client.user('mesh').addRole('reader');
    await etcd.client.auth.authEnable();
    const withAuth = (password: string): MeshConfigInput => {
      const base = config(etcd.endpoint);
      base.services['orders']!.discovery!.etcd!.auth = { username: 'mesh', password };
      return base;
    };

    const mesh = createMesh({ config: withAuth('mesh-secret') });
    pool.defer(() => mesh.close());
    const client = pool.track(mesh.client(OrderClient, 'orders'));
    await connectAndWait(mesh, client, ['ServiceA']);
    expect(await split(client, 2)).to.deep.equal({ ServiceA: 2 });

    // A wrong password is refused by etcd: the calls say so, the password appears nowhere.
    const refused = createMesh({ config: withAuth('wrong-secret') });
    pool.defer(() => refused.close());
    const events: DiscoveryEvent[] = [];
    refused.events.onDiscovery((event) => events.push(event));
    await waitFor(() => events.some((e) => e.kind === 'unavailable'), { timeoutMs: 10_000 });
    const reason = events.find((e) => e.kind === 'unavailable')!.reason;
    expect(reason).to.match(/authentication failed/i);
    expect(reason).not.to.contain('wrong-secret');
  });

  it('lists over TLS with a client certificate (mTLS to etcd)', async () => {
    const ca = testCa(pool);
    // etcd's gateway dials its own client port with its server certificate: it needs both usages.
    const server = ca.issue('etcd', 'serverAuth,clientAuth');
    const client = ca.issue('mesh', 'clientAuth');
    const etcd = await startEtcdProcess({ tls: { ...server, caFile: ca.caFile } });
    pool.defer(() => etcd.dispose());
    const [a] = await backends('ServiceA');
    const writer = new Etcd3({
      hosts: `https://${etcd.endpoint}`,
      credentials: {
        rootCertificate: readFileSync(ca.caFile),
        certChain: readFileSync(client.certFile),
        privateKey: readFileSync(client.keyFile),
      },
    });
    pool.defer(() => writer.close());
    await writer
      .put(`${PREFIX}/a`)
      .value(goValue(a!.address, { name: 'ServiceA' }))
      .exec();

    const settings = config(etcd.endpoint);
    settings.services['orders']!.discovery!.etcd!.tls = client;
    const mesh = createMesh({ config: settings });
    pool.defer(() => mesh.close());
    const orders = pool.track(mesh.client(OrderClient, 'orders'));
    await connectAndWait(mesh, orders, ['ServiceA'], { timeoutMs: 10_000 });
    expect(await split(orders, 2)).to.deep.equal({ ServiceA: 2 });
  });

  it('serves a call made before the first list (it waits for it), and keeps serving through a change of its etcd section', async () => {
    const etcd = await startEtcd(pool);
    const [a] = await backends('ServiceA');
    await put(etcd, 'a', goValue(a!.address, { name: 'ServiceA' }));
    const mesh = createMesh({ config: config(etcd.endpoint) });
    pool.defer(() => mesh.close());
    const client = pool.track(mesh.client(OrderClient, 'orders'));
    expect(
      (await callUnary(client.GetOrder, client, { id: 'x' }, new grpc.Metadata(), { deadline: Date.now() + 5000 })).served_by,
    ).to.equal('ServiceA');

    const loop = callLoop(client);
    pool.defer(() => loop.stop());
    const changed = config(etcd.endpoint);
    changed.services['orders']!.discovery!.etcd!.dialTimeoutMs = 800;
    mesh.update(changed);
    // Even a section that cannot work keeps the last endpoint set serving.
    const broken = config('127.0.0.1:1');
    mesh.update(broken);
    const served = loop.count;
    await waitFor(() => loop.count > served + 50);
    expect((await loop.stop()).errors).to.deep.equal([]);
    expect(names(mesh)).to.deep.equal(['ServiceA']);
  });

  it('skips a malformed value with the reason, and the rest keeps serving', async () => {
    const etcd = await startEtcd(pool);
    const [b] = await backends('ServiceB');
    await put(etcd, 'b', goValue(b!.address, { name: 'ServiceB' }));
    await put(etcd, 'json', '{"Op":0,"Addr":');
    await put(etcd, 'delete-op', '{"Op":1,"Addr":"127.0.0.1:1"}');
    await put(etcd, 'address', goValue('999.1.1.1:80'));
    await put(etcd, 'weight', goValue('127.0.0.1:2', { weight: -1 }));
    const { mesh, client, events } = meshOn(etcd.endpoint);
    await until(mesh, allUsable('ServiceB'));
    expect(names(mesh)).to.deep.equal(['ServiceB']);
    const skipped = events.filter((e) => e.kind === 'skipped').map((e) => e.reason);
    expect(skipped).to.have.length(4);
    expect(skipped.join('\n'))
      .to.contain('key "services/orders/json": value is not JSON')
      .and.contain('key "services/orders/delete-op": Op is 1, not 0 (Add)')
      .and.contain('key "services/orders/address": Addr "999.1.1.1:80"')
      .and.contain('key "services/orders/weight": Metadata.weight: too small: expected number to be >=0, got -1');
    expect(await split(client, 3)).to.deep.equal({ ServiceB: 3 });
  });

  it('serves values Go reads leniently (lower-case fields, a number for a string and a string for a number); an Addr without a port is skipped, said once', async () => {
    const etcd = await startEtcd(pool);
    const [a, b, c] = await backends('ServiceA', 'ServiceB', 'ServiceC');
    await put(etcd, 'a', `{"op":0,"addr":"${a!.address}","metadata":{"name":"ServiceA"}}`);
    await put(etcd, 'b', goValue(b!.address, { name: 'ServiceB', zone: 1 }));
    await put(etcd, 'c', goValue(c!.address, { name: 'ServiceC', weight: '2' }));
    await put(etcd, 'portless', goValue('127.0.0.1'));
    const { mesh, client, events } = meshOn(etcd.endpoint);
    await until(mesh, allUsable('ServiceA', 'ServiceB', 'ServiceC'));
    expect(await split(client, 8)).to.deep.equal({ ServiceA: 2, ServiceB: 2, ServiceC: 4 });

    // The same value put again (a registrar re-putting it at each keep-alive round): not said again.
    await put(etcd, 'portless', goValue('127.0.0.1'));
    await put(etcd, 'a', `{"op":0,"addr":"${a!.address}","metadata":{"name":"ServiceA","weight":"3"}}`);
    await until(mesh, (endpoints) => endpoints['ServiceA']?.weight === 3);
    expect(events.filter((e) => e.kind === 'skipped').map((e) => e.reason)).to.deep.equal([
      `key "${PREFIX}/portless": Addr "127.0.0.1" has no port (grpc-go's etcd resolver dials Addr as written, so no client can reach it): write "127.0.0.1:<port>"`,
    ]);
  });

  it('fails calls with UNAVAILABLE naming etcd and its address while it is down at start, and serves once it is up', async () => {
    const etcd = await startEtcd(pool);
    const [a] = await backends('ServiceA');
    await put(etcd, 'a', goValue(a!.address, { name: 'ServiceA' }));
    await etcd.stop();
    const { mesh, client, events } = meshOn(etcd.endpoint);
    await waitFor(() => events.some((e) => e.kind === 'unavailable'), { timeoutMs: 10_000 });
    const error = await expectGrpcError(callUnary(client.GetOrder, client, { id: 'x' }));
    expect(error.code).to.equal(grpc.status.UNAVAILABLE);
    expect(error.details).to.contain(`no endpoints for orders: etcd ${etcd.endpoint} prefix ${PREFIX}:`);

    await etcd.start();
    await until(mesh, allUsable('ServiceA'), { timeoutMs: 10_000 });
    expect(await split(client, 2)).to.deep.equal({ ServiceA: 2 });
  });

  it('keeps serving the last endpoint set while etcd is down, and after it is back follows changes with a fresh list', async () => {
    const etcd = await startEtcd(pool);
    const [a, b] = await backends('ServiceA', 'ServiceB');
    await put(etcd, 'a', goValue(a!.address, { name: 'ServiceA' }));
    await put(etcd, 'b', goValue(b!.address, { name: 'ServiceB' }));
    const { mesh, client, events } = meshOn(etcd.endpoint);
    await until(mesh, allUsable('ServiceA', 'ServiceB'));
    const loop = callLoop(client);
    pool.defer(() => loop.stop());

    await etcd.kill();
    await waitFor(() => events.some((e) => e.kind === 'unavailable'), { timeoutMs: 10_000 });
    const servedWhileDown = loop.count;
    await waitFor(() => loop.count > servedWhileDown + 20); // calls go on without etcd
    expect(names(mesh)).to.deep.equal(['ServiceA', 'ServiceB']);

    await etcd.start();
    await etcd.client.delete().key(`${PREFIX}/b`).exec();
    await until(mesh, (endpoints) => endpoints['ServiceB'] === undefined, { timeoutMs: 10_000 });
    expect((await loop.stop()).errors).to.deep.equal([]);
    const unavailable = events.find((e) => e.kind === 'unavailable')!;
    expect(unavailable.reason).to.contain('the last endpoint set keeps serving');
    expect(events.filter((e) => e.kind === 'synced')).to.have.length.greaterThanOrEqual(2);
  });

  it('lists afresh after a network cut, even when the history it missed was compacted', async () => {
    const etcd = await startEtcd(pool);
    const proxy = await new FreezableProxy(Number(etcd.endpoint.split(':')[1])).listen();
    pool.defer(() => proxy.close());
    const [a, b, c] = await backends('ServiceA', 'ServiceB', 'ServiceC');
    await put(etcd, 'a', goValue(a!.address, { name: 'ServiceA' }));
    await put(etcd, 'b', goValue(b!.address, { name: 'ServiceB' }));
    const { mesh, events } = meshOn(proxy.address);
    await until(mesh, allUsable('ServiceA', 'ServiceB'));

    proxy.cut();
    await waitFor(() => events.some((e) => e.kind === 'unavailable'), { timeoutMs: 10_000 });
    // Changes the source cannot see, then the history of them compacted away.
    await etcd.client.delete().key(`${PREFIX}/a`).exec();
    const { header } = await put(etcd, 'c', goValue(c!.address, { name: 'ServiceC' }));
    await etcd.client.kv.compact({ revision: header.revision, physical: true });
    proxy.restore();

    await until(mesh, (endpoints) => endpoints['ServiceA'] === undefined && allUsable('ServiceB', 'ServiceC')(endpoints), {
      timeoutMs: 10_000,
    });
    expect(names(mesh)).to.deep.equal(['ServiceB', 'ServiceC']);
  });
});
