// A real Prometheus scrapes a running mesh and answers the success rate per endpoint.
import { connect } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import { servePrometheus } from 'grpc-meshlite/prometheus';
import { getOrder } from '../helpers/clients.js';
import { startFakeBackend } from '../helpers/fake-backend.js';
import { connectAndWait, meshClient } from '../helpers/mesh.js';
import { startPrometheus } from '../helpers/prometheus.js';
import { useTestPool } from '../helpers/servers.js';

describe('Prometheus (real Prometheus server)', function () {
  this.timeout(60_000);
  const pool = useTestPool();

  it('scrapes the mesh: success rate per endpoint by PromQL, and the gRPC metrics by their Prometheus names', async () => {
    // Port 0: the exporter picks a free port, and its url says which (Prometheus scrapes that).
    const prometheus = await servePrometheus({ port: 0 });
    pool.defer(() => prometheus.close());
    const exporterAddress = new URL(prometheus.url).host;
    expect(exporterAddress).to.match(/^127\.0\.0\.1:[1-9]\d*$/);
    const [a, b] = await Promise.all([startFakeBackend('ServiceA'), startFakeBackend('ServiceB')]);
    for (const backend of [a, b]) pool.defer(() => backend.stop());
    a.behaviour.status = grpc.status.UNAVAILABLE; // every attempt at A fails; retries go to B
    const { mesh, client } = meshClient(pool, {
      meterProvider: prometheus.meterProvider,
      config: {
        services: {
          orders: {
            endpoints: [
              { name: 'ServiceA', address: a.address },
              { name: 'ServiceB', address: b.address },
            ],
            balancer: { slowStart: { windowMs: 0 }, ejection: { enabled: false } },
            client: { retry: { maxAttempts: 3, idempotent: true, backoff: { baseMs: 1, capMs: 1 } } },
          },
        },
      },
    });
    await connectAndWait(mesh, client, ['ServiceA', 'ServiceB']);
    for (let i = 0; i < 20; i++) await getOrder(client);

    const server = await startPrometheus(pool, [exporterAddress]);
    // "or … * 0" keeps an endpoint that never succeeded (no OK series) in the answer, at 0.
    const successRate =
      'sum by (meshlite_endpoint) (meshlite_endpoint_attempts_total{grpc_status="OK"} or meshlite_endpoint_attempts_total * 0)' +
      ' / sum by (meshlite_endpoint) (meshlite_endpoint_attempts_total)';
    // Wait for a scrape (every second) to have happened.
    let rates: Record<string, number> = {};
    for (let tries = 0; tries < 100 && Object.keys(rates).length < 2; tries++) {
      rates = Object.fromEntries((await server.query(successRate)).map((r) => [r.metric['meshlite_endpoint']!, Number(r.value[1])]));
      if (Object.keys(rates).length < 2) await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(rates).to.deep.equal({ ServiceA: 0, ServiceB: 1 });
    const calls = await server.query('sum(grpc_client_call_duration_seconds_count{grpc_target="mesh:///orders",grpc_status="OK"})');
    expect(Number(calls[0]!.value[1])).to.equal(20);
    const p99 = await server.query(
      'histogram_quantile(0.99, sum by (le, meshlite_endpoint) (meshlite_endpoint_attempt_duration_seconds_bucket))',
    );
    expect(p99.map((r) => r.metric['meshlite_endpoint']).sort((x, y) => String(x).localeCompare(String(y)))).to.deep.equal([
      'ServiceA',
      'ServiceB',
    ]);
    expect(p99.every((r) => Number(r.value[1]) > 0)).to.equal(true);
    const inRotation = await server.query('meshlite_endpoint_in_rotation');
    expect(Object.fromEntries(inRotation.map((r) => [r.metric['meshlite_endpoint'], r.value[1]]))).to.deep.equal({
      ServiceA: '1',
      ServiceB: '1',
    });

    // The admin server serves the same text at /metrics.
    const admin = await mesh.serveAdmin({ port: 0, prometheus });
    pool.defer(() => admin.close());
    const text = await (await fetch(`${admin.url}metrics`)).text();
    // Named as grpc-go and grpc-java name them through their OpenTelemetry Prometheus exporters.
    expect(text)
      .to.contain('meshlite_endpoint_attempts_total{')
      .and.contain('grpc_client_call_duration_seconds_bucket{')
      .and.not.contain('grpc_client_call_duration_bucket');
    expect((await fetch(new URL('/other', prometheus.url))).status).to.equal(404);
  });

  it('answers a request target no URL can hold 400 and keeps serving (one bad request must not end the process)', async () => {
    const prometheus = await servePrometheus({ port: 0 });
    pool.defer(() => prometheus.close());
    const { hostname, port } = new URL(prometheus.url);
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(port), hostname, () =>
        socket.end('GET http://[::1/metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'),
      );
      let text = '';
      socket.on('data', (chunk) => (text += chunk.toString()));
      socket.on('end', () => resolve(text));
      socket.on('error', reject);
    });
    expect(answer.split('\r\n')[0]).to.equal('HTTP/1.1 400 Bad Request');
    expect((await fetch(prometheus.url)).status).to.equal(200);
    await prometheus.close();
    await prometheus.close(); // twice is fine
  });
});
