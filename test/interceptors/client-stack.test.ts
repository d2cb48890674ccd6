import * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import { createClientStack, meshCallInfo } from 'grpc-meshlite';
import { CLIENT_LAYER_ORDER, composeLayers, clientLayers, statusName, type ClientLayer, type LoggingOptions } from 'grpc-meshlite/layers';
import { startFakeBackend } from '../helpers/fake-backend.js';
import { getOrder, orderClient } from '../helpers/clients.js';
import { memoryLogger } from '../helpers/logs.js';
import { testMeter } from '../helpers/metrics.js';
import { testTracer } from '../helpers/tracing.js';
import { clientCall, scriptedNext } from '../helpers/requests.js';
import { expectGrpcError, useTestPool } from '../helpers/servers.js';

describe('client stack', () => {
  describe('composition order (ordered log)', () => {
    function traced(options: Parameters<typeof clientLayers>[0] = {}) {
      const log: string[] = [];
      const tap =
        (name: string): ClientLayer =>
        (next) =>
        async (request) => {
          log.push(`${name} sending`);
          const response = await next(request);
          log.push(`${name} got ${statusName(response.status.code)}`);
          return response;
        };
      const layers = clientLayers({
        retry: { maxAttempts: 3, idempotent: true, backoff: { baseMs: 1, capMs: 1 } },
        breaker: { volumeThreshold: 1, errorThresholdPercentage: 1 },
        ...options,
      });
      // A tap just inside every layer shows what that layer passes on.
      const chain = composeLayers(...layers.flatMap((layer) => [layer.layer, tap(`inside ${layer.name}`)]));
      return { log, layers, chain };
    }

    it('is metrics → tracing → logging → deadline → circuit breaker → retry, outermost first, without routes', async () => {
      const { log, layers, chain } = traced();
      // Metrics only when something records them (an OpenTelemetry meter provider); the route
      // layers only with routes (a stack from the mesh).
      expect(layers.map((layer) => layer.name)).to.deep.equal(['logging', 'deadline', 'circuit-breaker', 'retry']);
      expect(CLIENT_LAYER_ORDER).to.deep.equal([
        'call-stats',
        'metrics',
        'tracing',
        'logging',
        'route',
        'deadline',
        'circuit-breaker',
        'retry',
        'destination',
      ]);
      // Call stats only with a recorder to ask (the mesh's admin server), outermost: what the caller saw.
      expect(clientLayers({ callStats: () => undefined }).map((layer) => layer.name)).to.deep.equal([
        'call-stats',
        'logging',
        'deadline',
        'circuit-breaker',
        'retry',
      ]);
      expect(CLIENT_LAYER_ORDER.slice(1)).to.deep.equal([
        'metrics',
        'tracing',
        'logging',
        'route',
        'deadline',
        'circuit-breaker',
        'retry',
        'destination',
      ]);
      const observed = { metrics: { meterProvider: (await testMeter()).provider }, tracing: { tracerProvider: testTracer().provider } };
      expect(clientLayers(observed).map((layer) => layer.name)).to.deep.equal([
        'metrics',
        'tracing',
        'logging',
        'deadline',
        'circuit-breaker',
        'retry',
      ]);
      const next = scriptedNext(grpc.status.UNAVAILABLE, grpc.status.OK);
      await chain(next)(clientCall());
      expect(log).to.deep.equal([
        'inside logging sending',
        'inside deadline sending',
        'inside circuit-breaker sending',
        'inside retry sending',
        'inside retry got UNAVAILABLE',
        'inside retry sending',
        'inside retry got OK',
        'inside circuit-breaker got OK',
        'inside deadline got OK',
        'inside logging got OK',
      ]);
    });

    it('puts the route between logging and the deadline, and the destination under the retries, with routes', async () => {
      const route = { name: 'all', config: { fallback: 'any' as const }, chooseSubset: () => undefined };
      const { log, layers, chain } = traced({ routes: () => ({ match: () => route }) });
      expect(layers.map((layer) => layer.name)).to.deep.equal(
        CLIENT_LAYER_ORDER.filter((name) => name !== 'metrics' && name !== 'call-stats' && name !== 'tracing'),
      );
      const next = scriptedNext(grpc.status.UNAVAILABLE, grpc.status.OK);
      await chain(next)(clientCall());
      expect(log).to.deep.equal([
        'inside logging sending',
        'inside route sending',
        'inside deadline sending',
        'inside circuit-breaker sending',
        'inside retry sending',
        'inside destination sending',
        'inside destination got UNAVAILABLE',
        'inside retry got UNAVAILABLE',
        'inside retry sending',
        'inside destination sending',
        'inside destination got OK',
        'inside retry got OK',
        'inside circuit-breaker got OK',
        'inside deadline got OK',
        'inside route got OK',
        'inside logging got OK',
      ]);
    });

    it('stops a spent deadline before the breaker and the retries see the call', async () => {
      const { log, chain } = traced();
      const next = scriptedNext(grpc.status.OK);
      await chain(next)(clientCall(undefined, { deadline: Date.now() - 1 }));
      expect(log).to.deep.equal(['inside logging sending', 'inside logging got DEADLINE_EXCEEDED']);
      expect(next.calls).to.equal(0);
    });

    it('lets an open breaker refuse before any attempt', async () => {
      const { log, chain } = traced({ retry: { maxAttempts: 1 } });
      await chain(scriptedNext(grpc.status.UNAVAILABLE))(clientCall());
      log.length = 0;
      await chain(scriptedNext(grpc.status.OK))(clientCall());
      expect(log).to.deep.equal([
        'inside logging sending',
        'inside deadline sending',
        'inside deadline got UNAVAILABLE',
        'inside logging got UNAVAILABLE',
      ]);
    });
  });

  describe('against a server', () => {
    const pool = useTestPool();

    it('logs one line per call and one per attempt, with secrets redacted', async () => {
      const backend = await startFakeBackend('ServiceA');
      pool.defer(() => backend.stop());
      const { logger, lines, raw } = memoryLogger('debug');
      const stack = createClientStack({
        logger,
        retry: { maxAttempts: 3, idempotent: true, backoff: { baseMs: 1, capMs: 1 } },
      });
      pool.defer(() => stack.close());
      const client = pool.track(orderClient([backend.address], stack.interceptors));
      await getOrder(client, {
        authorization: 'Bearer top-secret-token',
        'x-session-token': 'also-secret',
        'x-test-fail-times': '1',
        'x-test-key': 'log',
      });
      expect(raw.join('')).not.to.contain('top-secret-token');
      expect(raw.join('')).not.to.contain('also-secret');
      const attemptLines = lines.filter((line) => line.msg === 'attempt finished');
      expect(attemptLines.map((line) => [line['attempt'], line['code'], line['peer']])).to.deep.equal([
        [1, 'UNAVAILABLE', backend.address],
        [2, 'OK', backend.address],
      ]);
      expect((attemptLines[0]!['metadata'] as Record<string, string>)['authorization']).to.equal('[REDACTED]');
      const finished = lines.filter((line) => line.msg === 'call finished');
      expect(finished).to.have.length(1);
      expect(finished[0]).to.include({
        method: 'orders.v1.OrderService/GetOrder',
        code: 'OK',
        attempts: 2,
        peer: backend.address,
      });
      expect(finished[0]!['latencyMs']).to.be.a('number');
    });

    it("logs a backend's answer (NOT_FOUND) at the success level (debug) and an unhealthy status at the failure level", async () => {
      const backend = await startFakeBackend('ServiceA');
      pool.defer(() => backend.stop());
      const { logger, lines } = memoryLogger('debug');
      const levels = async (logging: LoggingOptions = {}) => {
        const stack = createClientStack({ logger, logging, retry: { maxAttempts: 1 } });
        pool.defer(() => stack.close());
        const client = pool.track(orderClient([backend.address], stack.interceptors));
        lines.length = 0;
        await expectGrpcError(getOrder(client, { 'x-test-status': String(grpc.status.NOT_FOUND) }));
        await expectGrpcError(getOrder(client, { 'x-test-status': String(grpc.status.UNAVAILABLE) }));
        return lines.filter((line) => line.msg === 'call finished').map((line) => [line['code'], line.level]);
      };
      expect(await levels()).to.deep.equal([
        ['NOT_FOUND', 20],
        ['UNAVAILABLE', 40],
      ]);
      expect(await levels({ failureCodes: ['NOT_FOUND'] })).to.deep.equal([
        ['NOT_FOUND', 40],
        ['UNAVAILABLE', 20],
      ]);
    });

    it('reports a deadline that ran out across attempts precisely', async () => {
      const backend = await startFakeBackend('ServiceA');
      pool.defer(() => backend.stop());
      backend.behaviour = { status: grpc.status.UNAVAILABLE };
      backend.onCall.subscribe(() => {
        if (backend.calls.length === 3) backend.behaviour = { hang: true };
      });
      const stack = createClientStack({
        retry: { maxAttempts: 5, idempotent: true, backoff: { baseMs: 1, capMs: 1 } },
        breaker: false,
      });
      const client = pool.track(orderClient([backend.address], stack.interceptors));
      // The third attempt hangs, so the deadline ends the call during it (a second is ample for
      // the two quick failures before it, however busy the machine).
      const error = await expectGrpcError(getOrder(client, {}, { deadline: Date.now() + 1000 }));
      expect(error.code).to.equal(grpc.status.DEADLINE_EXCEEDED);
      // grpc-js's own words, untouched: the client's timer ("… after 1.002s") or, when the
      // server's timer for the same deadline (grpc-timeout) fires first, the server's.
      expect(error.details).to.match(/^Deadline exceeded( after \d|$)/);
      // Two failures at the server, then the hung third attempt that the deadline ended. (A
      // connection the shared subchannel pool had to re-establish may add a failed attempt
      // that never reached the server: the server's count is the exact check.)
      const tries = meshCallInfo(error)!.tries.map((t) => t.codeName);
      expect(tries.at(-1)).to.equal('DEADLINE_EXCEEDED');
      expect(new Set(tries.slice(0, -1))).to.deep.equal(new Set(['UNAVAILABLE']));
      expect(backend.calls).to.have.length(3);
    });

    it('passes client-streaming and bidi calls through untouched', () => {
      // The orders service has neither; the adapter decides from the method definition alone.
      const stack = createClientStack({});
      let passedThrough = false;
      const nextCall = (() => {
        passedThrough = true;
        return {} as grpc.InterceptingCall;
      }) as unknown as grpc.NextCall;
      stack.interceptors[0]!(
        { method_definition: { path: '/x.Y/Z', requestStream: true, responseStream: true } } as grpc.InterceptorOptions,
        nextCall,
      );
      expect(passedThrough).to.equal(true);
      stack.close();
    });
  });
});
