// A fake orders backend steered by request metadata, for tests of the client-side mesh:
//   x-test-fail-times: N     the first N calls carrying the same x-test-key fail (UNAVAILABLE by default)
//   x-test-status: CODE      fail with this numeric status code (every time, or N times with fail-times)
//   x-test-delay-ms: N       answer after N ms (on `options.clock`: a manual one holds it until ticked)
//   x-test-hang: 1           never answer (until the client cancels)
//   x-test-pushback-ms: N    put grpc-retry-pushback-ms: N in the failure trailers
//   x-test-stream-fail-after: N   ListOrders sends N messages, then fails
import * as grpc from '@grpc/grpc-js';
import { HealthService, HealthState, type Clock } from 'grpc-meshlite';
import { ORDER_SERVICE_NAME, orderServiceDefinition, type Order } from '../../examples/orders.js';
import { systemClock } from '../../src/clock.js';
import { Signal } from '../../src/observability/signal.js';
import { startServer, type TestServer } from './servers.js';

export interface ReceivedCall {
  readonly method: string;
  readonly metadata: grpc.Metadata;
  readonly request: unknown;
  /** The call's deadline as the server computed it (epoch ms, Infinity when none). */
  readonly deadline: number;
  /** When the handler started (epoch ms). */
  readonly arrivedAt: number;
}

export interface FakeBackend extends TestServer {
  readonly name: string;
  readonly health: HealthState;
  readonly healthService: HealthService;
  /** Every call received, in order. */
  readonly calls: ReceivedCall[];
  /** Fires when a call reaches a handler. */
  readonly onCall: Signal<ReceivedCall>;
  /** Fires when the client cancels a call the handler was still working on. */
  readonly onCancelled: Signal<ReceivedCall>;
  /**
   * Behaviour for every call regardless of metadata, e.g. { status: UNAVAILABLE };
   * `hangMethods` makes only those methods ("GetOrder") never answer.
   */
  behaviour: { status?: grpc.status; hang?: boolean; hangMethods?: string[]; delayMs?: number };
  stop(): void;
}

export interface FakeBackendOptions {
  /** Port to bind on 127.0.0.1 (0, the default, picks a free one). */
  port?: number;
  /** Add our grpc.health.v1 service. Default true. */
  health?: boolean;
  /** Adds more services (another health implementation, say). */
  setup?: (server: grpc.Server) => void;
  server?: grpc.ServerOptions;
  /** Server credentials (TLS, say). Default: plaintext. */
  credentials?: grpc.ServerCredentials;
  /**
   * What a delay (`x-test-delay-ms`, `behaviour.delayMs`) waits on; default the real timers. A
   * manual clock holds such a call until the test ticks it, however slow the machine.
   */
  clock?: Clock;
}

