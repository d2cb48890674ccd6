// Never worse than plain grpc-js: a slow or half-broken backend, or a client that starts
// before its backends, must not fail calls that plain grpc-js would have served.
import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import { isConfigError, type EndpointEvent, type MeshConfigInput } from 'grpc-meshlite';
import { OrderClient, callUnary, type Order } from '../../examples/orders.js';
import { md } from '../helpers/clients.js';
import { startFakeBackend, type FakeBackend } from '../helpers/fake-backend.js';
import { callLoop, connectAndWait, meshClient, readyMeshClient, until } from '../helpers/mesh.js';
import { testCa } from '../helpers/certs.js';
import { manualClock } from '../helpers/clock.js';
import { until as untilTrue } from '../helpers/until.js';
import { FreezableProxy } from '../helpers/proxy.js';
import { expectGrpcError, startServer, useTestPool } from '../helpers/servers.js';

const SERVICE = 'orders.v1.OrderService';
const GET_ORDER = `${SERVICE}/GetOrder`;

describe('never worse than plain grpc-js', function () {
  this.timeout(20_000);
  const pool = useTestPool();

  async function backends(...names: string[]): Promise<FakeBackend[]> {
    const started = await Promise.all(names.map((name) => startFakeBackend(name)));
    for (const backend of started) pool.defer(() => backend.stop());
    return started;
  }

  const service = (a: FakeBackend, b: FakeBackend, extra: Partial<MeshConfigInput['services'][string]> = {}) => ({
    services: {
      orders: {
        endpoints: [
          { name: 'ServiceA', address: a.address, weight: 1 },
          { name: 'ServiceB', address: b.address, weight: 1 },
        ],
        healthCheck: { serviceName: SERVICE, probeIntervalMs: 0 },
        balancer: { slowStart: { windowMs: 0 } },
        ...extra,
      },
    },
  });

  describe('a slow backend while the retry budget is spent', () => {
    const noBudget = { ratio: 0, minRetriesPerSecond: 0 };

    it('lets the only attempt the budget allows run on to the deadline: slow answers, no failures', async () => {
      const [a, b] = await backends('ServiceA', 'ServiceB');
      a!.behaviour.delayMs = 80;
      const { client } = await readyMeshClient(
        pool,
        { config: service(a!, b!, { client: { retry: { maxAttempts: 3, perAttemptTimeoutMs: 20, idempotent: true, budget: noBudget } } }) },
        ['ServiceA', 'ServiceB'],
      );
      const served: string[] = [];
      for (let i = 0; i < 6; i++) served.push((await getOrder(client)).served_by);
      // Every call at A outlived its per-attempt timeout and was answered anyway.
      expect(served.filter((name) => name === 'ServiceA')).to.have.length(3);
      expect(client.stack.retry!.budget!.snapshot().retries).to.equal(0);
    });

    it('lets the first attempt of a hedged call carry on when the budget refuses the hedge', async () => {
      const [a, b] = await backends('ServiceA', 'ServiceB');
      a!.behaviour.delayMs = 80;
      const hedged = { [`${SERVICE}/GetOrder`]: { idempotent: true, hedging: { delayMs: 5 } } };
      const { client } = await readyMeshClient(
        pool,
        { config: service(a!, b!, { client: { retry: { perAttemptTimeoutMs: 20, budget: noBudget, methods: hedged } } }) },
        ['ServiceA', 'ServiceB'],
      );
      const served: string[] = [];
      for (let i = 0; i < 6; i++) served.push((await getOrder(client)).served_by);
      expect(served.filter((name) => name === 'ServiceA')).to.have.length(3);
      expect(a!.calls).to.have.length(3);
    });
  });

  it('moves a method that stops answering on one endpoint to the other, and leaves the rest of that endpoint in rotation', async () => {
    const [a, b] = await backends('ServiceA', 'ServiceB');
    // The per-attempt timeout runs on this clock: it cuts the attempts A holds when the test
    // says, never one B is slow to answer on a busy machine.
    const clock = manualClock(Date.now());
    const { mesh, client } = await readyMeshClient(
      pool,
      {
        clock,
        config: service(a!, b!, {
          balancer: { slowStart: { windowMs: 0 }, ejection: { consecutiveFailures: 3, baseEjectionMs: 60_000, maxEjectionMs: 60_000 } },
          // Its per-attempt timeout cuts a GetOrder that hangs (DEADLINE_EXCEEDED, a failure of the
          // method there); a hedge's loser would not count (CANCELLED: slower is not failed).
          client: { retry: { budget: false, methods: { [`${SERVICE}/GetOrder`]: { idempotent: true, perAttemptTimeoutMs: 20 } } } },
        }),
      },
      ['ServiceA', 'ServiceB'],
    );
    const getOrdersAtA = () => a!.calls.filter((call) => call.method === 'GetOrder').length;
    /** A GetOrder; when A holds it, its per-attempt timeout runs out. */
    const getOrderCut = async () => {
      const before = getOrdersAtA();
      let ended = false;
      const answer = getOrder(client).finally(() => (ended = true));
      await untilTrue(() => ended || getOrdersAtA() > before);
      if (!ended) clock.tick(20);
      return answer;
    };
    const events: EndpointEvent[] = [];
    mesh.events.onEndpoint((event) => events.push(event));
    a!.behaviour.hangMethods = ['GetOrder'];
    // Smooth 1:1 weights alternate A and B, so every GetOrder that reaches A is followed by a
    // CreateOrder at A: A's own failure count never builds up, only GetOrder's does.
    const served: string[] = [];
    for (let i = 0; i < 12; i++) {
      served.push((await getOrderCut()).served_by);
      for (const n of [1, 2]) await createOrder(client, `k-${i}-${n}`);
    }
    expect(served).to.deep.equal(served.map(() => 'ServiceB'));
    expect(a!.calls.filter((call) => call.method === 'GetOrder')).to.have.length(3);
    expect(a!.calls.filter((call) => call.method === 'CreateOrder')).to.have.length(12);
    const ejections = events.filter((e) => e.kind === 'ejected');
    expect(ejections.map((e) => [e.endpoint, e.method])).to.deep.equal([['ServiceA', GET_ORDER]]);
    expect(ejections[0]!.reason).to.match(
      /^3 consecutive failures \(last: DEADLINE_EXCEEDED\) for orders\.v1\.OrderService\/GetOrder; out for 60000 ms$/,
    );
    const [snapshotA] = mesh.snapshot('orders')[0]!.endpoints;
    expect(snapshotA).to.include({ name: 'ServiceA', status: 'in-rotation' });
    expect(snapshotA!.methods.map((m) => [m.method, m.ejection])).to.deep.equal([[GET_ORDER, 'ejected']]);
  });

  it('ejects a method whose attempts are always outpaced by hedges once they run past their per-attempt timeout', async () => {
    // ServiceA never answers GetOrder; every hedge wins at B. A loser is not a failure by being
    // outpaced, but it keeps its stream to its per-attempt timeout (50 ms), and no answer by
    // then is one — else A kept every fourth GetOrder's first attempt, and each needed a hedge.
    const [a, b] = await backends('ServiceA', 'ServiceB');
    const clock = manualClock(Date.now());
    const { mesh, client } = await readyMeshClient(
      pool,
      {
        clock,
        config: service(a!, b!, {
          balancer: { slowStart: { windowMs: 0 }, ejection: { consecutiveFailures: 3, baseEjectionMs: 60_000, maxEjectionMs: 60_000 } },
          client: {
            retry: {
              budget: false,
              methods: { [GET_ORDER]: { idempotent: true, perAttemptTimeoutMs: 50, hedging: { delayMs: 10, maxAttempts: 2 } } },
            },
          },
        }),
      },
      ['ServiceA', 'ServiceB'],
    );
    const getOrdersAtA = () => a!.calls.filter((call) => call.method === 'GetOrder').length;
    const inFlightAtA = () => mesh.snapshot('orders')[0]!.endpoints.find((e) => e.name === 'ServiceA')!.inFlight;
    /** A GetOrder; when A holds it, the hedge goes after 10 ms, and A's attempt runs to 50 ms. */
    const getOrderHedged = async () => {
      const before = getOrdersAtA();
      let ended = false;
      const answer = getOrder(client).finally(() => (ended = true));
      await untilTrue(() => ended || getOrdersAtA() > before);
      if (!ended) {
        clock.tick(10);
        await answer;
        // The call has its answer; A's attempt is still open until its per-attempt timeout.
        expect(inFlightAtA()).to.equal(1);
        clock.tick(40);
        await untilTrue(() => inFlightAtA() === 0);
      }
      return answer;
    };
    const events: EndpointEvent[] = [];
    mesh.events.onEndpoint((event) => events.push(event));
    a!.behaviour.hangMethods = ['GetOrder'];
    const served: string[] = [];
    for (let i = 0; i < 12; i++) {
      served.push((await getOrderHedged()).served_by);
      for (const n of [1, 2]) await createOrder(client, `k-${i}-${n}`);
    }
    expect(served).to.deep.equal(served.map(() => 'ServiceB'));
    expect(a!.calls.filter((call) => call.method === 'GetOrder')).to.have.length(3);
    const ejections = events.filter((e) => e.kind === 'ejected');
    expect(ejections.map((e) => [e.endpoint, e.method])).to.deep.equal([['ServiceA', GET_ORDER]]);
    expect(ejections[0]!.reason).to.match(/^3 consecutive failures \(last: DEADLINE_EXCEEDED\) for orders\.v1\.OrderService\/GetOrder/);
  });

  it('keeps a method that answers after its hedge won but within its per-attempt timeout', async () => {
    // ServiceA answers GetOrder 30 ms late (on the test's clock); its hedge wins at B after
    // 10 ms every time. Slower than another endpoint is not failed: A answers within its 50 ms
    // per-attempt timeout, its stream still open, and stays in rotation.
    const clock = manualClock(Date.now());
    const a = await startFakeBackend('ServiceA', { clock });
    const [b] = await backends('ServiceB');
    pool.defer(() => a.stop());
    const { mesh, client } = await readyMeshClient(
      pool,
      {
        clock,
        config: service(a, b!, {
          balancer: { slowStart: { windowMs: 0 }, ejection: { consecutiveFailures: 3, baseEjectionMs: 60_000, maxEjectionMs: 60_000 } },
          client: {
            retry: {
              budget: false,
              methods: { [GET_ORDER]: { idempotent: true, perAttemptTimeoutMs: 50, hedging: { delayMs: 10, maxAttempts: 2 } } },
            },
          },
        }),
      },
      ['ServiceA', 'ServiceB'],
    );
    a.behaviour.delayMs = 30;
    const inFlightAtA = () => mesh.snapshot('orders')[0]!.endpoints.find((e) => e.name === 'ServiceA')!.inFlight;
    const events: EndpointEvent[] = [];
    mesh.events.onEndpoint((event) => events.push(event));
    const served: string[] = [];
    for (let i = 0; i < 8; i++) {
      const before = a.calls.length;
      let ended = false;
      const answer = getOrder(client).finally(() => (ended = true));
      await untilTrue(() => ended || a.calls.length > before);
      if (!ended) {
        clock.tick(10);
        served.push((await answer).served_by);
        clock.tick(20);
        await untilTrue(() => inFlightAtA() === 0);
      } else {
        served.push((await answer).served_by);
      }
    }
    expect(served).to.deep.equal(served.map(() => 'ServiceB'));
    expect(a.calls.filter((call) => call.method === 'GetOrder').length).to.be.at.least(3);
    expect(events.filter((e) => e.kind === 'ejected')).to.deep.equal([]);
    expect(mesh.snapshot('orders')[0]!.endpoints.find((e) => e.name === 'ServiceA')).to.include({ status: 'in-rotation' });
  });

  it('lets an ejected endpoint that is connected and healthy serve when the other one dies', async () => {
    const [a, b] = await backends('ServiceA', 'ServiceB');
    const { mesh, client } = await readyMeshClient(
      pool,
      {
        config: service(a!, b!, {
          balancer: { slowStart: { windowMs: 0 }, ejection: { consecutiveFailures: 3, baseEjectionMs: 60_000, maxEjectionMs: 60_000 } },
          client: { retry: { maxAttempts: 1 } },
        }),
      },
      ['ServiceA', 'ServiceB'],
    );
    a!.behaviour.status = grpc.status.UNAVAILABLE;
    for (let i = 0; i < 8; i++) await getOrder(client).catch(() => undefined);
    await until(mesh, (e) => e['ServiceA']!.ejection === 'ejected');
    // A answers again but stays ejected for a minute; then B goes away.
    a!.behaviour = {};
    b!.stop();
    await until(mesh, (e) => !e['ServiceB']!.serving);
    const served: string[] = [];
    for (let i = 0; i < 5; i++) served.push((await getOrder(client)).served_by);
    expect(served).to.deep.equal(['ServiceA', 'ServiceA', 'ServiceA', 'ServiceA', 'ServiceA']);
    expect(mesh.snapshot('orders')[0]!.endpoints[0]).to.include({ name: 'ServiceA', ejection: 'ejected', serving: true });
  });

  describe('servers that close their connections on a timer (max_connection_age)', () => {
    // A standard production setting: the server sends GOAWAY after a connection's age, and
    // the client reconnects. Plain grpc-js queues a pick while its subchannel reconnects; the
    // mesh must too, rather than fail calls for want of a ready endpoint.
    const aged: grpc.ServerOptions = { 'grpc.max_connection_age_ms': 100, 'grpc.max_connection_age_grace_ms': 5000 };

    async function throughReconnects(options: { credentials?: grpc.ServerCredentials; tls?: MeshConfigInput['services'][string]['tls'] }) {
      const backend = await startFakeBackend('ServiceA', {
        server: aged,
        ...(options.credentials && { credentials: options.credentials }),
      });
      pool.defer(() => backend.stop());
      const config: MeshConfigInput = {
        services: {
          orders: {
            endpoints: [{ name: 'ServiceA', address: backend.address }],
            healthCheck: { serviceName: SERVICE, probeIntervalMs: 0 },
            balancer: { slowStart: { windowMs: 0 } },
            ...(options.tls && { tls: options.tls }),
          },
        },
      };
      const { mesh } = meshClient(pool, { config });
      // A plain client on the mesh target: no retry layer to hide what the balancer does.
      const client = pool.track(new OrderClient(mesh.target('orders'), mesh.credentials('orders'), mesh.channelOptions()));
      await connectAndWait(mesh, client, ['ServiceA']);
      let reconnects = 0;
      mesh.events.onEndpoint((event) => event.kind === 'disconnected' && reconnects++);
      const loop = callLoop(client, { concurrency: 4 });
      pool.defer(() => loop.stop());
      await until(mesh, () => reconnects >= 5, { timeoutMs: 10_000 });
      const result = await loop.stop();
      // What the balancer owes: no call failed while the endpoint reconnected. A stream the
      // server refused as its GOAWAY crossed the call (HTTP/2 REFUSED_STREAM, at a 100 ms max
      // age over TLS now and then) is grpc-js's transport below any balancer, plain grpc-js's
      // too; the mesh's retry layer, left out here, retries it as never sent.
      expect(result.errors.filter((e) => e.details !== 'Stream refused by server')).to.deep.equal([]);
      expect(result.served.length).to.be.greaterThan(0);
    }

    it('waits for the endpoint while it reconnects, in plaintext: no failed call', async () => {
      await throughReconnects({});
    });

    it('keeps a reconnected endpoint at its full share: a routine reconnect is no cold start', async () => {
      const backend = await startFakeBackend('ServiceA', { server: aged });
      pool.defer(() => backend.stop());
      const config: MeshConfigInput = {
        services: {
          orders: {
            endpoints: [{ name: 'ServiceA', address: backend.address, weight: 10 }],
            healthCheck: { serviceName: SERVICE, probeIntervalMs: 0 },
            balancer: { slowStart: { windowMs: 60_000 } },
          },
        },
      };
      const { mesh, client } = meshClient(pool, { config });
      await connectAndWait(mesh, client, ['ServiceA']);
      let reconnected = 0;
      mesh.events.onEndpoint((event) => event.kind === 'connected' && reconnected++);
      await until(mesh, (e) => reconnected >= 2 && e['ServiceA']!.usable, { timeoutMs: 10_000 });
      expect(mesh.snapshot('orders')[0]!.endpoints[0]).to.include({ status: 'in-rotation', effectiveWeight: 10 });
    });

    it('stops waiting for a reconnect that does not finish (a hung process): calls then fail fast', async () => {
      const backend = await startFakeBackend('ServiceA');
      pool.defer(() => backend.stop());
      const proxy = await new FreezableProxy(backend.port).listen();
      pool.defer(() => proxy.close());
      const clock = manualClock(Date.now());
      const config: MeshConfigInput = {
        services: {
          orders: {
            endpoints: [{ name: 'ServiceA', address: proxy.address }],
            healthCheck: { serviceName: SERVICE, probeIntervalMs: 0 },
            balancer: { slowStart: { windowMs: 0 } },
          },
        },
      };
      const { mesh } = meshClient(pool, { config, clock });
      const client = pool.track(new OrderClient(mesh.target('orders'), mesh.credentials('orders'), mesh.channelOptions()));
      await connectAndWait(mesh, client, ['ServiceA']);
      // The process hangs and its connection is lost: the new one is accepted, never answered.
      proxy.freeze();
      proxy.cut();
      proxy.restore();
      await until(mesh, (e) => e['ServiceA']!.connectivity === 'CONNECTING');
      const waiting = callUnary(client.GetOrder, client, { id: 'x' }, new grpc.Metadata(), { deadline: Date.now() + 60_000 });
      clock.tick(999); // a routine reconnect's time: the call waits
      await until(mesh, (_e, snapshot) => snapshot?.state === 'CONNECTING');
      clock.tick(1); // a second without the connection: no longer a routine reconnect
      const failed = await expectGrpcError(waiting);
      expect(failed.code).to.equal(grpc.status.UNAVAILABLE);
      expect(failed.details).to.contain('not connected (CONNECTING');
    });

    it('waits for the endpoint while it reconnects, over mutual TLS: no failed call', async () => {
      const ca = testCa(pool);
      const server = ca.issue('server', 'serverAuth');
      const client = ca.issue('client', 'clientAuth');
      const credentials = grpc.ServerCredentials.createSsl(
        readFileSync(ca.caFile),
        [{ cert_chain: readFileSync(server.certFile), private_key: readFileSync(server.keyFile) }],
        true,
      );
      await throughReconnects({ credentials, tls: { caFile: ca.caFile, certFile: client.certFile, keyFile: client.keyFile } });
    });
  });

  describe('waitForReady before any backend is up', () => {
    /** Two free ports where nothing listens yet, and a way to start the backends on them. */
    async function lateBackends() {
      const ports = await Promise.all(
        [0, 1].map(async () => {
          const server = await startServer(() => {});
          server.server.forceShutdown();
          return server.port;
        }),
      );
      const config = {
        services: {
          orders: {
            endpoints: [
              { name: 'ServiceA', address: `127.0.0.1:${ports[0]}` },
              { name: 'ServiceB', address: `127.0.0.1:${ports[1]}` },
            ],
            healthCheck: { serviceName: SERVICE },
            client: { breaker: { volumeThreshold: 3 } },
          },
        },
      };
      const start = async () => {
        for (const [i, name] of ['ServiceA', 'ServiceB'].entries()) {
          const backend = await startFakeBackend(name, { port: ports[i] });
          pool.defer(() => backend.stop());
        }
      };
      return { config, start };
    }

    /** Resolves once the balancer has tried both endpoints and found neither. */
    const nothingUp = (mesh: Parameters<typeof until>[0]) => until(mesh, (_endpoints, snapshot) => snapshot?.state === 'TRANSIENT_FAILURE');

    it('queues a call that asks to wait, through an open breaker, until an endpoint is ready', async () => {
      const { config, start } = await lateBackends();
      const { mesh, client } = meshClient(pool, { config });
      const waiting = getOrder(client, new grpc.Metadata({ waitForReady: true }));
      await nothingUp(mesh);
      // Calls that do not wait fail fast, as with plain grpc-js, and open the breaker.
      for (let i = 0; i < 4; i++) expect((await expectGrpcError(getOrder(client))).code).to.equal(grpc.status.UNAVAILABLE);
      expect(client.stack.breaker!.state(`${SERVICE}/GetOrder`)).to.equal('open');
      const alsoWaiting = getOrder(client, new grpc.Metadata({ waitForReady: true }));
      await start();
      expect((await waiting).served_by).to.be.oneOf(['ServiceA', 'ServiceB']);
      expect((await alsoWaiting).served_by).to.be.oneOf(['ServiceA', 'ServiceB']);
    });

    it('honours waitForReady from the per-method service config', async () => {
      const { config, start } = await lateBackends();
      const serviceConfig = JSON.stringify({ methodConfig: [{ name: [{ service: SERVICE, method: 'GetOrder' }], waitForReady: true }] });
      const { mesh, client } = meshClient(pool, { config }, { clientOptions: { 'grpc.service_config': serviceConfig } });
      const waiting = getOrder(client);
      await nothingUp(mesh);
      expect((await expectGrpcError(createOrder(client, 'k'))).code).to.equal(grpc.status.UNAVAILABLE);
      await start();
      expect((await waiting).served_by).to.be.oneOf(['ServiceA', 'ServiceB']);
    });

    it('fails with DEADLINE_EXCEEDED when nothing comes up in time', async () => {
      const { config } = await lateBackends();
      const { client } = meshClient(pool, { config });
      const error = await expectGrpcError(getOrder(client, new grpc.Metadata({ waitForReady: true }), 300));
      expect(error.code).to.equal(grpc.status.DEADLINE_EXCEEDED);
    });
  });

  describe("the client's own grpc-js service config", () => {
    it('bounds a call by its method timeout, as grpc-js does', async () => {
      const [a, b] = await backends('ServiceA', 'ServiceB');
      a!.behaviour.delayMs = 2000;
      b!.behaviour.delayMs = 2000;
      const serviceConfig = JSON.stringify({ methodConfig: [{ name: [{ service: SERVICE }], timeout: '0.2s' }] });
      const { client } = await readyMeshClient(pool, { config: service(a!, b!) }, ['ServiceA', 'ServiceB'], {
        clientOptions: { 'grpc.service_config': serviceConfig },
      });
      const error = await expectGrpcError(getOrder(client, new grpc.Metadata(), 10_000));
      expect(error.code).to.equal(grpc.status.DEADLINE_EXCEEDED);
    });

    it('refuses what would fight the mesh, naming the field', () => {
      const config = { services: { orders: { endpoints: [{ name: 'ServiceA', address: '127.0.0.1:1' }] } } };
      const refused = (serviceConfig: object) => {
        try {
          meshClient(pool, { config }, { clientOptions: { 'grpc.service_config': JSON.stringify(serviceConfig) } });
        } catch (error) {
          expect(isConfigError(error)).to.equal(true);
          return (error as Error).message;
        }
        throw new Error('expected a ConfigError');
      };
      const retryPolicy = {
        maxAttempts: 3,
        initialBackoff: '0.1s',
        maxBackoff: '1s',
        backoffMultiplier: 2,
        retryableStatusCodes: ['UNAVAILABLE'],
      };
      expect(refused({ methodConfig: [{ name: [{ service: SERVICE }], retryPolicy }] })).to.contain(
        'methodConfig[0].retryPolicy: conflicts with the mesh',
      );
      expect(refused({ loadBalancingConfig: [{ round_robin: {} }] })).to.contain(
        'loadBalancingConfig: a mesh:/// channel is balanced by the mesh',
      );
      expect(refused({ methodConfig: [{ name: [{ service: SERVICE }], timeout: 'soon' }] })).to.contain('methodConfig[0].timeout');
    });
  });
});

function getOrder(client: OrderClient, metadata = new grpc.Metadata(), timeoutMs = 5000): Promise<Order> {
  return callUnary(client.GetOrder, client, { id: 'x' }, metadata, { deadline: Date.now() + timeoutMs });
}

function createOrder(client: OrderClient, key: string): Promise<Order> {
  return callUnary(client.CreateOrder, client, { idempotency_key: key, item: 'book', quantity: 1 }, md({ 'idempotency-key': key }), {
    deadline: Date.now() + 5000,
  });
}
