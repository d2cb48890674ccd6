// A real Prometheus scrapes a running mesh and answers the success rate per endpoint.
import { connect } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import { servePrometheus } from 'grpc-meshlite/prometheus';
import { OrderClient } from '../../examples/orders.js';
import { freePort } from '../../examples/ports.js';
import { VERSION } from '../../src/version.js';
import { getOrder } from '../helpers/clients.js';
import { startFakeBackend } from '../helpers/fake-backend.js';
import { connectAndWait, meshClient } from '../helpers/mesh.js';
import { startPrometheus } from '../helpers/prometheus.js';
import { expectGrpcError, useTestPool } from '../helpers/servers.js';

describe('Prometheus (real Prometheus server)', function () {
  this.timeout(60_000);
  const pool = useTestPool();

  it('scrapes the mesh: success rate per endpoint by PromQL, and the gRPC metrics by their Prometheus names', async () => {
    // Port 0: the exporter picks a free port, and its url says which (Prometheus scrapes that).
    const prometheus = await servePrometheus({ port: 0, serviceName: 'meshlite-test' });
    pool.defer(() => prometheus.close());
    const exporterAddress = new URL(prometheus.url).host;
    expect(exporterAddress).to.match(/^127\.0\.0\.1:[1-9]\d*$/);
    const [a, b] = await Promise.all([startFakeBackend('ServiceA'), startFakeBackend('ServiceB')]);
    for (const backend of [a, b]) pool.defer(() => backend.stop());
    a.behaviour.status = grpc.status.UNAVAILABLE; // every attempt at A fails; retries go to B
    const nobody = await freePort(); // nothing listens there
    const config = {
      services: {
        // A service whose one endpoint refuses connections: its calls fail for want of an
        // endpoint, then its breaker opens and refuses them.
        gone: {
          endpoints: [{ name: 'Nobody', address: `127.0.0.1:${nobody}` }],
          client: { retry: { maxAttempts: 1 }, breaker: { volumeThreshold: 2, resetTimeoutMs: 600_000 } },
        },
        orders: {
          endpoints: [
            { name: 'ServiceA', address: a.address },
            { name: 'ServiceB', address: b.address },
          ],
          balancer: { slowStart: { windowMs: 0 }, ejection: { enabled: false } },
          client: { retry: { maxAttempts: 3, idempotent: true, backoff: { baseMs: 1, capMs: 1 } } },
        },
      },
    };
    const { mesh, client } = meshClient(pool, { meterProvider: prometheus.meterProvider, config });
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

    // The mesh's own counters, as an operator queries them after an outage.
    const gone = pool.track(mesh.client(OrderClient, 'gone'));
    for (let i = 0; i < 6; i++) expect((await expectGrpcError(getOrder(gone))).code).to.equal(grpc.status.UNAVAILABLE);
    mesh.update(config); // applied
    expect(() => mesh.update({ services: { orders: { endpoints: 'none' } } } as never)).to.throw(); // rejected
    const value = async (promql: string) => (await server.query(promql)).map((r) => Number(r.value[1]));
    const eventually = async (promql: string, ok: (values: number[]) => boolean) => {
      let values: number[] = [];
      for (let tries = 0; tries < 100 && !ok((values = await value(promql))); tries++)
        await new Promise((resolve) => setTimeout(resolve, 200));
      return values;
    };
    const positive = (values: number[]) => values.length === 1 && values[0]! > 0;
    expect(await eventually('meshlite_service_unavailable_total{meshlite_service="gone"}', positive)).to.satisfy(positive);
    expect(await eventually('meshlite_client_breaker_refused_total{meshlite_client="gone"}', positive)).to.satisfy(positive);
    expect(await value('meshlite_client_breaker_state{meshlite_client="gone",meshlite_state="open"}')).to.deep.equal([1]);
    expect(await value('meshlite_client_breaker_state{meshlite_client="orders",meshlite_state="closed"}')).to.deep.equal([1]);
    const reloads = 'meshlite_config_reloads_total{meshlite_config="mesh-config"}';
    const both = (values: number[]) => values.length === 2;
    expect(await eventually(reloads, both)).to.deep.equal([1, 1]);
    expect(await value('meshlite_service_tier_load_ratio{meshlite_service="orders"}')).to.deep.equal([1]);
    expect(await value('grpc_subchannel_open_connections{grpc_target="mesh:///orders"}')).to.deep.equal([2]);
    expect(await value('grpc_subchannel_connection_attempts_succeeded_total{grpc_target="mesh:///orders"}')).to.satisfy(
      (values: number[]) => values[0]! >= 2,
    );
    expect(await value('grpc_subchannel_connection_attempts_failed_total{grpc_target="mesh:///gone"}')).to.satisfy(positive);
    expect(await value('sum(meshlite_endpoint_health_failures_total{meshlite_service="orders"})')).to.deep.equal([0]);
    // A66: every attempt counted as it started, the 20 calls' retries included.
    expect(await value('sum(grpc_client_attempt_started_total{grpc_target="mesh:///orders"})')).to.satisfy(
      (values: number[]) => values[0]! > 20,
    );
    // The resource's service.name, and the scope's version on every series of the mesh.
    expect((await server.query('target_info')).map((r) => r.metric['service_name'])).to.deep.equal(['meshlite-test']);
    const scoped = await server.query('meshlite_endpoint_attempts_total');
    expect(new Set(scoped.map((r) => `${r.metric['otel_scope_name']} ${r.metric['otel_scope_version']}`))).to.deep.equal(
      new Set([`grpc-meshlite ${VERSION}`]),
    );
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
