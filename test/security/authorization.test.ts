// Identity-based authorization over mutual TLS: real TLS servers on 127.0.0.1, certificates
// with DNS and SPIFFE URI names made by openssl, the server stack's authorization layer.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import { createServerStack, HealthService, HealthState, serverTls } from 'grpc-meshlite';
import { HealthClient } from 'grpc-meshlite/layers';
import { OrderClient, callUnary, orderServiceDefinition, type Order } from '../../examples/orders.js';
import { testCa, type CertFiles, type TestCa } from '../helpers/certs.js';
import { memoryLogger } from '../helpers/logs.js';
import { expectGrpcError, unary, useTestPool } from '../helpers/servers.js';

const CREATE = 'orders.v1.OrderService/CreateOrder';

describe('authorization by mutual-TLS identity (real TLS servers)', function () {
  this.timeout(20_000);
  const pool = useTestPool();

  async function server(ca: TestCa) {
    const { logger, lines, raw } = memoryLogger('info');
    const stack = createServerStack({
      logger,
      authorization: {
        allow: { 'orders.v1.OrderService': ['spiffe://mesh/web', '*.reports.internal'], [CREATE]: ['spiffe://mesh/checkout'] },
      },
    });
    const grpcServer = new grpc.Server({ interceptors: stack.interceptors });
    let handled = 0;
    const answer = (_call: unknown, callback: grpc.sendUnaryData<Order>) => {
      handled++;
      callback(null, { id: 'o', item: '', quantity: 0, idempotency_key: 'k', created_by: '', created_at_ms: '0', served_by: 'A' });
    };
    grpcServer.addService(orderServiceDefinition, { GetOrder: answer, CreateOrder: answer });
    new HealthService(new HealthState({ '': 'SERVING' })).addTo(grpcServer);
    const tls = serverTls({ caFile: ca.caFile, ...pick(ca.issue('server', 'serverAuth')) }, { logger });
    pool.defer(() => tls.provider.close());
    const port = await new Promise<number>((resolve, reject) =>
      grpcServer.bindAsync('127.0.0.1:0', tls.credentials, (error, bound) => (error ? reject(error) : resolve(bound))),
    );
    pool.defer(() => grpcServer.forceShutdown());
    return { address: `127.0.0.1:${port}`, lines, raw, handled: () => handled, tls };
  }

  const pick = ({ certFile, keyFile }: CertFiles) => ({ certFile, keyFile });

  function client(address: string, ca: TestCa, identity?: CertFiles) {
    const credentials = grpc.credentials.createSsl(
      readFileSync(ca.caFile),
      identity ? readFileSync(identity.keyFile) : null,
      identity ? readFileSync(identity.certFile) : null,
    );
    const orders = pool.track(new OrderClient(address, credentials));
    const call = (method: 'GetOrder' | 'CreateOrder') =>
      method === 'GetOrder'
        ? callUnary(orders.GetOrder, orders, { id: 'x' })
        : callUnary(orders.CreateOrder, orders, { idempotency_key: 'k', item: 'i', quantity: 1 });
    return { orders, call, credentials };
  }

  it('lets a caller on the list through, by SPIFFE URI or DNS name, per method', async () => {
    const ca = testCa(pool);
    const { address } = await server(ca);
    const web = client(address, ca, ca.issue('web', 'clientAuth', 'URI:spiffe://mesh/web'));
    expect((await web.call('GetOrder')).served_by).to.equal('A');
    const reports = client(address, ca, ca.issue('reports', 'clientAuth', 'DNS:batch.reports.internal'));
    expect((await reports.call('GetOrder')).served_by).to.equal('A');
    const checkout = client(address, ca, ca.issue('checkout', 'clientAuth', 'URI:spiffe://mesh/checkout'));
    expect((await checkout.call('CreateOrder')).served_by).to.equal('A');
  });

  it('answers UNAUTHENTICATED without a certificate and PERMISSION_DENIED to an identity not on the list, before the handler, logging the identity only', async () => {
    const ca = testCa(pool);
    const { address, lines, raw, handled } = await server(ca);
    const anonymous = client(address, ca);
    const unauthenticated = await expectGrpcError(anonymous.call('GetOrder'));
    expect([unauthenticated.code, unauthenticated.details]).to.deep.equal([
      grpc.status.UNAUTHENTICATED,
      "/orders.v1.OrderService/GetOrder needs a client certificate the server trusts (mutual TLS): none was presented, or it is not signed by the server's CA",
    ]);
    const webIdentity = ca.issue('web', 'clientAuth', 'URI:spiffe://mesh/web');
    const web = client(address, ca, webIdentity);
    const denied = await expectGrpcError(web.call('CreateOrder')); // web may read, not create
    expect([denied.code, denied.details]).to.deep.equal([
      grpc.status.PERMISSION_DENIED,
      'spiffe://mesh/web may not call /orders.v1.OrderService/CreateOrder',
    ]);
    expect(handled()).to.equal(0);
    const refusal = lines.find((line) => line.msg === 'refused: identity not allowed')!;
    expect(refusal).to.include({ identity: 'spiffe://mesh/web', method: CREATE });
    const logged = raw.join('');
    expect(logged).not.to.contain('BEGIN');
    expect(logged).not.to.contain(readFileSync(webIdentity.keyFile, 'utf8').split('\n')[1]!);
    expect(logged).not.to.contain(readFileSync(webIdentity.certFile, 'utf8').split('\n')[1]!);
  });

  it('keeps health checking reachable without a certificate (the mesh probes every endpoint)', async () => {
    const ca = testCa(pool);
    const { address } = await server(ca);
    const health = pool.track(new HealthClient(address, client(address, ca).credentials));
    const answer = await unary<{ status: string }>((callback) => health.check({ service: '' }, {}, callback));
    expect(answer.status).to.equal('SERVING');
  });

  it("refuses a bad rotation of the server's own files, keeps serving, and takes a good one", async () => {
    const ca = testCa(pool);
    const { address, tls, lines, raw } = await server(ca);
    const events: Array<{ kind: string; reason?: string }> = [];
    tls.provider.onEvent((event) => events.push(event));
    const web = client(address, ca, ca.issue('web', 'clientAuth', 'URI:spiffe://mesh/web'));
    expect((await web.call('GetOrder')).served_by).to.equal('A');
    const serverKey = join(ca.dir, 'server.key');
    const good = readFileSync(serverKey);
    writeFileSync(serverKey, readFileSync(join(ca.dir, 'web.key'))); // not the server certificate's key
    tls.provider.refresh();
    expect(events.map((e) => e.kind)).to.deep.equal(['refused']);
    const mismatch = `the key in ${serverKey} does not belong to the certificate in ${join(ca.dir, 'server.crt')}`;
    expect(events[0]!.reason).to.equal(mismatch);
    expect((await web.call('GetOrder')).served_by).to.equal('A');
    writeFileSync(serverKey, good); // the files in use again: nothing new to load
    tls.provider.refresh();
    expect(events.map((e) => e.kind)).to.deep.equal(['refused']);
    ca.issue('server', 'serverAuth'); // a renewed certificate and key, in the same files
    tls.provider.refresh();
    expect(events.map((e) => e.kind)).to.deep.equal(['refused', 'loaded']);
    // An operator sees both in the server's log, with the reason and never the files' contents.
    const rotations = lines.filter((line) => String(line.msg).startsWith('TLS files'));
    expect(rotations.map((line) => [line.level, line.msg])).to.deep.equal([
      [50, 'TLS files refused; the credentials in use stay'],
      [30, 'TLS files rotated: new connections use them'],
    ]);
    expect(rotations[0]!['reason']).to.equal(mismatch);
    expect(raw.join('')).not.to.match(/PRIVATE KEY|BEGIN CERTIFICATE/);
    const fresh = client(address, ca, ca.issue('web2', 'clientAuth', 'URI:spiffe://mesh/web'));
    expect((await fresh.call('GetOrder')).served_by).to.equal('A');
  });
});
