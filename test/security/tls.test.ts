// TLS and mTLS to a service's endpoints, from the mesh config, against real TLS servers on
// 127.0.0.1 with certificates made by openssl.
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import { createMesh, HealthService, HealthState, type ConfigEvent, type MeshConfigInput } from 'grpc-meshlite';
import { OrderClient, callUnary, orderServiceDefinition, type Order } from '../../examples/orders.js';
import { testCa, type CertFiles } from '../helpers/certs.js';
import { memoryLogger } from '../helpers/logs.js';
import { callLoop } from '../helpers/mesh.js';
import { expectGrpcError, nextEvent, useTestPool } from '../helpers/servers.js';
import { until as waitFor } from '../helpers/until.js';

describe('TLS to the endpoints (real TLS servers)', function () {
  this.timeout(20_000);
  const pool = useTestPool();

  /** An orders server over TLS; `clientCa` makes it require a client certificate signed by it. */
  async function tlsServer(name: string, files: CertFiles, clientCa?: string) {
    const server = new grpc.Server();
    server.addService(orderServiceDefinition, {
      GetOrder: (_call: grpc.ServerUnaryCall<unknown, Order>, callback: grpc.sendUnaryData<Order>) =>
        callback(null, { id: 'o', item: '', quantity: 0, idempotency_key: '', created_by: '', created_at_ms: '0', served_by: name }),
    });
    new HealthService(new HealthState({ '': 'SERVING' })).addTo(server);
    const credentials = grpc.ServerCredentials.createSsl(
      clientCa ? readFileSync(clientCa) : null,
      [{ cert_chain: readFileSync(files.certFile), private_key: readFileSync(files.keyFile) }],
      clientCa !== undefined,
    );
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', credentials, (error, bound) => (error ? reject(error) : resolve(bound))),
    );
    pool.defer(() => server.forceShutdown());
    return `127.0.0.1:${port}`;
  }

  function meshWith(address: string, tls: NonNullable<MeshConfigInput['services'][string]['tls']>, serverName?: string) {
    const config: MeshConfigInput = {
      services: {
        orders: { endpoints: [{ name: 'A', address, ...(serverName && { serverName }) }], tls, balancer: { slowStart: { windowMs: 0 } } },
      },
    };
    const mesh = createMesh({ config });
    pool.defer(() => mesh.close());
    const client = pool.track(mesh.client(OrderClient, 'orders'));
    const get = () => callUnary(client.GetOrder, client, { id: 'x' }, new grpc.Metadata(), { deadline: Date.now() + 3000 });
    return { mesh, client, get };
  }

  it("verifies each endpoint's certificate against its own address, not the mesh service's name", async () => {
    const ca = testCa(pool);
    const address = await tlsServer('A', ca.issue('server-a', 'serverAuth'));
    const { get } = meshWith(address, { caFile: ca.caFile });
    expect((await get()).served_by).to.equal('A');
  });

  it("refuses a certificate that does not carry the expected name; an endpoint's serverName says which name to expect", async () => {
    const ca = testCa(pool);
    const address = await tlsServer('B', ca.issue('server-b', 'serverAuth', 'DNS:orders-b.internal'));
    const wrong = meshWith(address, { caFile: ca.caFile });
    const error = await expectGrpcError(wrong.get());
    expect(error.code).to.equal(grpc.status.UNAVAILABLE);
    expect(error.details).to.match(/127\.0\.0\.1.*(altnames|not in the cert)|ERR_TLS_CERT_ALTNAME_INVALID/i);
    const right = meshWith(address, { caFile: ca.caFile }, 'orders-b.internal');
    expect((await right.get()).served_by).to.equal('B');
    const serviceWide = meshWith(address, { caFile: ca.caFile, serverName: 'orders-b.internal' });
    expect((await serviceWide.get()).served_by).to.equal('B');
  });

  it('presents the client certificate from the config to a server that requires one (mTLS)', async () => {
    const ca = testCa(pool);
    const address = await tlsServer('A', ca.issue('server-a', 'serverAuth'), ca.caFile);
    const withoutCert = meshWith(address, { caFile: ca.caFile });
    // Said as what it is, in the call's details and on the status page — not only OpenSSL's alert.
    const refused = await expectGrpcError(withoutCert.get());
    expect(refused.code).to.equal(grpc.status.UNAVAILABLE);
    const hint = 'the server asked for a client certificate (mutual TLS) and none is configured: set services.orders.tls.certFile/keyFile';
    expect(refused.details).to.contain(`A (${address}) not connected (TRANSIENT_FAILURE: ${hint}`);
    const lastError = withoutCert.mesh.snapshot('orders')[0]!.endpoints[0]!.lastError ?? '';
    expect(lastError.startsWith(hint), lastError).to.equal(true);
    const client = ca.issue('client', 'clientAuth');
    const withCert = meshWith(address, { caFile: ca.caFile, certFile: client.certFile, keyFile: client.keyFile });
    expect((await withCert.get()).served_by).to.equal('A');
  });

  it('refuses a rotation to a bad or mismatched file, naming it and never its contents; the credentials in use keep serving', async () => {
    const ca = testCa(pool);
    const address = await tlsServer('A', ca.issue('server-a', 'serverAuth'), ca.caFile);
    const client = ca.issue('client', 'clientAuth');
    const other = ca.issue('other', 'clientAuth');
    const { mesh, get } = meshWith(address, { caFile: ca.caFile, certFile: client.certFile, keyFile: client.keyFile, refreshMs: 100 });
    expect((await get()).served_by).to.equal('A');

    let refused = nextEvent<ConfigEvent>((listener) => mesh.events.onConfigRejected(listener));
    const goodKey = readFileSync(client.keyFile);
    writeFileSync(client.keyFile, readFileSync(other.keyFile)); // a key that does not match the certificate
    const event = await refused;
    expect(event.source).to.contain(client.keyFile);
    expect(event.error).to.contain(`the key in ${client.keyFile} does not belong to the certificate in ${client.certFile}`);
    expect(event.error).not.to.contain('PRIVATE KEY');
    expect((await get()).served_by).to.equal('A');

    // A key of another type (an RSA key beside the EC certificate, as a half-done rotation from
    // RSA to EC leaves it): OpenSSL keeps the two in separate slots and takes the pair.
    refused = nextEvent<ConfigEvent>((listener) => mesh.events.onConfigRejected(listener));
    writeFileSync(client.keyFile, generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }));
    expect((await refused).error).to.contain(
      `the key in ${client.keyFile} does not belong to the certificate in ${client.certFile} (a key of type rsa, a certificate of type ec)`,
    );
    expect((await get()).served_by).to.equal('A');

    // A key file caught half-written: OpenSSL's decoder error alone named no file.
    refused = nextEvent<ConfigEvent>((listener) => mesh.events.onConfigRejected(listener));
    writeFileSync(client.keyFile, goodKey.subarray(0, Math.floor(goodKey.length / 2)));
    const halfWritten = (await refused).error;
    expect(halfWritten).to.contain(`the key file ${client.keyFile} cannot be read as a private key`);
    expect(halfWritten).not.to.contain(goodKey.toString().split('\n')[1]!.slice(0, 16));
    expect((await get()).served_by).to.equal('A');

    refused = nextEvent<ConfigEvent>((listener) => mesh.events.onConfigRejected(listener));
    writeFileSync(client.keyFile, goodKey);
    const goodCa = readFileSync(ca.caFile);
    writeFileSync(ca.caFile, 'not a certificate');
    expect((await refused).error).not.to.contain('not a certificate');
    expect((await get()).served_by).to.equal('A');

    // PEM markers around bytes that are no certificate: Node's secure context takes that CA
    // without a word, and every new connection would then fail its handshake.
    refused = nextEvent<ConfigEvent>((listener) => mesh.events.onConfigRejected(listener));
    writeFileSync(ca.caFile, `${goodCa.toString()}-----BEGIN CERTIFICATE-----\nMIIBbroken\n-----END CERTIFICATE-----\n`);
    expect((await refused).error).to.contain(`the CA file ${ca.caFile}: certificate 2 of 2 does not parse`);
    expect((await get()).served_by).to.equal('A');

    // A file that went missing is the one named.
    refused = nextEvent<ConfigEvent>((listener) => mesh.events.onConfigRejected(listener));
    unlinkSync(client.certFile);
    expect((await refused).error).to.contain(`cannot read ${client.certFile}: ENOENT`);
    expect((await get()).served_by).to.equal('A');
  });

  it('verifies a SPIFFE identity (URI SAN) instead of a host name when the config names identities', async () => {
    const ca = testCa(pool);
    const address = await tlsServer('A', ca.issue('server-spiffe', 'serverAuth', 'URI:spiffe://mesh/ns/shop/sa/orders'));
    const right = meshWith(address, { caFile: ca.caFile, identities: ['spiffe://mesh/ns/shop/sa/orders'] });
    expect((await right.get()).served_by).to.equal('A');
    const wrong = meshWith(address, { caFile: ca.caFile, identities: ['spiffe://mesh/ns/shop/sa/payments'] });
    const error = await expectGrpcError(wrong.get());
    expect(error.code).to.equal(grpc.status.UNAVAILABLE);
    expect(error.details).to.contain('carries none of the expected identities (spiffe://mesh/ns/shop/sa/payments)');
  });

  it('rotates the client certificate under steady load with no failed call', async () => {
    const ca = testCa(pool);
    const address = await tlsServer('A', ca.issue('server-a', 'serverAuth'), ca.caFile);
    const first = ca.issue('client-1', 'clientAuth');
    const { logger, lines } = memoryLogger('info');
    const config: MeshConfigInput = {
      services: {
        orders: {
          endpoints: [{ name: 'A', address }],
          tls: { caFile: ca.caFile, certFile: first.certFile, keyFile: first.keyFile, refreshMs: 100 },
          balancer: { slowStart: { windowMs: 0 } },
        },
      },
    };
    const mesh = createMesh({ config, logger });
    pool.defer(() => mesh.close());
    const client = pool.track(mesh.client(OrderClient, 'orders'));
    const loop = callLoop(client);
    pool.defer(() => loop.stop());
    await waitFor(() => loop.count > 20);

    // A new pair, written the way cert-manager and SPIRE agents do: each file replaced at once.
    const second = ca.issue('client-2', 'clientAuth');
    writeFileSync(`${first.certFile}.new`, readFileSync(second.certFile));
    writeFileSync(`${first.keyFile}.new`, readFileSync(second.keyFile));
    renameSync(`${first.keyFile}.new`, first.keyFile);
    renameSync(`${first.certFile}.new`, first.certFile);
    await waitFor(() => lines.some((line) => line.msg === 'TLS files rotated: new connections use them'), { timeoutMs: 5000 });
    const after = loop.count;
    await waitFor(() => loop.count > after + 20);
    // (Had a refresh fallen between the two renames, the half-rotated pair would have been
    // refused and the next refresh taken the whole one: either way no call fails.)
    expect((await loop.stop()).errors).to.deep.equal([]);
  });
});
