// The layers' callback form, which the grpc-js adapter runs: a stack of the toolkit's layers
// hands each call's result on without a promise per layer, a result known at once still comes
// after the send has returned, and a layer with only a promise form (a user's) is bridged.
import { AsyncLocalStorage, createHook } from 'node:async_hooks';
import * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import { createClientStack, type ClientStackOptions } from 'grpc-meshlite';
import {
  clientLayers,
  composeLayers,
  routeLayer,
  type CircuitBreakerLayer,
  type MatchedRoute,
  withSend,
  type ClientLayer,
  type ClientNext,
  type ClientResult,
  type ClientSend,
} from 'grpc-meshlite/layers';
import { toGrpcInterceptor } from '../../src/interceptors/adapter.js';
import { composeClientLayers, leadingForms, sendForm } from '../../src/interceptors/send.js';
import { getOrder, orderClient } from '../helpers/clients.js';
import { manualClock } from '../helpers/clock.js';
import { startFakeBackend } from '../helpers/fake-backend.js';
import { memoryLogger } from '../helpers/logs.js';
import { clientCall, response } from '../helpers/requests.js';
import { expectGrpcError, useTestPool } from '../helpers/servers.js';
import { until } from '../helpers/until.js';

/** Promises created while `run` runs (async_hooks sees each one V8 makes). */
async function promisesMadeBy(run: () => Promise<unknown>): Promise<number> {
  let made = 0;
  const hook = createHook({
    init(_id, type) {
      if (type === 'PROMISE') made++;
    },
  });
  hook.enable();
  try {
    await run();
  } finally {
    hook.disable();
  }
  return made;
}

/** An inner layer that answers OK in a microtask, as the transport answers from grpc-js's callback. */
const answersOk: ClientSend = (_call, done) => queueMicrotask(() => done(response(grpc.status.OK)));

