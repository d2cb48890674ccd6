import { appendFileSync, mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import { createMesh, isConfigError, type Clock, type ConfigEvent, type MeshConfigInput } from 'grpc-meshlite';
import { OrderClient, callUnary } from '../../examples/orders.js';
import { startFakeBackend } from '../helpers/fake-backend.js';
import { memoryLogger } from '../helpers/logs.js';
import { allUsable, callLoop, meshClient, readyMeshClient, split, until } from '../helpers/mesh.js';
import { expectGrpcError, nextEvent, startServer, useTestPool } from '../helpers/servers.js';
import { until as waitForCondition } from '../helpers/until.js';
import { manualClock } from '../helpers/clock.js';
import { FileConfigSource } from '../../src/config/config-source.js';
import type { MeshConfig } from '../../src/config/mesh-config.js';

describe('mesh config, resolver and bad input', function () {
  this.timeout(20_000);
  const pool = useTestPool();

  async function backends(...names: string[]) {
    const started = await Promise.all(names.map((name) => startFakeBackend(name)));
    for (const backend of started) pool.defer(() => backend.stop());
    return started;
  }

  describe('hot reload of a config file', () => {
    function configFile(services: MeshConfigInput['services']) {
      const dir = mkdtempSync(join(tmpdir(), 'meshlite-config-'));
      pool.defer(() => rmSync(dir, { recursive: true, force: true }));
      const path = join(dir, 'mesh.json');
      // Written the way deploy tools do it: a new file renamed over the old one.
      const write = (next: unknown) => {
        writeFileSync(`${path}.tmp`, typeof next === 'string' ? next : JSON.stringify(next));
        renameSync(`${path}.tmp`, path);
      };
      write({ services });
      return { path, write };
    }

    const fast = { slowStart: { windowMs: 0 } };

    it('re-weights, adds and removes endpoints with calls in flight, without a failed call', async () => {
      const [a, b, c] = await backends('ServiceA', 'ServiceB', 'ServiceC');
      const endpoint = (name: string, address: string, weight: number) => ({ name, address, weight });
      const file = configFile({
        orders: { endpoints: [endpoint('ServiceA', a!.address, 80), endpoint('ServiceB', b!.address, 20)], balancer: fast },
      });
      const { mesh, client } = await readyMeshClient(pool, { configFile: file.path }, ['ServiceA', 'ServiceB']);
      // Calls are in flight while each new file lands; the split is measured once they settle.
      let loop = callLoop(client);
      pool.defer(() => loop.stop());
      const updates: string[] = [];
      pool.defer(mesh.events.onEndpoint((event) => event.kind === 'updated' && updates.push(`${event.endpoint}: ${event.reason}`)));
      let applied = nextEvent<ConfigEvent>((l) => mesh.events.onConfigApplied(l));
      file.write({
        services: { orders: { endpoints: [endpoint('ServiceA', a!.address, 20), endpoint('ServiceB', b!.address, 80)], balancer: fast } },
      });
      await applied;
      await until(mesh, (e) => e['ServiceA']!.weight === 20);
      // The events name what changed, and only that.
      expect(updates.sort()).to.deep.equal(['ServiceA: weight 80 → 20', 'ServiceB: weight 20 → 80']);
      expect((await loop.stop()).errors).to.deep.equal([]);
      expect(await split(client, 100)).to.deep.equal({ ServiceA: 20, ServiceB: 80 });

      loop = callLoop(client);
      applied = nextEvent<ConfigEvent>((l) => mesh.events.onConfigApplied(l));
      file.write({
        services: { orders: { endpoints: [endpoint('ServiceA', a!.address, 1), endpoint('ServiceC', c!.address, 1)], balancer: fast } },
      });
      await applied;
      await until(mesh, (e) => e['ServiceB'] === undefined && allUsable('ServiceA', 'ServiceC')(e));
      expect((await loop.stop()).errors).to.deep.equal([]);
      expect(await split(client, 10)).to.deep.equal({ ServiceA: 5, ServiceC: 5 });
    });

    it('refuses an invalid file with the field named, and keeps serving the last good config', async () => {
      const [a, b] = await backends('ServiceA', 'ServiceB');
      const file = configFile({
        orders: {
          endpoints: [
            { name: 'ServiceA', address: a!.address, weight: 3 },
            { name: 'ServiceB', address: b!.address, weight: 1 },
          ],
          balancer: fast,
        },
      });
      const { logger, lines } = memoryLogger('info');
      const { mesh, client } = await readyMeshClient(pool, { configFile: file.path, logger }, ['ServiceA', 'ServiceB']);

      let rejected = nextEvent<ConfigEvent>((l) => mesh.events.onConfigRejected(l));
      file.write({ services: { orders: { endpoints: [{ name: 'ServiceA', address: a!.address, weight: -1 }] } } });
      expect((await rejected).error)
        .to.contain('services.orders.endpoints[0].weight')
        .and.contain('got -1');
      rejected = nextEvent<ConfigEvent>((l) => mesh.events.onConfigRejected(l));
      file.write('{ "services": ');
      expect((await rejected).error).to.contain('is not valid JSON');

      expect(mesh.config.services['orders']!.endpoints.map((e) => e.weight)).to.deep.equal([3, 1]);
      expect(await split(client, 8)).to.deep.equal({ ServiceA: 6, ServiceB: 2 });
      const logged = lines.filter((line) => line.msg === 'mesh config rejected; the last good config keeps serving');
      expect(logged).to.have.length(2);
      expect(String(logged[0]!['err'])).to.contain('weight');
    });

    it("says that a reload of a service's client section reaches only clients made after it", () => {
      const { logger, lines } = memoryLogger('warn');
      const config = (timeoutMs: number, weight = 1): MeshConfigInput => ({
        services: { orders: { endpoints: [{ name: 'A', address: '127.0.0.1:50051', weight }], client: { deadline: { timeoutMs } } } },
      });
      const mesh = createMesh({ config: config(2000), logger });
      pool.defer(() => mesh.close());
      mesh.update(config(100)); // no client yet: nothing to say
      pool.track(mesh.client(OrderClient, 'orders'));
      mesh.update(config(100, 2)); // the client section as it was
      const said = () =>
        lines.filter((line) => String(line.msg).startsWith("the service's client section changed")).map((line) => line['service']);
      expect(said()).to.deep.equal([]);
      mesh.update(config(5000));
      expect(said()).to.deep.equal(['orders']);
    });

    /**
     * A hand-advanced clock for a FileConfigSource, and a wait for what it hears: the directory
     * watch is real I/O, and every event that reaches the source sets its debounce timer.
     */
    function watchedClock() {
      const manual = manualClock(Date.now());
      let heard = 0;
      const clock: Clock = {
        ...manual,
        setTimeout: (callback, ms) => {
          heard++;
          return manual.setTimeout(callback, ms);
        },
      };
      return {
        clock,
        /** Advances the clock (the reloads due run now); what is heard next counts afresh. */
        tick(ms: number) {
          manual.tick(ms);
          heard = 0;
        },
        /** Resolves once a watch event has reached the source since the last tick. */
        heard: () => waitForCondition(() => heard > 0, { describe: () => 'no watch event reached the source' }),
      };
    }

    const weightOf = (config: MeshConfig) => config.services['orders']!.endpoints[0]!.weight;

    it('says nothing of a file a slow writer is still writing, and a file that stays bad once, whatever changes beside it', async () => {
      const file = configFile({ orders: { endpoints: [{ name: 'A', address: '127.0.0.1:50051', weight: 1 }] } });
      // The source itself, with a 200 ms debounce on a hand-advanced clock: the writer below
      // pauses longer than that between its chunks (so each pause reloads a half-written file),
      // and is done well inside the time a refusal waits (8 periods: 1.6 s).
      const watch = watchedClock();
      const source = new FileConfigSource(file.path, { debounceMs: 200, clock: watch.clock });
      pool.defer(() => source.close());
      const rejected: string[] = [];
      pool.defer(source.onRejected((error) => rejected.push(error.message)));
      const applied: number[] = [];
      pool.defer(source.onApplied((config) => applied.push(weightOf(config))));
      const text = JSON.stringify({ services: { orders: { endpoints: [{ name: 'A', address: '127.0.0.1:50051', weight: 2 }] } } });
      const third = Math.ceil(text.length / 3);
      writeFileSync(file.path, '');
      for (let at = 0; at < text.length; at += third) {
        appendFileSync(file.path, text.slice(at, at + third));
        await watch.heard();
        watch.tick(250); // the writer's own pace: a reload reads what is written so far
      }
      expect(applied).to.deep.equal([2]);
      expect(rejected).to.deep.equal([]);

      // Bad for good this time: said once, while a file beside it keeps changing.
      writeFileSync(file.path, '{ "services": ');
      await watch.heard();
      watch.tick(200); // the first reload refuses it, and waits
      const log = join(dirname(file.path), 'app.log');
      const changeBeside = async () => {
        appendFileSync(log, 'a line\n');
        await watch.heard();
        watch.tick(200);
      };
      let periods = 0;
      for (; rejected.length === 0 && periods < 20; periods++) await changeBeside();
      expect(periods, 'debounce periods the file stayed bad before it was said').to.equal(8);
      for (let i = 0; i < 20; i++) await changeBeside();
      expect(rejected).to.have.length(1);
      expect(rejected[0]).to.contain('is not valid JSON');

      writeFileSync(file.path, text.replace('"weight":2', '"weight":3'));
      await watch.heard();
      watch.tick(200);
      expect(applied).to.deep.equal([2, 3]);
    });

    it('applies a new file while another file in its directory keeps changing (an app log beside it)', async () => {
      const endpoints = (weight: number) => [{ name: 'A', address: '127.0.0.1:50051', weight }];
      const file = configFile({ orders: { endpoints: endpoints(1) } });
      const watch = watchedClock();
      const source = new FileConfigSource(file.path, { clock: watch.clock }); // the default 25 ms debounce
      pool.defer(() => source.close());
      const applied: number[] = [];
      pool.defer(source.onApplied((config) => applied.push(weightOf(config))));
      const log = join(dirname(file.path), 'app.log');
      file.write({ services: { orders: { endpoints: endpoints(2) } } });
      // A log line every 10 ms, inside the debounce: each puts the reload off again, but never
      // for more than 8 debounce periods (200 ms) after the first change.
      let elapsedMs = 0;
      for (; applied.length === 0 && elapsedMs < 400; elapsedMs += 10) {
        await watch.heard();
        watch.tick(10);
        appendFileSync(log, 'a line\n');
      }
      expect(applied, 'applied while the log kept changing').to.deep.equal([2]);
      expect(elapsedMs).to.equal(200);
    });

    describe('where deploy tools put the file', () => {
      const weights = (mesh: { config: { services: Record<string, { endpoints: Array<{ weight: number }> } | undefined> } }) =>
        mesh.config.services['orders']!.endpoints.map((e) => e.weight);

      async function started(path: string, a: { address: string }, b: { address: string }) {
        const { logger } = memoryLogger('info');
        const { mesh, client } = await readyMeshClient(pool, { configFile: path, logger }, ['ServiceA', 'ServiceB']);
        const applied = () => nextEvent<ConfigEvent>((l) => mesh.events.onConfigApplied(l));
        const rejected = () => nextEvent<ConfigEvent>((l) => mesh.events.onConfigRejected(l));
        return { mesh, client, applied, rejected, a, b };
      }

      const services = (a: { address: string }, b: { address: string }, weightA: number) =>
        JSON.stringify({
          services: {
            orders: {
              endpoints: [
                { name: 'ServiceA', address: a.address, weight: weightA },
                { name: 'ServiceB', address: b.address, weight: 1 },
              ],
              balancer: fast,
            },
          },
        });

      it('follows a Kubernetes ConfigMap update: the ..data symlink swapped to a new directory', async () => {
        const [a, b] = await backends('ServiceA', 'ServiceB');
        const root = mkdtempSync(join(tmpdir(), 'meshlite-configmap-'));
        pool.defer(() => rmSync(root, { recursive: true, force: true }));
        // The layout kubelet writes: mesh.json -> ..data/mesh.json, ..data -> ..<timestamp>.
        const generation = (name: string, weightA: number) => {
          mkdirSync(join(root, name));
          writeFileSync(join(root, name, 'mesh.json'), services(a!, b!, weightA));
        };
        generation('..2026_11_27_08_00_00.1', 1);
        symlinkSync('..2026_11_27_08_00_00.1', join(root, '..data'));
        symlinkSync('..data/mesh.json', join(root, 'mesh.json'));
        const { mesh, client, applied } = await started(join(root, 'mesh.json'), a!, b!);
        const loop = callLoop(client);
        pool.defer(() => loop.stop());

        // An update as kubelet makes it: new directory, new link, renamed over ..data, old one removed.
        const landed = applied();
        generation('..2026_11_27_08_05_00.2', 9);
        symlinkSync('..2026_11_27_08_05_00.2', join(root, '..data_tmp'));
        renameSync(join(root, '..data_tmp'), join(root, '..data'));
        rmSync(join(root, '..2026_11_27_08_00_00.1'), { recursive: true });
        await landed;
        expect(weights(mesh)).to.deep.equal([9, 1]);

        // And the next one, through the directory watched since the last swap.
        const again = applied();
        generation('..2026_11_27_08_10_00.3', 4);
        symlinkSync('..2026_11_27_08_10_00.3', join(root, '..data_tmp'));
        renameSync(join(root, '..data_tmp'), join(root, '..data'));
        await again;
        expect(weights(mesh)).to.deep.equal([4, 1]);
        expect((await loop.stop()).errors).to.deep.equal([]);
      });

      it('follows a file reached through a symlink in another directory, deleted and re-created, and refuses a truncated one', async () => {
        const [a, b] = await backends('ServiceA', 'ServiceB');
        const real = mkdtempSync(join(tmpdir(), 'meshlite-real-'));
        const app = mkdtempSync(join(tmpdir(), 'meshlite-app-'));
        pool.defer(() => rmSync(real, { recursive: true, force: true }));
        pool.defer(() => rmSync(app, { recursive: true, force: true }));
        const target = join(real, 'mesh.json');
        writeFileSync(target, services(a!, b!, 1));
        symlinkSync(target, join(app, 'mesh.json'));
        const { mesh, client, applied, rejected } = await started(join(app, 'mesh.json'), a!, b!);
        const loop = callLoop(client);
        pool.defer(() => loop.stop());

        let landed = applied();
        writeFileSync(`${target}.tmp`, services(a!, b!, 3));
        renameSync(`${target}.tmp`, target);
        await landed;
        expect(weights(mesh)).to.deep.equal([3, 1]);

        // Written in place and caught half-way: refused, the last good config keeps serving.
        const refused = rejected();
        writeFileSync(target, '');
        expect((await refused).error).to.match(/is empty \(truncated, or still being written\)|cannot read/);
        expect(weights(mesh)).to.deep.equal([3, 1]);

        // Deleted, then re-created.
        landed = applied();
        unlinkSync(target);
        writeFileSync(target, services(a!, b!, 7));
        await landed;
        expect(weights(mesh)).to.deep.equal([7, 1]);
        expect((await loop.stop()).errors).to.deep.equal([]);
      });

      it('follows its directory deleted and made again, and one swapped in by a rename, and the edits after each', async () => {
        const [a, b] = await backends('ServiceA', 'ServiceB');
        const root = mkdtempSync(join(tmpdir(), 'meshlite-root-'));
        pool.defer(() => rmSync(root, { recursive: true, force: true }));
        const dir = join(root, 'conf');
        const path = join(dir, 'mesh.json');
        mkdirSync(dir);
        writeFileSync(path, services(a!, b!, 1));
        const { mesh, applied, rejected } = await started(path, a!, b!);
        const expectLanded = async (weightA: number, change: () => void) => {
          const landed = applied();
          change();
          await landed;
          expect(weights(mesh)).to.deep.equal([weightA, 1]);
        };

        // The directory deleted (the file with it: refused, the last good config serves), then made again.
        const refused = rejected();
        rmSync(dir, { recursive: true });
        expect((await refused).error).to.contain('ENOENT');
        await expectLanded(3, () => {
          mkdirSync(dir);
          writeFileSync(path, services(a!, b!, 3));
        });
        await expectLanded(5, () => writeFileSync(path, services(a!, b!, 5)));

        // A new directory renamed over the old one's name.
        await expectLanded(7, () => {
          mkdirSync(`${dir}.new`);
          writeFileSync(join(`${dir}.new`, 'mesh.json'), services(a!, b!, 7));
          renameSync(dir, `${dir}.old`);
          renameSync(`${dir}.new`, dir);
        });
        await expectLanded(9, () => writeFileSync(path, services(a!, b!, 9)));

        // Deleted and made again at once: the new directory often gets the old one's inode back.
        await expectLanded(11, () => {
          rmSync(dir, { recursive: true });
          mkdirSync(dir);
          writeFileSync(path, services(a!, b!, 11));
        });
        await expectLanded(13, () => writeFileSync(path, services(a!, b!, 13)));
      });
    });
  });

  describe('bad input', () => {
    it('names the line and column of a JSON syntax error in the config file', () => {
      const dir = mkdtempSync(join(tmpdir(), 'meshlite-config-'));
      pool.defer(() => rmSync(dir, { recursive: true, force: true }));
      const path = join(dir, 'mesh.json');
      const refusal = (text: string) => {
        writeFileSync(path, text);
        try {
          new FileConfigSource(path).close();
        } catch (error) {
          return (error as Error).message;
        }
        throw new Error('accepted');
      };
      // A trailing comma on line 4, as hand-edited JSON often has.
      expect(refusal('{\n  "services": {\n    "orders": { "endpoints": [] },\n  }\n}')).to.contain('is not valid JSON at line 4, column 3');
      expect(refusal('{\n  "services": ')).to.contain('is not valid JSON at line 2, column 15');
    });

    it('rejects an invalid config at creation, naming the field and the value', () => {
      const attempt = (config: unknown) => {
        try {
          createMesh({ config: config as MeshConfigInput });
        } catch (error) {
          expect(isConfigError(error)).to.equal(true);
          return (error as Error).message;
        }
        throw new Error('expected a ConfigError');
      };
      const endpoint = { name: 'A', address: '127.0.0.1:50051' };
      expect(attempt({ services: { orders: { endpoints: [] } } })).to.contain('services.orders.endpoints: must list at least one endpoint');
      expect(
        attempt({
          services: {
            orders: {
              endpoints: [
                { ...endpoint, weight: 0 },
                { name: 'B', address: '127.0.0.1:50052', weight: 0 },
              ],
            },
          },
        }),
      ).to.contain(
        'services.orders.endpoints: every endpoint has weight 0 (drained), so every call would fail: leave at least one with a weight, got [0,0]',
      );
      expect(attempt({ services: { orders: { endpoints: [{ ...endpoint, weight: Number.NaN }] } } })).to.match(
        /services\.orders\.endpoints\[0\]\.weight: .*got NaN/,
      );
      expect(attempt({ services: { orders: { endpoints: [{ ...endpoint, weight: -2 }] } } })).to.match(/weight: .*got -2/);
      expect(attempt({ services: { orders: { endpoints: [endpoint, { ...endpoint, name: 'B' }] } } })).to.contain(
        'services.orders.endpoints[1].address: duplicate address (also endpoints[0]), got "127.0.0.1:50051"',
      );
      expect(attempt({ services: { orders: { endpoints: [endpoint], retries: 3 } } })).to.contain(
        'unknown field "services.orders.retries"',
      );
      expect(attempt({ services: { orders: { endpoints: [{ ...endpoint, address: 'localhost' }] } } })).to.contain('must be "host:port"');
      expect(attempt({ services: { orders: { endpoints: [endpoint], client: { retry: { maxAttempts: 0 } } } } })).to.contain(
        'services.orders.client.retry.maxAttempts: too small',
      );
      // Left out is "nothing", not the empty list a default would show; zod's own wording is not repeated.
      expect(attempt({ services: { orders: { endpoint: [endpoint] } } })).to.contain(
        'services.orders.endpoints: must list at least one endpoint (or name a discovery source), got nothing',
      );
      expect(attempt({ services: { orders: { endpoints: [{ name: 'A' }] } } })).to.contain(
        'services.orders.endpoints[0].address: expected string, got nothing',
      );
      // A method key in the path form grpc-js and the logs write would match no call.
      expect(
        attempt({
          services: { orders: { endpoints: [endpoint], client: { deadline: { methods: { '/orders.v1.OrderService/GetOrder': 100 } } } } },
        }),
      ).to.contain(
        'services.orders.client.deadline.methods["/orders.v1.OrderService/GetOrder"]: is not a method name: write "package.Service/Method" (no leading "/"), "package.Service" or "*", got "/orders.v1.OrderService/GetOrder"',
      );
      expect(
        attempt({
          services: {
            orders: { endpoints: [endpoint], client: { retry: { methods: { 'orders.v1.OrderService/': { idempotent: true } } } } },
          },
        }),
      ).to.contain('services.orders.client.retry.methods["orders.v1.OrderService/"]: is not a method name');
    });

    it('names the file when a config file or a TLS file cannot be read, as a ConfigError like every other bad input', () => {
      const dir = mkdtempSync(join(tmpdir(), 'meshlite-missing-'));
      pool.defer(() => rmSync(dir, { recursive: true, force: true }));
      const missing = join(dir, 'mesh.json');
      expect(() => createMesh({ configFile: missing }))
        .to.throw(`cannot read mesh config file ${missing}: ENOENT`)
        .that.satisfies(isConfigError);
      const caFile = join(dir, 'ca.pem');
      const mesh = createMesh({
        config: { services: { orders: { endpoints: [{ name: 'A', address: '127.0.0.1:50051' }], tls: { caFile } } } },
      });
      pool.defer(() => mesh.close());
      expect(() => mesh.client(OrderClient, 'orders'))
        .to.throw(`services.orders.tls: TLS files ${caFile}: cannot read ${caFile}: ENOENT`)
        .that.satisfies(isConfigError);
    });

    it('names at mesh.client() a per-method setting that would do nothing for the client: refused when passed in code, a warning when from the config', () => {
      const endpoints = [{ name: 'A', address: '127.0.0.1:50051' }];
      /** The ConfigError mesh.client() threw, or the warnings it logged. */
      const outcome = (
        client: NonNullable<MeshConfigInput['services'][string]['client']>,
        stack?: Parameters<ReturnType<typeof createMesh>['client']>[2],
      ) => {
        const { logger, lines } = memoryLogger('warn');
        const mesh = createMesh({ config: { services: { orders: { endpoints, client } } }, logger });
        pool.defer(() => mesh.close());
        try {
          mesh.client(OrderClient, 'orders', stack).close();
        } catch (error) {
          expect(isConfigError(error), String(error)).to.equal(true);
          return { refused: (error as Error).message };
        }
        return { warned: lines.map((line) => line.msg) };
      };
      // From the config: the client is made, and the setting is named in a warning.
      expect(outcome({ deadline: { methods: { 'orders.v1.OrderService/GetOrdr': 100 } } })).to.deep.equal({
        warned: [
          'mesh.client(…, "orders"): services.orders.client.deadline.methods["orders.v1.OrderService/GetOrdr"] names no method of orders.v1.OrderService (it has GetOrder, CreateOrder, ListOrders); the setting does nothing for this client',
        ],
      });
      expect(outcome({ retry: { methods: { 'orders.v1.OrderService/GetOrder': { hedging: { delayMs: 10 } } } } })).to.deep.equal({
        warned: [
          'mesh.client(…, "orders"): services.orders.client.retry.methods["orders.v1.OrderService/GetOrder"].hedging: hedging sends a call more than once, so it applies to idempotent methods only: set idempotent: true for GetOrder (or for its service); the setting does nothing for this client',
        ],
      });
      // Passed in code: refused.
      expect(outcome({}, { stack: { retry: { methods: { 'orders.v1.OrderService/Get': { idempotent: true } } } } })).to.deep.equal({
        refused:
          'mesh.client(…, "orders"): stack.retry.methods["orders.v1.OrderService/Get"] names no method of orders.v1.OrderService (it has GetOrder, CreateOrder, ListOrders)',
      });
      expect(
        outcome(
          {},
          { stack: { retry: { methods: { 'orders.v1.OrderService/ListOrders': { idempotent: true, hedging: { delayMs: 10 } } } } } },
        ).refused,
      ).to.contain(
        'stack.retry.methods["orders.v1.OrderService/ListOrders"].hedging: hedging applies to unary methods only; ListOrders is server streaming',
      );
      // The stack's retry section replaces the config's whole: the config's idempotent does not carry over, and the error says so.
      expect(
        outcome(
          { retry: { methods: { 'orders.v1.OrderService': { idempotent: true } } } },
          { stack: { retry: { methods: { 'orders.v1.OrderService/GetOrder': { hedging: { delayMs: 10 } } } } } },
        ).refused,
      ).to.contain('(stack.retry replaces services.orders.client.retry entirely)');
      // What can apply is left alone: idempotent from the service's entry, hedging for every
      // method at once (it applies where it can), keys for another gRPC service a client of
      // this mesh service may have, whole services and "*".
      expect(
        outcome({
          deadline: { methods: { 'orders.v1.OrderService': 500, 'billing.v1.Billing/Charge': 100, '*': 900 } },
          retry: {
            methods: {
              'orders.v1.OrderService': { idempotent: true },
              'orders.v1.OrderService/GetOrder': { hedging: { delayMs: 10 } },
              '*': { hedging: { delayMs: 20 } },
            },
          },
        }),
      ).to.deep.equal({ warned: [] });
      // A service name misspelt, whole or before a method, in the client's own package: named.
      expect(outcome({ retry: { methods: { 'orders.v1.OrderServic': { idempotent: true } } } })).to.deep.equal({
        warned: [
          'mesh.client(…, "orders"): services.orders.client.retry.methods["orders.v1.OrderServic"] names no service of this client (it has orders.v1.OrderService); the setting does nothing for this client',
        ],
      });
      expect(outcome({}, { stack: { deadline: { methods: { 'orders.v1.OrderSvc/GetOrder': 100 } } } }).refused).to.equal(
        'mesh.client(…, "orders"): stack.deadline.methods["orders.v1.OrderSvc/GetOrder"] names no service of this client (it has orders.v1.OrderService)',
      );
    });

    it('types the in-code config end to end: a misspelt client option fails tsc, and at run time names the field', () => {
      const config: MeshConfigInput = {
        services: {
          orders: {
            endpoints: [{ name: 'A', address: '127.0.0.1:50051' }],
            // @ts-expect-error maxAtempts is not a retry option (npm test type-checks this file)
            client: { retry: { maxAtempts: 3 } },
          },
        },
      };
      expect(() => createMesh({ config })).to.throw(/unknown field "services\.orders\.client\.retry\.maxAtempts"/);
    });

    it('refuses mesh.client() for a service the config lacks, and fails calls of a client made by hand with UNAVAILABLE', async () => {
      const [a] = await backends('ServiceA');
      const mesh = createMesh({ config: { services: { orders: { endpoints: [{ name: 'ServiceA', address: a!.address }] } } } });
      pool.defer(() => mesh.close());
      expect(() => mesh.client(OrderClient, 'payments')).to.throw(
        'mesh.client(…, "payments"): service "payments" is not in the mesh config (in-code config; services: orders)',
      );
      // A client built by hand on the target learns it at its first call, naming where config was looked for.
      const client = pool.track(new OrderClient(mesh.target('payments'), grpc.credentials.createInsecure(), mesh.channelOptions()));
      const error = await expectGrpcError(callUnary(client.GetOrder, client, { id: 'x' }));
      expect(error.code).to.equal(grpc.status.UNAVAILABLE);
      expect(error.details).to.equal('service "payments" is not in the mesh config (in-code config; services: orders)');
    });

    it("refuses an option mesh.client() does not take, pointing grpc-js's to clientOptions", () => {
      const mesh = createMesh({ config: { services: { orders: { endpoints: [{ name: 'A', address: '127.0.0.1:50051' }] } } } });
      pool.defer(() => mesh.close());
      const interceptor: grpc.Interceptor = (options, next) => new grpc.InterceptingCall(next(options));
      expect(() => mesh.client(OrderClient, 'orders', { interceptors: [interceptor] } as never)).to.throw(
        'mesh.client(…, "orders"): unknown option "interceptors" (grpc-js client options such as interceptors go in clientOptions); the options are credentials, clientOptions and stack',
      );
    });

    it('says a setting that does nothing even without a logger (a process warning)', async () => {
      const mesh = createMesh({
        config: {
          services: {
            orders: {
              endpoints: [{ name: 'A', address: '127.0.0.1:50051' }],
              client: { deadline: { methods: { 'orders.v1.OrderService/GetOrdr': 100 } } },
            },
          },
        },
      });
      pool.defer(() => mesh.close());
      const warned = new Promise<Error>((resolve) => process.once('warning', resolve));
      pool.track(mesh.client(OrderClient, 'orders'));
      const warning = await warned;
      expect(warning.message).to.contain('deadline.methods["orders.v1.OrderService/GetOrdr"] names no method of orders.v1.OrderService');
      expect((warning as NodeJS.ErrnoException).code).to.equal('MESHLITE_SETTING_UNUSED');
    });

    it('fails at once with every endpoint’s last error when all are down', async () => {
      const closedPorts = await Promise.all(
        [0, 1].map(async () => {
          const server = await startServer(() => {});
          server.server.forceShutdown();
          return server.port;
        }),
      );
      const mesh = createMesh({
        config: {
          services: {
            orders: {
              endpoints: closedPorts.map((port, i) => ({ name: ['ServiceA', 'ServiceB'][i]!, address: `127.0.0.1:${port}` })),
            },
          },
        },
      });
      pool.defer(() => mesh.close());
      const client = pool.track(mesh.client(OrderClient, 'orders', { stack: { retry: false } }));
      const error = await expectGrpcError(
        callUnary(client.GetOrder, client, { id: 'x' }, new grpc.Metadata(), { deadline: Date.now() + 10_000 }),
      );
      expect(error.code).to.equal(grpc.status.UNAVAILABLE);
      expect(error.details).to.match(
        /^no usable endpoint for orders: ServiceA \(127\.0\.0\.1:\d+\) not connected \(TRANSIENT_FAILURE: .*ECONNREFUSED.*\); ServiceB .*ECONNREFUSED/,
      );
    });

    it('makes grpc-js’s silent fallback loud when a service config gives our policy a bad config', async () => {
      const [a] = await backends('ServiceA');
      const { logger, lines } = memoryLogger('error');
      const mesh = createMesh({ config: { services: { orders: { endpoints: [{ name: 'ServiceA', address: a!.address }] } } }, logger });
      pool.defer(() => mesh.close());
      const client = pool.track(
        new OrderClient(`ipv4:${a!.address}`, grpc.credentials.createInsecure(), {
          'grpc.service_config': JSON.stringify({
            loadBalancingConfig: [{ meshlite_weighted: { mesh: mesh.id, service: 42 } }],
          }),
        }),
      );
      await callUnary(client.GetOrder, client, { id: 'x' });
      const line = lines.find((l) => l.msg.startsWith('meshlite_weighted config rejected'));
      expect(line?.['err']).to.match(/service: .*got 42/);
    });

    it('ties a client to its own mesh when several exist', async () => {
      const [a, b] = await backends('ServiceA', 'ServiceB');
      const { client: viaFirst } = meshClient(pool, {
        config: { services: { orders: { endpoints: [{ name: 'ServiceA', address: a!.address }] } } },
      });
      const { client: viaSecond } = meshClient(pool, {
        config: { services: { orders: { endpoints: [{ name: 'ServiceB', address: b!.address }] } } },
      });
      expect((await callUnary(viaFirst.GetOrder, viaFirst, { id: 'x' })).served_by).to.equal('ServiceA');
      expect((await callUnary(viaSecond.GetOrder, viaSecond, { id: 'x' })).served_by).to.equal('ServiceB');
    });
  });
});