export async function startFakeBackend(name: string, options: FakeBackendOptions = {}): Promise<FakeBackend> {
  const calls: ReceivedCall[] = [];
  const onCall = new Signal<ReceivedCall>();
  const onCancelled = new Signal<ReceivedCall>();
  const failuresByKey = new Map<string, number>();
  const health = new HealthState({ '': 'SERVING', [ORDER_SERVICE_NAME]: 'SERVING' });
  const healthService = new HealthService(health);
  const pending = new Set<() => void>();
  const clock = options.clock ?? systemClock;

  const backend = {} as FakeBackend;
  const order = (id: string): Order => ({
    id,
    item: 'book',
    quantity: 1,
    idempotency_key: '',
    created_by: name,
    created_at_ms: '0',
    served_by: name,
  });

  /** Runs the steering; resolves false when the call was failed or must stay silent. */
  async function steer(
    method: string,
    call: grpc.ServerUnaryCall<unknown, unknown> | grpc.ServerWritableStream<unknown, unknown>,
    fail: (error: Partial<grpc.StatusObject>) => void,
  ): Promise<boolean> {
    const deadline = call.getDeadline();
    const received: ReceivedCall = {
      method,
      metadata: call.metadata,
      request: call.request,
      deadline: deadline instanceof Date ? deadline.getTime() : deadline,
      arrivedAt: Date.now(),
    };
    calls.push(received);
    onCall.emit(received);
    call.once('cancelled', () => onCancelled.emit(received));
    const header = (key: string) => call.metadata.get(key)[0]?.toString();
    const hang = header('x-test-hang') === '1' || backend.behaviour.hang || backend.behaviour.hangMethods?.includes(method);
    if (hang) {
      await new Promise<void>((resolve) => {
        pending.add(resolve);
        call.once('cancelled', resolve);
      });
      return false;
    }
    const delay = Number(header('x-test-delay-ms') ?? backend.behaviour.delayMs ?? 0);
    if (delay > 0) {
      await new Promise<void>((resolve) => {
        const timer = clock.setTimeout(resolve, delay);
        call.once('cancelled', () => {
          clock.clearTimeout(timer);
          resolve();
        });
      });
      if (call.cancelled) return false;
    }
    const statusHeader = header('x-test-status');
    const code = statusHeader !== undefined ? Number(statusHeader) : backend.behaviour.status;
    const failTimes = header('x-test-fail-times');
    let shouldFail = code !== undefined;
    if (failTimes !== undefined) {
      const key = `${method}:${header('x-test-key') ?? ''}`;
      const seen = failuresByKey.get(key) ?? 0;
      failuresByKey.set(key, seen + 1);
      shouldFail = seen < Number(failTimes);
    }
    if (!shouldFail) return true;
    const trailers = new grpc.Metadata();
    const pushback = header('x-test-pushback-ms');
    if (pushback !== undefined) trailers.set('grpc-retry-pushback-ms', pushback);
    fail({ code: code ?? grpc.status.UNAVAILABLE, details: `${name}: steered failure`, metadata: trailers });
    return false;
  }

  const server = await startServer(
    (s) => {
      s.addService(orderServiceDefinition, {
        GetOrder: (call: grpc.ServerUnaryCall<{ id: string }, Order>, callback: grpc.sendUnaryData<Order>) => void getOrder(call, callback),
        CreateOrder: (call: grpc.ServerUnaryCall<{ idempotency_key: string }, Order>, callback: grpc.sendUnaryData<Order>) =>
          void createOrder(call, callback),
        ListOrders: (call: grpc.ServerWritableStream<{ limit: number }, Order>) => void listOrders(call),
      });
      if (options.health !== false) healthService.addTo(s);
      options.setup?.(s);
    },
    options.server,
    options.port,
    options.credentials,
  );

  // The handlers, steered by the call's metadata (grpc-js calls them without awaiting).
  async function getOrder(call: grpc.ServerUnaryCall<{ id: string }, Order>, callback: grpc.sendUnaryData<Order>): Promise<void> {
    if (await steer('GetOrder', call, (error) => callback(error))) callback(null, order(call.request.id));
  }

  async function createOrder(
    call: grpc.ServerUnaryCall<{ idempotency_key: string }, Order>,
    callback: grpc.sendUnaryData<Order>,
  ): Promise<void> {
    if (await steer('CreateOrder', call, (error) => callback(error))) {
      callback(null, { ...order('new'), idempotency_key: call.request.idempotency_key });
    }
  }

  async function listOrders(call: grpc.ServerWritableStream<{ limit: number }, Order>): Promise<void> {
    const failAfter = call.metadata.get('x-test-stream-fail-after')[0]?.toString();
    const count = failAfter !== undefined ? Number(failAfter) : call.request.limit || 3;
    if (!(await steer('ListOrders', call, (error) => call.emit('error', error)))) return;
    for (let i = 0; i < count; i++) call.write(order(`o-${i}`));
    if (failAfter !== undefined) {
      call.emit('error', { code: grpc.status.UNAVAILABLE, details: `${name}: stream broke` });
    } else {
      call.end();
    }
  }

  return Object.assign(backend, server, {
    name,
    health,
    healthService,
    calls,
    onCall,
    onCancelled,
    behaviour: {},
    stop() {
      healthService.closeWatches();
      for (const release of pending) release();
      server.server.forceShutdown();
    },
  });
}