describe('the layers in callback form', () => {
  const stackLayers = () =>
    clientLayers({
      clock: manualClock(),
      deadline: { timeoutMs: 1000 },
      breaker: {},
      retry: {
        maxAttempts: 3,
        perAttemptTimeoutMs: 150,
        methods: { 'orders.v1.OrderService/GetOrder': { idempotent: true, hedging: { delayMs: 60 } } },
      },
    }).map((entry) => entry.layer);

  it('runs a call through deadline, breaker, hedged retry and logging without making a promise', async () => {
    /** Promises made by one call through `send`, the measurement's own included. */
    const promisesPerCall = async (send: ClientSend) => {
      // One call first, so that nothing made once (a breaker, a policy) counts.
      await new Promise<ClientResult>((resolve) => send(clientCall(), resolve));
      let result: ClientResult | undefined;
      const made = await promisesMadeBy(
        () =>
          new Promise<void>((finished) =>
            send(clientCall(), (answer) => {
              result = answer;
              finished();
            }),
          ),
      );
      expect(result?.status.code).to.equal(grpc.status.OK);
      return made;
    };
    const alone = await promisesPerCall(answersOk);
    const stacked = await promisesPerCall(sendForm(composeClientLayers(...stackLayers()))(answersOk));
    expect(stacked).to.equal(alone);
    // Their promise form, for comparison, makes several per call.
    const promised = composeLayers(...stackLayers())((call) => new Promise((resolve) => answersOk(call, resolve)));
    expect(await promisesPerCall((call, settle) => void promised(call).then(settle))).to.be.above(alone + 3);
  });

  it('hands on a result known at once only after the send has returned', async () => {
    const clock = manualClock();
    const [deadline] = clientLayers({ clock, deadline: {}, logging: false, breaker: false, retry: false }).map((entry) => entry.layer);
    const send = sendForm(deadline!)(answersOk);
    let result: ClientResult | undefined;
    send(clientCall(undefined, { deadline: clock.now() - 5 }), (answer) => (result = answer));
    expect(result).to.equal(undefined);
    await Promise.resolve();
    expect(result?.status.code).to.equal(grpc.status.DEADLINE_EXCEEDED);
  });

  it("runs a user's promise-only layer in the middle of the toolkit's, and a rejection fails the call INTERNAL", async () => {
    const seen: string[] = [];
    const audit: ClientLayer = (next) => async (call) => {
      seen.push(call.method.path);
      const result = await next(call);
      seen.push(grpc.status[result.status.code]);
      return result;
    };
    const [deadline, ...rest] = stackLayers();
    const send = sendForm(composeClientLayers(deadline!, audit, ...rest))(answersOk);
    const ok = await new Promise<ClientResult>((resolve) => send(clientCall(), resolve));
    expect(ok.status.code).to.equal(grpc.status.OK);
    expect(seen).to.deep.equal(['/orders.v1.OrderService/GetOrder', 'OK']);

    const broken: ClientLayer = () => () => Promise.reject(new Error('audit store down'));
    const failing = sendForm(composeClientLayers(deadline!, broken))(answersOk);
    const failed = await new Promise<ClientResult>((resolve) => failing(clientCall(), resolve));
    expect(failed.status.code).to.equal(grpc.status.INTERNAL);
    expect(failed.status.details).to.contain('audit store down');
  });

  it('keeps the callback form through composeLayers when every layer has one, and not otherwise', () => {
    const layers = stackLayers();
    expect((composeLayers(...layers) as ClientLayer).send).to.be.a('function');
    const plain: ClientLayer = (next) => (call) => next(call);
    expect((composeLayers(plain, ...layers) as ClientLayer).send).to.equal(undefined);
  });

  describe('through the grpc-js adapter', () => {
    const pool = useTestPool();

    /**
     * Calls GetOrder once in each of `ids`' AsyncLocalStorage contexts through a stack with
     * `retry`, each call failing `failTimes` times first: what each callback and the stack's
     * call stats heard as the current context, and the backend.
     */
    async function callsInContexts(ids: string[], failTimes: number, retry?: ClientStackOptions['retry']) {
      const backend = await startFakeBackend('ServiceA');
      pool.defer(() => backend.stop());
      const request = new AsyncLocalStorage<string>();
      const recorded: Array<string | undefined> = [];
      const stack = createClientStack({
        logger: memoryLogger('warn').logger,
        callStats: () => () => recorded.push(request.getStore()),
        ...(retry && { retry }),
      });
      pool.defer(() => stack.close());
      const client = pool.track(orderClient([backend.address], stack.interceptors));
      const heard = await Promise.all(
        ids.map((id) =>
          request.run(id, () => {
            const metadata = new grpc.Metadata();
            if (failTimes > 0) metadata.set('x-test-fail-times', String(failTimes));
            metadata.set('x-test-key', id);
            return new Promise<string | undefined>((resolve, reject) =>
              client.GetOrder({ id: 'o-1' }, metadata, (error) => (error ? reject(error) : resolve(request.getStore()))),
            );
          }),
        ),
      );
      return { heard, recorded: [...recorded].sort((a, b) => String(a).localeCompare(String(b))), backend };
    }

    it("gives the caller's callback and the layers' completion the caller's async context", async () => {
      const { heard, recorded } = await callsInContexts(['r-1', 'r-2'], 0);
      expect(heard).to.deep.equal(['r-1', 'r-2']);
      expect(recorded).to.deep.equal(['r-1', 'r-2']);
    });

    it("gives a retried call's callback the caller's async context, not the one its retry timer was set in", async () => {
      // The calls' retries wait on one timer queue, whose timer the first call sets.
      const { heard, recorded, backend } = await callsInContexts(['r-1', 'r-2', 'r-3'], 1, {
        maxAttempts: 2,
        backoff: { baseMs: 20, capMs: 20 },
        methods: { 'orders.v1.OrderService/GetOrder': { idempotent: true } },
      });
      expect(backend.calls.length).to.equal(6);
      expect(heard).to.deep.equal(['r-1', 'r-2', 'r-3']);
      expect(recorded).to.deep.equal(['r-1', 'r-2', 'r-3']);
    });

    it('ends a call once, after the call returned, when an interceptor after the stack answers at once', async () => {
      const stack = createClientStack({
        logger: memoryLogger('warn').logger,
        retry: {
          maxAttempts: 3,
          backoff: { baseMs: 1, capMs: 1 },
          methods: { 'orders.v1.OrderService/GetOrder': { idempotent: true, hedging: { delayMs: 50 } } },
        },
      });
      pool.defer(() => stack.close());
      let sent = 0;
      // A stub after the stack: every attempt fails UNAVAILABLE inside start, with a pushback.
      const stub: grpc.Interceptor = (options, nextCall) =>
        new grpc.InterceptingCall(nextCall(options), {
          start(_metadata, listener) {
            sent++;
            const trailers = new grpc.Metadata();
            trailers.set('grpc-retry-pushback-ms', '5');
            listener.onReceiveStatus({ code: grpc.status.UNAVAILABLE, details: 'stub says no', metadata: trailers });
          },
        });
      const client = pool.track(orderClient(['127.0.0.1:1'], [...stack.interceptors, stub]));
      let returned = false;
      let endings = 0;
      const ended = new Promise<grpc.ServiceError | null>((resolve) => {
        client.GetOrder({ id: 'o-1' }, { deadline: Date.now() + 5000 }, (error) => {
          endings++;
          expect(returned, 'the callback ran inside GetOrder()').to.equal(true);
          resolve(error);
        });
        returned = true;
      });
      const error = await ended;
      expect(error?.code).to.equal(grpc.status.UNAVAILABLE);
      expect(error?.details).to.contain('stub says no');
      expect(sent).to.equal(3);
      expect(endings).to.equal(1);
    });

    it('runs the call stats and logging from the call as their layers would: inner first, a failure below included', async () => {
      const backend = await startFakeBackend('ServiceA');
      pool.defer(() => backend.stop());
      const { logger, lines } = memoryLogger('debug');
      const debug = logger.debug.bind(logger);
      // The logging layer fails the second call: the call stats above it hear that failure.
      let broken = false;
      logger.debug = (...args: Parameters<typeof logger.debug>) => {
        if (broken) throw new Error('log sink full');
        debug(...args);
      };
      const recorded: Array<string | undefined> = [];
      // A layer right under the observers that throws on the third call, instead of answering.
      let calls = 0;
      const throwsOnce = withSend(
        (next: ClientNext) => next,
        (next) => (call, done) => {
          if (++calls === 3) throw new Error('layer broke');
          next(call, done);
        },
      );
      const [stats, logging, ...below] = clientLayers({ logger, callStats: () => (failure) => recorded.push(failure) });
      expect([stats?.name, logging?.name]).to.deep.equal(['call-stats', 'logging']);
      const layer = composeClientLayers(stats!.layer, logging!.layer, throwsOnce, ...below.map((entry) => entry.layer));
      const client = pool.track(orderClient([backend.address], [toGrpcInterceptor(layer)]));
      await getOrder(client);
      broken = true;
      const second = await expectGrpcError(getOrder(client));
      broken = false;
      const third = await expectGrpcError(getOrder(client));
      expect(second.details).to.contain('log sink full');
      expect(third.code).to.equal(grpc.status.INTERNAL);
      expect(third.details).to.contain('layer broke');
      expect(recorded).to.deep.equal([undefined, 'INTERNAL', 'INTERNAL']);
      // The third call's line says how it ended, although no layer below the logging one answered.
      const finished = lines.filter((line) => line.msg === 'call finished');
      expect(finished.map((line) => line['code'])).to.deep.equal(['OK', 'INTERNAL']);
      expect(finished[1]!['details']).to.contain('layer broke');
    });

    /** Calls once through `toGrpcInterceptor` with `own` as the stack's layer: its callback form's runs, and the log. */
    async function callThrough(own: (logger: ReturnType<typeof memoryLogger>['logger']) => ClientLayer) {
      const backend = await startFakeBackend('ServiceA');
      pool.defer(() => backend.stop());
      const { logger, lines } = memoryLogger('debug');
      let ran = 0;
      const mine = withSend(own(logger), (next) => (call, done) => {
        ran++;
        next(call, done);
      });
      const client = pool.track(orderClient([backend.address], [toGrpcInterceptor(composeClientLayers(mine))]));
      await getOrder(client);
      return { ran, finished: lines.filter((line) => line.msg === 'call finished') };
    }

    it('runs the callback form withSend gave a toolkit layer, not the observer it stood for', async () => {
      const { ran, finished } = await callThrough((logger) => {
        const logging = clientLayers({ logger, retry: false, breaker: false, deadline: false })[0]!;
        expect(logging.name).to.equal('logging');
        return logging.layer;
      });
      expect(ran).to.equal(1);
      expect(finished).to.have.length(0);
    });

    it('runs the callback form withSend gave a composition of toolkit layers, not its parts', async () => {
      const { ran, finished } = await callThrough((logger) =>
        composeClientLayers(...clientLayers({ logger, retry: false, breaker: false, deadline: false }).map((entry) => entry.layer)),
      );
      expect(ran).to.equal(1);
      expect(finished).to.have.length(0);
    });

    it("sets the deadline layer's deadline in the call it makes: the layers below see it, and a late call is not sent", async () => {
      const backend = await startFakeBackend('ServiceA');
      pool.defer(() => backend.stop());
      const recorded: Array<string | undefined> = [];
      const layers = clientLayers({
        logger: memoryLogger('warn').logger,
        callStats: () => (failure) => recorded.push(failure),
        deadline: { timeoutMs: 1000 },
        breaker: false,
        retry: false,
      });
      expect(layers.map((entry) => entry.name)).to.deep.equal(['call-stats', 'logging', 'deadline']);
      const seen: number[] = [];
      const below = withSend(
        (next: ClientNext) => next,
        (next) => (call, done) => {
          seen.push(call.deadline);
          next(call, done);
        },
      );
      const layer = composeClientLayers(...layers.map((entry) => entry.layer), below);
      const client = pool.track(orderClient([backend.address], [toGrpcInterceptor(layer)]));
      const before = Date.now();
      await getOrder(client);
      const after = Date.now();
      // No deadline of the caller's: the configured timeout's.
      expect(seen).to.have.length(1);
      expect(seen[0]).to.be.within(before + 1000, after + 1000);
      const late = await expectGrpcError(getOrder(client, {}, { deadline: before - 10 }));
      expect(late.code).to.equal(grpc.status.DEADLINE_EXCEEDED);
      expect(late.details).to.contain('not sent');
      expect(seen).to.have.length(1);
      expect(backend.calls).to.have.length(1);
      expect(recorded).to.deep.equal([undefined, 'DEADLINE_EXCEEDED']);
    });

    it('runs the callback form withSend gave the deadline layer, not the prelude it stood for', async () => {
      const backend = await startFakeBackend('ServiceA');
      pool.defer(() => backend.stop());
      const deadline = clientLayers({ logging: false, deadline: { timeoutMs: 1000 }, breaker: false, retry: false })[0]!;
      expect(deadline.name).to.equal('deadline');
      const seen: number[] = [];
      const mine = withSend(deadline.layer, (next) => (call, done) => {
        seen.push(call.deadline);
        next(call, done);
      });
      const client = pool.track(orderClient([backend.address], [toGrpcInterceptor(composeClientLayers(mine))]));
      await getOrder(client);
      // The caller's deadline (none) as the user's form got it: no prelude ran before it.
      expect(seen).to.deep.equal([Infinity]);
    });

    it('runs the closed breaker from the call: a failure opens it, a layer below that throws is no failure', async () => {
      const backend = await startFakeBackend('ServiceA');
      pool.defer(() => backend.stop());
      const [breaker] = clientLayers({
        logging: false,
        deadline: false,
        retry: false,
        breaker: { volumeThreshold: 1, errorThresholdPercentage: 1 },
      });
      expect(breaker?.name).to.equal('circuit-breaker');
      const states = () => Object.values((breaker!.layer as CircuitBreakerLayer).snapshot());
      let calls = 0;
      const throwsFirst = withSend(
        (next: ClientNext) => next,
        (next) => (call, done) => {
          if (++calls === 1) throw new Error('layer broke');
          next(call, done);
        },
      );
      const client = pool.track(orderClient([backend.address], [toGrpcInterceptor(composeClientLayers(breaker!.layer, throwsFirst))]));
      const thrown = await expectGrpcError(getOrder(client));
      expect(thrown.code).to.equal(grpc.status.INTERNAL);
      expect(thrown.details).to.contain('layer broke');
      // Not the backend's doing: still closed, and the next call goes out.
      expect(states()[0]).to.include({ state: 'closed', failures: 0 });
      const failed = await expectGrpcError(getOrder(client, { 'x-test-fail-times': '1', 'x-test-key': 'k-1' }));
      expect(failed.code).to.equal(grpc.status.UNAVAILABLE);
      expect(backend.calls).to.have.length(1);
      // The backend's failure counted: open, and the next call is refused without going out.
      expect(states()[0]).to.include({ state: 'open', failures: 1 });
      const refused = await expectGrpcError(getOrder(client));
      expect(refused.details).to.contain('circuit breaker open');
      expect(backend.calls).to.have.length(1);
    });

    it("takes mesh.client()'s stack as observers, the route and deadline preludes and the breaker's guard", () => {
      const stack = createClientStack({ logger: memoryLogger('warn').logger, callStats: () => () => {}, routes: () => undefined });
      pool.defer(() => stack.close());
      const names = stack.layers.map((entry) => entry.name);
      expect(names.slice(0, 5)).to.deep.equal(['call-stats', 'logging', 'route', 'deadline', 'circuit-breaker']);
      const { observers, preludes, guard } = leadingForms(stack.layer);
      expect(observers).to.have.length(2);
      expect(preludes.map((prelude) => prelude.sets)).to.deep.equal(['route', 'deadline']);
      expect(guard).to.not.equal(undefined);
      // A second route layer under the first would set the call's route again: it runs as its layer does.
      const twice = leadingForms(composeClientLayers(stack.layers[2]!.layer, stack.layers[2]!.layer, stack.layers[3]!.layer));
      expect(twice.preludes.map((prelude) => prelude.sets)).to.deep.equal(['route']);
    });

    it('makes each layer under the breaker once, for the calls the breaker admits and the ones it does not', () => {
      let made = 0;
      const mine: ClientLayer = (next) => {
        made++;
        return next;
      };
      const [breaker] = clientLayers({ logging: false, deadline: false, retry: false, breaker: {} });
      toGrpcInterceptor(composeClientLayers(breaker!.layer, mine));
      expect(made).to.equal(1);
    });

    it("counts the call's own outcome in the breaker when the route's mirror throws as the call goes on", async () => {
      const backend = await startFakeBackend('ServiceA');
      pool.defer(() => backend.stop());
      const mirrored: MatchedRoute = {
        name: 'shadowed',
        config: { fallback: 'any', mirror: { subset: 'shadow', percent: 100 } },
        chooseSubset: () => undefined,
      };
      const route = routeLayer({
        routes: () => ({ match: () => mirrored }),
        safeToRepeat: () => {
          throw new Error('safeToRepeat broke');
        },
      });
      const [breaker] = clientLayers({
        logging: false,
        deadline: false,
        retry: false,
        breaker: { volumeThreshold: 1, errorThresholdPercentage: 1 },
      });
      const client = pool.track(orderClient([backend.address], [toGrpcInterceptor(composeClientLayers(route, breaker!.layer))]));
      const error = await expectGrpcError(getOrder(client));
      // The caller hears the throw, as when the route layer threw after its `next`; the call
      // went out all the same, and the breaker counts how it really ended: no failure.
      expect(error.code).to.equal(grpc.status.INTERNAL);
      expect(error.details).to.contain('safeToRepeat broke');
      await until(() => Object.values((breaker!.layer as CircuitBreakerLayer).snapshot())[0]?.calls === 1);
      expect(Object.values((breaker!.layer as CircuitBreakerLayer).snapshot())[0]).to.include({ state: 'closed', failures: 0 });
      expect(backend.calls).to.have.length(1);
    });

    it('fails a call INTERNAL when its logger throws, as the promise form did', async () => {
      const backend = await startFakeBackend('ServiceA');
      pool.defer(() => backend.stop());
      const { logger } = memoryLogger('debug');
      logger.debug = () => {
        throw new Error('log sink full');
      };
      const stack = createClientStack({ logger });
      pool.defer(() => stack.close());
      const client = pool.track(orderClient([backend.address], stack.interceptors));
      const error = await expectGrpcError(getOrder(client));
      expect(error.code).to.equal(grpc.status.INTERNAL);
      expect(error.details).to.contain('log sink full');
    });
  });
});
