// Servers that register themselves in a real etcd: lease, drain, death, lost lease.
import { spawn } from 'node:child_process';
import * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import { createMesh, drainServer, registerInEtcd, type DrainPhase, type MeshConfigInput, type RegistrationEvent } from 'grpc-meshlite';
import { Etcd3 } from 'etcd3';
import { silentLogger } from '../../src/observability/logger.js';
import { startBackend } from '../../examples/backend.js';
import { MemoryOrderStore } from '../../examples/order-store.js';
import { OrderClient } from '../../examples/orders.js';
import { startEtcd, type EtcdServer } from '../helpers/etcd.js';
import { memoryLogger } from '../helpers/logs.js';
import { callLoop, connectAndWait, until } from '../helpers/mesh.js';
import { useTestPool } from '../helpers/servers.js';
import { until as waitFor } from '../helpers/until.js';

const SERVICE = 'orders.v1.OrderService';
const PREFIX = 'services/orders';

describe('self-registration in etcd (real etcd)', function () {
  this.timeout(30_000);
  const pool = useTestPool();

  const config = (etcd: EtcdServer): MeshConfigInput => ({
    services: {
      orders: {
        discovery: { etcd: { endpoints: [etcd.endpoint], prefix: PREFIX } },
        healthCheck: { serviceName: SERVICE, probeIntervalMs: 0 },
        balancer: { slowStart: { windowMs: 0 } },
        client: { retry: { maxAttempts: 3, idempotent: true, backoff: { baseMs: 1, capMs: 1 } } },
      },
    },
  });

  function meshClient(etcd: EtcdServer) {
    const mesh = createMesh({ config: config(etcd) });
    pool.defer(() => mesh.close());
    const client = pool.track(mesh.client(OrderClient, 'orders'));
    return { mesh, client };
  }

  async function backend(name: string, etcd: EtcdServer) {
    const started = await startBackend({
      name,
      port: 0,
      store: new MemoryOrderStore(),
      logger: silentLogger,
      drain: { graceMs: 50 },
      etcd: { endpoints: [etcd.endpoint], prefix: PREFIX },
    });
    pool.defer(() => started.forceStop());
    await started.ready;
    return started;
  }

  const keys = async (etcd: EtcdServer) => Object.keys(await etcd.client.getAll().prefix(`${PREFIX}/`).strings()).sort();

  it("writes its endpoint in etcd's gRPC naming format, under a lease", async () => {
    const etcd = await startEtcd(pool);
    const registration = await registerInEtcd({
      etcd: { endpoints: [etcd.endpoint] },
      prefix: PREFIX,
      address: '127.0.0.1:50051',
      name: 'ServiceA',
      weight: 80,
      labels: { version: 'v2' },
      zone: 'eu-1a',
      ttlSeconds: 5,
    });
    pool.defer(() => registration.deregister());
    const value = await etcd.client.get(`${PREFIX}/127.0.0.1:50051`).string();
    expect(value).to.equal(
      '{"Op":0,"Addr":"127.0.0.1:50051","Metadata":{"labels":{"version":"v2"},"name":"ServiceA","priority":0,"weight":80,"zone":"eu-1a"}}',
    );
    const [kv] = (await etcd.client.getAll().prefix(`${PREFIX}/`).exec()).kvs;
    const { TTL } = await etcd.client.leaseClient.leaseTimeToLive({ ID: kv!.lease });
    expect(Number(TTL)).to.be.within(1, 5);
  });

  it('drain deletes the key first: clients stop picking the endpoint before its health says NOT_SERVING, with no failed call', async () => {
    const etcd = await startEtcd(pool);
    const a = await backend('ServiceA', etcd);
    await backend('ServiceB', etcd);
    const { mesh, client } = meshClient(etcd);
    await connectAndWait(mesh, client, ['ServiceA', 'ServiceB']);
    const loop = callLoop(client);
    pool.defer(() => loop.stop());

    const seen: string[] = [];
    a.health.onChange(({ status }) => seen.push(`health ${status}`));
    mesh.events.onEndpoint((event) => event.endpoint === 'ServiceA' && event.kind === 'removed' && seen.push('removed from the rotation'));
    const phases: DrainPhase[] = [];
    const drained = drainServer({ server: a.server, health: a.health, registration: a.registration() }, { graceMs: 200 }, (phase) =>
      phases.push(phase),
    );
    await waitFor(() => phases.includes('deregistered'));
    expect(await keys(etcd)).to.deep.equal([`${PREFIX}/ServiceB`]);
    await drained;
    expect(phases).to.deep.equal(['deregistered', 'not-serving', 'shutting-down', 'stopped']);
    expect(seen[0]).to.equal('removed from the rotation');
    expect(seen).to.include('health NOT_SERVING');
    // The example backends answer NOT_FOUND for an order they do not have: an answer, not a failure.
    expect((await loop.stop()).errors.filter((error) => error.code !== grpc.status.NOT_FOUND)).to.deep.equal([]);
  });

  it('a killed process leaves every client when its lease runs out', async () => {
    const etcd = await startEtcd(pool);
    const b = await backend('ServiceB', etcd);
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', '--conditions=grpc-meshlite-source', 'examples/service.ts', '--name', 'ServiceA', '--log-level', 'silent'].concat(
        ['--etcd', etcd.endpoint, '--etcd-prefix', PREFIX, '--ttl-seconds', '2'],
      ),
      { stdio: 'ignore' },
    );
    pool.defer(() => child.kill('SIGKILL'));
    const { mesh, client } = meshClient(etcd);
    await connectAndWait(mesh, client, ['ServiceA', 'ServiceB'], { timeoutMs: 15_000 });

    child.kill('SIGKILL');
    // Nobody deletes the key: etcd does, when the lease runs out.
    await until(mesh, (endpoints) => endpoints['ServiceA'] === undefined, { timeoutMs: 10_000 });
    expect(await keys(etcd)).to.deep.equal([`${PREFIX}/ServiceB`]);
    expect(b.registration()?.registered).to.equal(true);
  });

  /** A real etcd and one registration in it (deregistered after the test), with the events it emits. */
  async function registeredAlone(address: string, ttlSeconds: number) {
    const etcd = await startEtcd(pool);
    const registration = await registerInEtcd({ etcd: { endpoints: [etcd.endpoint] }, prefix: PREFIX, address, ttlSeconds });
    pool.defer(() => registration.deregister());
    const events: RegistrationEvent[] = [];
    registration.onEvent((event) => events.push(event));
    return { etcd, registration, events };
  }

  it('re-creates a lost lease (revoked behind its back) and puts the key again', async () => {
    const { etcd, registration, events } = await registeredAlone('127.0.0.1:50052', 2);
    const [kv] = (await etcd.client.getAll().prefix(`${PREFIX}/`).exec()).kvs;
    await etcd.client.leaseClient.leaseRevoke({ ID: kv!.lease });
    expect(await keys(etcd)).to.deep.equal([]);

    await waitFor(() => events.some((e) => e.kind === 'registered'), { timeoutMs: 10_000 });
    expect(events.map((e) => e.kind)).to.deep.equal(['lost', 'registered']);
    expect(await keys(etcd)).to.deep.equal([`${PREFIX}/127.0.0.1:50052`]);
    expect(registration.registered).to.equal(true);
  });

  it('puts its key back when something else deletes it while the lease lives', async () => {
    const { etcd, registration, events } = await registeredAlone('127.0.0.1:50053', 30);
    const [before] = (await etcd.client.getAll().prefix(`${PREFIX}/`).exec()).kvs;
    await etcd.client.delete().prefix(`${PREFIX}/`).exec(); // an operator's `etcdctl del --prefix`

    await waitFor(() => events.some((e) => e.kind === 'registered'), { timeoutMs: 10_000 });
    expect(events.map((e) => e.kind)).to.deep.equal(['lost', 'registered']);
    const [after] = (await etcd.client.getAll().prefix(`${PREFIX}/`).exec()).kvs;
    expect([after?.key.toString(), after?.value.toString(), after?.lease]).to.deep.equal([
      before!.key.toString(),
      before!.value.toString(),
      before!.lease,
    ]);
    // Its own deregistration deletes the key for good.
    await registration.deregister();
    expect(await keys(etcd)).to.deep.equal([]);
  });

  it("says 'cannot register: authentication failed' once while etcd refuses its password, never 'lease lost', and registers once it is right", async () => {
    const etcd = await startEtcd(pool);
    await etcd.client.user('root').create('root-secret');
    await etcd.client.role('root').create();
    await etcd.client.user('root').addRole('root');
    await etcd.client.user('mesh').create('old-secret');
    await etcd.client.role('writer').create();
    await etcd.client.role('writer').grant({ permission: 'Readwrite', range: etcd.client.range({ prefix: `${PREFIX}/` }) });
    await etcd.client.user('mesh').addRole('writer');
    await etcd.client.auth.authEnable();
    const root = new Etcd3({ hosts: `http://${etcd.endpoint}`, auth: { username: 'root', password: 'root-secret' } });
    pool.defer(() => root.close());

    const { logger, lines } = memoryLogger('debug');
    const registration = await registerInEtcd({
      etcd: { endpoints: [etcd.endpoint], auth: { username: 'mesh', password: 'new-secret' } },
      prefix: PREFIX,
      address: '127.0.0.1:50055',
      logger,
    });
    pool.defer(() => registration.deregister());
    const events: RegistrationEvent[] = [];
    registration.onEvent((event) => events.push(event));
    // Several attempts, each refused (retried with backoff; the repeats at debug level).
    await waitFor(() => lines.filter((line) => /authentication failed/.test(String(line['reason']))).length >= 3, { timeoutMs: 10_000 });
    const said = lines.filter((line) => line.level >= 40).map((line) => [line.msg, line['reason']]);
    expect(said).to.deep.equal([['cannot register: authentication failed', 'authentication failed']]);
    expect(registration.registered).to.equal(false);

    // The password it uses becomes the right one: it registers.
    await root.user('mesh').setPassword('new-secret');
    await waitFor(() => registration.registered, { timeoutMs: 10_000 });
    expect(events.map((event) => event.kind)).to.deep.equal(['registered']);
    expect(await root.get(`${PREFIX}/127.0.0.1:50055`).string()).to.contain('"Addr":"127.0.0.1:50055"');
  });

  it('keeps watching its key after etcd restarts with the watched revision compacted away', async () => {
    const { etcd, events } = await registeredAlone('127.0.0.1:50054', 30);
    for (let i = 0; i < 5; i++) await etcd.client.put(`other/${i}`).value('x').exec();
    const { header } = await etcd.client.get('other/4').exec();
    await etcd.client.kv.compact({ revision: header.revision, physical: true });
    await etcd.kill();
    await etcd.start();
    await etcd.client.delete().prefix(`${PREFIX}/`).exec();

    await waitFor(() => events.some((e) => e.kind === 'registered'), { timeoutMs: 15_000 });
    expect(await keys(etcd)).to.deep.equal([`${PREFIX}/127.0.0.1:50054`]);
  });
});
