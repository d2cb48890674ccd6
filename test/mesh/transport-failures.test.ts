// A connection or stream that breaks under a call — a backend killed mid-call — is a
// transport failure, whatever code grpc-js gives it: retried like UNAVAILABLE for a call that
// is safe to repeat, and counted against the endpoint.
import { createServer as createHttp2Server, constants as http2, type Http2Server, type ServerHttp2Stream } from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import { callUnary } from '../../examples/orders.js';
import { isTransportFailure } from '../../src/call/transport-failure.js';
import { startFakeBackend } from '../helpers/fake-backend.js';
import { readyMeshClient } from '../helpers/mesh.js';
import { useTestPool } from '../helpers/servers.js';

const SERVICE = 'orders.v1.OrderService';

/** How a dying backend can leave a call: each is what grpc-js reports for it. */
const BREAKS: Record<string, (stream: ServerHttp2Stream) => void> = {
  // Headers sent, then the stream ends with no trailers: INTERNAL "Received RST_STREAM with code 0 (Call ended without gRPC status)".
  'no status': (stream) => {
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' });
    stream.close(http2.NGHTTP2_NO_ERROR);
  },
  // Reset with an internal error: INTERNAL "Received RST_STREAM with code 2 (Internal server error)".
  'reset (internal error)': (stream) => stream.close(http2.NGHTTP2_INTERNAL_ERROR),
  // Reset as a server being shut down does it: CANCELLED "Call cancelled".
  'reset (cancel)': (stream) => stream.close(http2.NGHTTP2_CANCEL),
  // The whole connection goes: UNAVAILABLE.
  'connection destroyed': (stream) => stream.session?.destroy(),
};

describe('transport failures under a call', function () {
  this.timeout(20_000);
  const pool = useTestPool();

  /** A backend that breaks every call it gets in the way `name` says, counting them. */
  async function breakingBackend(name: string) {
    let broken = 0;
    const server: Http2Server = createHttp2Server();
    server.on('stream', (stream) => {
      broken++;
      stream.on('error', () => {});
      BREAKS[name]!(stream);
    });
    server.on('session', (session) => session.on('error', () => {}));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    pool.defer(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const { port } = server.address() as { port: number };
    return { address: `127.0.0.1:${port}`, broken: () => broken };
  }

  for (const name of Object.keys(BREAKS)) {
    it(`never reaches an idempotent caller while another endpoint serves: ${name}`, async () => {
      const dying = await breakingBackend(name);
      const b = await startFakeBackend('ServiceB');
      pool.defer(() => b.stop());
      const { client } = await readyMeshClient(
        pool,
        {
          config: {
            services: {
              orders: {
                endpoints: [
                  { name: 'Dying', address: dying.address, weight: 99 },
                  { name: 'ServiceB', address: b.address, weight: 1 },
                ],
                // The dying backend would break its health stream too; this test is about calls.
                healthCheck: { enabled: false },
                balancer: { ejection: { enabled: false } },
                client: {
                  retry: { maxAttempts: 3, backoff: { baseMs: 1, capMs: 2 }, methods: { [`${SERVICE}/GetOrder`]: { idempotent: true } } },
                },
              },
            },
          },
        },
        ['Dying', 'ServiceB'],
      );
      for (let i = 0; i < 10; i++) {
        const order = await callUnary(client.GetOrder, client, { id: 'x' }, new grpc.Metadata(), { deadline: Date.now() + 5000 });
        expect(order.served_by).to.equal('ServiceB');
      }
      // Weights 99:1: nearly every first attempt broke at the dying backend, and was retried.
      expect(dying.broken()).to.be.at.least(9);
    });
  }

  it('tells transport failures from statuses an application sent', () => {
    const table: Array<[grpc.status, string, boolean]> = [
      [grpc.status.INTERNAL, 'Received RST_STREAM with code 0 (Call ended without gRPC status)', true],
      [grpc.status.INTERNAL, 'Received RST_STREAM with code 2 triggered by internal client error: Protocol error', true],
      [grpc.status.INTERNAL, 'Write error: write after end', true],
      [grpc.status.UNAVAILABLE, 'Connection dropped', true],
      [grpc.status.UNAVAILABLE, 'read ECONNRESET', true],
      [grpc.status.CANCELLED, 'Call cancelled', true],
      [grpc.status.INTERNAL, 'ServiceA: database corrupted', false],
      [grpc.status.INTERNAL, 'grpc-meshlite layer failed: boom', false],
      [grpc.status.NOT_FOUND, 'Received RST_STREAM with code 0', false],
      [grpc.status.CANCELLED, 'Cancelled on client', false],
    ];
    for (const [code, details, expected] of table) expect(isTransportFailure({ code, details }), details).to.equal(expected);
  });
});
