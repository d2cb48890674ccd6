// npm run bench: grpc-meshlite against plain grpc-js configured by an expert, same backends,
// same load, same run, interleaved. Writes bench/results/latest.{json,md} and one SVG chart
// per scenario. See README "Benchmarks" for what each number means.
//
//   npm run bench                             every scenario, 3 interleaved rounds (~8 min)
//   npm run bench -- --rounds 1 --scenario hang,kill
//   npm run bench -- --rounds 1 --parts scenarios --scenario max-age,cert-rotation,tiers
//                                             the scenarios on backends of their own (scenarios.ts)
//   npm run bench -- --parts overhead         only the overhead run (parts: scenarios, overhead, weights)
//   npm run bench -- --scenario soak          the soak alone: 10⁶ calls while backends are killed in turn
//   npm run bench -- --scenario soak --soak-calls 100000
//   npm run bench -- --parts etcd             only the etcd discovery run (a real etcd; ServiceA killed)
//   npm run bench -- --parts mtls             only the mTLS cost run (the mesh over mTLS against plaintext)
//   npm run bench -- --parts prometheus       only the metrics cost run (recording into the Prometheus exporter)
//   npm run bench -- --parts scaling          only the 2 … 1,000 endpoints run
//   npm run bench -- --parts traffic          only traffic management: a canary's split per step, routing's and a mirror's cost
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, platform, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { LoadGenerator } from '../examples/load.js';
import { DirectoryOrderStore } from '../examples/order-store.js';
import { callUnary } from '../examples/orders.js';
import { Supervisor } from '../examples/supervisor.js';
import { measure, type RunMetrics, type RunTimes } from './metrics.js';
import { writeResults, type BenchResults, type OverheadRun, type ScenarioRun, type WeightRun } from './results.js';
import { SCENARIOS, scenarios, type ScenarioName } from './scenarios.js';
import { sharedBackends, startScenarioBackends, warmUp, type Backends, type ComparedStack } from './scenario-backends.js';
import { servePrometheus } from 'grpc-meshlite/prometheus';
import { freePort } from '../examples/ports.js';
import { meshCertificates } from '../examples/tls-certs.js';
import { runEtcdKill, type EtcdKillRun } from './etcd-kill.js';
import { measureRecording, type RecordingRun } from './recording.js';
import { LAYER_ALONE_MODES, measureLayersAloneInChild, type LayerAloneRun } from './layers-alone.js';
import { median } from './summary.js';
import { runScaling, SCALING_SIZES, type ScalingRun } from './scaling.js';
import { runSoak, type SoakRun } from './soak.js';
import { resetBackends, runInterleaved, runOverhead } from './overhead.js';
import { runTraffic, type TrafficResults } from './traffic.js';
import { bareStack, emptyInterceptorStack, LAYER_STEPS, layeredStack, meshliteStack, plainStack, type Stack } from './stacks.js';

const PARTS = ['scenarios', 'latency', 'overhead', 'layers', 'weights', 'etcd', 'mtls', 'prometheus', 'scaling', 'traffic'] as const;
type Part = (typeof PARTS)[number];

const WARMUP_MS = 2000;
/** The paced overhead run's rate (issue 17: p50 within 20 µs of bare grpc-js at 1,000 calls/s). */
const PACED_RATE = 1000;
/** Callers back to back in the overhead part (issue 29: the targets hold at both). */
const OVERHEAD_CALLERS = [32, 128] as const;
const AFTER_MS = 3000;

function flags() {
  const { values } = parseArgs({
    options: {
      rounds: { type: 'string', default: '3' },
      scenario: { type: 'string', default: SCENARIOS.join(',') },
      'fault-ms': { type: 'string', default: '3000' },
      rate: { type: 'string', default: '300' },
      'overhead-rounds': { type: 'string', default: '5' },
      parts: { type: 'string', default: PARTS.join(',') },
      'soak-calls': { type: 'string', default: '1000000' },
      'scaling-rounds': { type: 'string', default: '3' },
    },
  });
  const parts = values.parts.split(',').map((s) => s.trim());
  for (const part of parts) {
    if (!PARTS.includes(part as Part)) throw new Error(`--parts: unknown part "${part}" (known: ${PARTS.join(', ')})`);
  }
  const chosen = values.scenario.split(',').map((s) => s.trim());
  for (const name of chosen) {
    if (!SCENARIOS.includes(name as (typeof SCENARIOS)[number]) && name !== 'soak') {
      throw new Error(`--scenario: unknown scenario "${name}" (known: ${SCENARIOS.join(', ')}, soak)`);
    }
  }
  // The soak is long: it runs only when asked for, and alone unless --parts says otherwise.
  const soak = chosen.includes('soak');
  if (soak && values.parts === PARTS.join(',') && chosen.length === 1) parts.splice(0);
  const int = (flag: string, text: string, min: number, max: number) => {
    const n = Number(text);
    if (!Number.isInteger(n) || n < min || n > max) throw new Error(`--${flag} must be an integer ${min}-${max}, got "${text}"`);
    return n;
  };
  return {
    rounds: int('rounds', values.rounds, 1, 20),
    scenarios: chosen.filter((name) => name !== 'soak') as ScenarioName[],
    soakCalls: soak ? int('soak-calls', values['soak-calls'], 1000, 100_000_000) : 0,
    faultMs: int('fault-ms', values['fault-ms'], 1000, 30_000),
    rate: int('rate', values.rate, 50, 2000),
    overheadRounds: int('overhead-rounds', values['overhead-rounds'], 1, 20),
    scalingRounds: int('scaling-rounds', values['scaling-rounds'], 1, 10),
    parts: new Set(parts as Part[]),
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function main(): Promise<void> {
  const options = flags();
  const storeDir = mkdtempSync(join(tmpdir(), 'meshlite-bench-'));
  const store = new DirectoryOrderStore(storeDir);
  const backendArgs = ['--store-dir', storeDir, '--grace-ms', '200'];
  const supervisor = new Supervisor({ args: backendArgs });
  const started = Date.now();
  try {
    await supervisor.start(['ServiceA', 'ServiceB']);
    const shared = sharedBackends(supervisor);
    await warmUp(shared);
    const { addresses } = shared;
    const { parts } = options;
    const total =
      (parts.has('scenarios') ? options.rounds * options.scenarios.length * 2 : 0) +
      (parts.has('latency') ? options.rounds * 3 : 0) +
      (parts.has('overhead') ? options.overheadRounds * 6 + 1 : 0) +
      (parts.has('layers') ? options.overheadRounds * (LAYER_STEPS.length + 2) + 2 : 0) +
      (parts.has('weights') ? 2 : 0) +
      (parts.has('etcd') ? 1 : 0) +
      (parts.has('mtls') ? options.overheadRounds * 2 : 0) +
      (parts.has('prometheus') ? options.overheadRounds * 2 + 1 : 0) +
      (parts.has('scaling') ? options.scalingRounds * SCALING_SIZES.length * 3 : 0) +
      (parts.has('traffic') ? options.overheadRounds * 5 + 3 : 0) +
      (options.soakCalls > 0 ? 1 : 0);
    let done = 0;
    const progress = (text: string) => {
      done++;
      const elapsed = Math.round((Date.now() - started) / 1000);
      console.log(`[${String(done).padStart(3)}/${total}] ${String(elapsed).padStart(4)} s  ${text}`);
    };

    const plan = [
      parts.has('scenarios')
        ? `${options.rounds} round(s) of ${options.scenarios.join(', ')} at ${options.rate} calls/s, faults lasting ${options.faultMs} ms`
        : '',
      parts.has('latency') ? `${options.rounds} round(s) of the latency scenario (p2c_ewma, weighted, plain grpc-js)` : '',
      parts.has('overhead') ? `${options.overheadRounds} overhead round(s)` : '',
      parts.has('layers') ? `${options.overheadRounds} round(s) of the cost per layer` : '',
      parts.has('weights') ? 'the weights run' : '',
      parts.has('etcd') ? 'the etcd discovery run' : '',
      parts.has('mtls') ? `${options.overheadRounds} mTLS round(s)` : '',
      parts.has('prometheus') ? `${options.overheadRounds} metrics round(s)` : '',
      parts.has('scaling') ? `${options.scalingRounds} scaling round(s) at ${SCALING_SIZES.join(', ')} endpoints` : '',
      parts.has('traffic') ? `the canary shift and ${options.overheadRounds} traffic round(s)` : '',
      options.soakCalls > 0 ? `a soak of ${options.soakCalls} calls` : '',
    ].filter(Boolean);
    console.log(`Benchmark: ${plan.join('; ')}`);
    const runs: ScenarioRun[] = [];
    for (let round = 1; parts.has('scenarios') && round <= options.rounds; round++) {
      // Alternate which stack goes first, so neither always runs on a fresher machine.
      const order: ComparedStack[] = round % 2 === 1 ? ['grpc-meshlite', 'plain grpc-js'] : ['plain grpc-js', 'grpc-meshlite'];
      for (const scenario of options.scenarios) {
        // A scenario with backends of its own starts them for its round (both stacks) and stops
        // them after: no other scenario runs beside them.
        const spec = scenarios[scenario].backends;
        const own = spec && (await startScenarioBackends(spec, backendArgs));
        try {
          const backends = own ?? shared;
          for (const stackName of order) {
            const run = await runScenario(backends, store, backends.stacks[stackName], scenario, round, options);
            runs.push(run);
            progress(`${scenario.padEnd(13)} ${stackName.padEnd(14)} ${describe(run.metrics)}`);
          }
        } finally {
          await own?.close();
        }
      }
    }

    // ServiceA turns 200 ms slow, hedging and per-attempt timeouts off: what each balancer does by itself.
    const latencyStacks = [
      (a: Record<string, string>) => meshliteStack(a, { policy: 'p2c_ewma' }),
      (a: Record<string, string>) => meshliteStack(a, { policy: 'weighted' }),
      plainStack,
    ];
    for (let round = 1; parts.has('latency') && round <= options.rounds; round++) {
      const order = round % 2 === 1 ? latencyStacks : [...latencyStacks].reverse();
      for (const make of order) {
        const run = await runScenario(shared, store, make, 'latency', round, options);
        runs.push(run);
        progress(`latency ${run.stack.padEnd(34)} ${describe(run.metrics)}, A < 5 % after ${run.metrics.lowShareMs ?? 'never'} ms`);
      }
    }

    const overhead: OverheadRun[] = [];
    const paced: OverheadRun[] = [];
    // Equal weights: the run measures what the stack costs per call, not the 80/20 split.
    const mesh = (a: Record<string, string>) => meshliteStack(a, { equalWeights: true });
    if (parts.has('overhead')) {
      // One run of each stack first, not kept: the first stack a process runs pays for V8's
      // compiling its code, which is not what it costs per call.
      for (const make of [mesh, bareStack])
        for (const callers of OVERHEAD_CALLERS) await runOverhead(supervisor, addresses, make, 0, undefined, {}, callers);
      progress('overhead warm-up run of each stack done (not kept)');
    }
    for (let round = 1; parts.has('overhead') && round <= options.overheadRounds; round++) {
      const order = round % 2 === 1 ? [mesh, bareStack] : [bareStack, mesh];
      // 32 callers, then 128: at 128 bare grpc-js's p99 passes the 60 ms hedge delay, and the
      // hedges a healthy pair then gets are part of what the full client costs. Each round
      // takes turns between the two stacks in short slices (see runInterleaved): a noisy
      // second on a shared machine lands on both, not on whichever ran then.
      for (const callers of OVERHEAD_CALLERS) {
        for (const run of await runInterleaved(supervisor, addresses, order, round, callers)) {
          overhead.push(run);
          progress(
            `overhead ${run.stack.padEnd(14)} ${String(callers).padStart(3)} callers ${Math.round(run.callsPerSecond)} calls/s, p50 ${run.p50Ms.toFixed(2)} ms, client CPU ${Math.round(run.clientCpuUsPerCall)} µs/call (GC ${Math.round(run.gcUsPerCall ?? 0)}), ${((run.allocatedBytesPerCall ?? 0) / 1024).toFixed(1)} KiB/call`,
          );
        }
      }
      for (const make of order) {
        const calm = await runOverhead(supervisor, addresses, make, round, PACED_RATE);
        paced.push(calm);
        progress(
          `paced    ${calm.stack.padEnd(14)} ${PACED_RATE} calls/s, p50 ${(calm.p50Ms * 1000).toFixed(0)} µs, client CPU ${Math.round(calm.clientCpuUsPerCall)} µs/call`,
        );
      }
    }

    // What each layer costs: bare grpc-js, then the mesh's balancer alone, then one layer more
    // at a time up to the full client; interleaved, the order reversed every other round.
    const layers: OverheadRun[] = [];
    const layerStacks = [
      bareStack,
      emptyInterceptorStack,
      ...LAYER_STEPS.map((step) => (a: Record<string, string>) => layeredStack(a, step)),
    ];
    if (parts.has('layers')) {
      for (const make of layerStacks) await runOverhead(supervisor, addresses, make, 0);
      progress('layers   warm-up run of each stack done (not kept)');
    }
    for (let round = 1; parts.has('layers') && round <= options.overheadRounds; round++) {
      for (const make of round % 2 === 1 ? layerStacks : [...layerStacks].reverse()) {
        const run = await runOverhead(supervisor, addresses, make, round);
        layers.push(run);
        progress(
          `layers   ${run.stack.padEnd(35)} ${Math.round(run.callsPerSecond)} calls/s, client CPU ${Math.round(run.clientCpuUsPerCall)} µs/call (GC ${Math.round(run.gcUsPerCall ?? 0)})`,
        );
      }
    }

    // The same layers by themselves, in process: their own work, without grpc-js around them
    // (in a process of their own: see measureLayersAloneInChild).
    let layersAlone: LayerAloneRun[] | undefined;
    if (parts.has('layers')) {
      layersAlone = await measureLayersAloneInChild(options.overheadRounds);
      progress(
        `layers   alone: ${LAYER_ALONE_MODES.map((mode) => `${mode} ${Math.round(median(layersAlone!.filter((r) => r.mode === mode).map((r) => r.nsPerCall)) ?? 0)} ns`).join(', ')} per call`,
      );
    }

    let soak: SoakRun | undefined;
    if (options.soakCalls > 0) {
      await resetBackends(supervisor);
      const stack = meshliteStack(addresses);
      try {
        soak = await runSoak(supervisor, stack, `soak-${process.pid}`, {
          calls: options.soakCalls,
          faultEveryMs: 3000,
          downMs: 500,
          concurrency: 32,
          progress: (text) => console.log(`         ${text}`),
        });
      } finally {
        stack.close();
      }
      progress(
        `soak     ${soak.calls} calls, ${soak.kills} kills, errors ${soak.errors}, heap ${soak.heapMiB.start.toFixed(1)} → ${soak.heapMiB.end.toFixed(1)} MiB (${soak.heapGrowthPercent.toFixed(1)} %)`,
      );
    }

    const weights: WeightRun[] = [];
    for (const make of parts.has('weights') ? [meshliteStack, plainStack] : []) {
      const run = await runWeights(supervisor, addresses, make);
      weights.push(run);
      progress(`weights  ${run.stack.padEnd(14)} ServiceA ${run.shareA.toFixed(1)} % of ${run.calls} calls (configured 80 %)`);
    }

    let etcdKill: EtcdKillRun | undefined;
    if (parts.has('etcd')) {
      etcdKill = await runEtcdKill(storeDir, options.rate);
      progress(
        `etcd     ${etcdKill.calls} calls after the kill, ${etcdKill.errors} failed; last pick of ServiceA ${etcdKill.lastPickMs} ms, ` +
          `out of the rotation after ${etcdKill.removedMs ?? 'never'} ms (lease ${etcdKill.ttlSeconds} s)`,
      );
    }

    const mtls: OverheadRun[] = [];
    if (parts.has('mtls')) {
      // The same backends again, serving mutual TLS, beside the plaintext ones.
      const certs = meshCertificates('spiffe://meshlite/orders', 'spiffe://meshlite/bench');
      const tlsSupervisor = new Supervisor({
        args: ['--store-dir', storeDir, '--grace-ms', '200', '--tls-dir', certs.serverDir, '--allow', 'spiffe://meshlite/bench'],
      });
      try {
        await tlsSupervisor.start(['ServiceA', 'ServiceB']);
        const tlsAddresses = {
          ServiceA: `127.0.0.1:${tlsSupervisor.port('ServiceA')}`,
          ServiceB: `127.0.0.1:${tlsSupervisor.port('ServiceB')}`,
        };
        const tls = { ...certs.client, caFile: join(certs.serverDir, 'ca.pem'), identities: ['spiffe://meshlite/orders'] };
        const plain = () => runOverhead(supervisor, addresses, (a) => meshliteStack(a, { equalWeights: true }), 0);
        const secure = () => runOverhead(tlsSupervisor, tlsAddresses, (a) => meshliteStack(a, { equalWeights: true, tls }), 0);
        for (let round = 1; round <= options.overheadRounds; round++) {
          for (const run of round % 2 === 1 ? [secure, plain] : [plain, secure]) {
            const result = { ...(await run()), round };
            mtls.push(result);
            progress(
              `mtls     ${result.stack.padEnd(18)} ${Math.round(result.callsPerSecond)} calls/s, p50 ${result.p50Ms.toFixed(2)} ms, client CPU ${Math.round(result.clientCpuUsPerCall)} µs/call`,
            );
          }
        }
      } finally {
        await tlsSupervisor.stop();
        certs.dispose();
      }
    }

    const prometheusRuns: OverheadRun[] = [];
    let recording: RecordingRun[] | undefined;
    if (parts.has('prometheus')) {
      recording = await measureRecording(options.overheadRounds);
      progress(
        `metrics  recording alone: ${['none', 'aggregated', 'sdk'].map((mode) => `${mode} ${Math.round(median(recording!.filter((r) => r.mode === mode).map((r) => r.nsPerCall)) ?? 0)} ns`).join(', ')} per call`,
      );
      const exporter = await servePrometheus({ port: await freePort() });
      try {
        const off = () => runOverhead(supervisor, addresses, (a) => meshliteStack(a, { equalWeights: true }), 0);
        const on = () =>
          runOverhead(supervisor, addresses, (a) => meshliteStack(a, { equalWeights: true, meterProvider: exporter.meterProvider }), 0);
        for (let round = 1; round <= options.overheadRounds; round++) {
          for (const run of round % 2 === 1 ? [on, off] : [off, on]) {
            const result = { ...(await run()), round };
            prometheusRuns.push(result);
            progress(
              `metrics  ${result.stack.padEnd(26)} ${Math.round(result.callsPerSecond)} calls/s, client CPU ${Math.round(result.clientCpuUsPerCall)} µs/call`,
            );
          }
        }
      } finally {
        await exporter.close();
      }
    }

    const scaling: ScalingRun[] = parts.has('scaling') ? await runScaling(options.scalingRounds, progress) : [];

    const traffic: TrafficResults | undefined = parts.has('traffic')
      ? await runTraffic(supervisor, addresses, { rate: options.rate, rounds: options.overheadRounds }, progress)
      : undefined;

    const results: BenchResults = {
      date: new Date().toISOString(),
      machine: {
        cpus: cpus().length,
        cpuModel: cpus()[0]?.model ?? 'unknown',
        memoryGiB: Math.round(totalmem() / 2 ** 30),
        node: process.version,
        os: `${platform()} ${release()}`,
      },
      settings: { ...options, parts: [...parts], warmupMs: WARMUP_MS, afterMs: AFTER_MS },
      runs,
      overhead,
      weights,
      ...(soak && { soak }),
      ...(etcdKill && { etcdKill }),
      ...(mtls.length > 0 && { mtls }),
      ...(prometheusRuns.length > 0 && { prometheus: prometheusRuns }),
      ...(recording && { recording }),
      ...(scaling.length > 0 && { scaling }),
      ...(layers.length > 0 && { layers }),
      ...(layersAlone && { layersAlone }),
      ...(paced.length > 0 && { paced }),
      ...(traffic && { traffic }),
    };
    const written = writeResults(results);
    console.log(`\n${written.markdown}\nWrote ${written.files.join(', ')}`);
  } finally {
    await supervisor.stop();
    rmSync(storeDir, { recursive: true, force: true });
  }
}

function describe(m: RunMetrics): string {
  const ms = (v: number | null) => (v === null ? '—' : `${Math.round(v)} ms`);
  const codes = Object.entries(m.errorsByCode).map(
    ([code, { count, details }]) => `${code} ${count}: ${details.map((d) => `"${d}"`).join(', ')}`,
  );
  return `ok ${m.ok}, errors ${m.errors}${codes.length > 0 ? ` (${codes.join('; ')})` : ''}, recover ${ms(m.recoverMs)}, p99 ${ms(m.p99Ms)}, back to split ${ms(m.backToSplitMs)}, amplification ${m.amplification?.toFixed(2) ?? '—'}`;
}

async function received(supervisor: Supervisor, name: string): Promise<number> {
  const stats = await supervisor.stats(name, 2000);
  return stats ? Object.values(stats).reduce((sum, n) => sum + n, 0) : 0;
}

async function runScenario(
  backends: Backends,
  store: DirectoryOrderStore,
  make: (a: Record<string, string>) => Stack,
  name: ScenarioName,
  round: number,
  options: ReturnType<typeof flags>,
): Promise<ScenarioRun> {
  const { supervisor, names, addresses, certificates } = backends;
  await resetBackends(supervisor, names);
  // The client starts from the files as they were before any rotation.
  certificates?.reset();
  const scenario = scenarios[name];
  const faultMs = scenario.faultMs ?? options.faultMs;
  const kills = scenario.kills ?? [];
  const before: Record<string, number> = {};
  for (const backend of names) before[backend] = await received(supervisor, backend);
  // A killed process takes its counter with it: read it just before the kill.
  const atFault: Record<string, number> = {};
  const applyFault = async () => {
    for (const killed of kills) atFault[killed] = await received(supervisor, killed);
    scenario.apply(supervisor, faultMs, certificates);
    return Date.now();
  };
  const early = scenario.beforeClient ? await applyFault() : undefined;
  const stack = make(addresses);
  const prefix = `bench-${process.pid}-${round}-${name}-${stack.name.replace(/\W/g, '')}-`;
  const load = new LoadGenerator(stack.client, {
    ratePerSecond: scenario.rate ?? options.rate,
    keyPrefix: prefix,
    ...(scenario.deadlineMs !== undefined && { deadlineMs: scenario.deadlineMs }),
    ...(scenario.waitForReady !== undefined && { waitForReady: scenario.waitForReady }),
  });
  try {
    // A client that starts before its backends has nothing to read yet: it only creates orders at first.
    if (early === undefined) await load.seed(5);
    const start = Date.now();
    load.start();
    if (early === undefined) await sleep(WARMUP_MS);
    const fault = early ?? (await applyFault());
    await sleep(Math.max(0, fault + faultMs - Date.now()));
    await scenario.heal(supervisor, certificates);
    const heal = Date.now();
    await sleep(AFTER_MS);
    const end = Date.now();
    await load.stop();
    let total = 0;
    for (const backend of names) {
      const now = await received(supervisor, backend);
      total += kills.includes(backend) ? atFault[backend]! - before[backend]! + now : now - before[backend]!;
    }
    const times: RunTimes = { start: Math.min(start, fault), fault, heal, end };
    const duplicates = Math.max(0, store.countWithKeyPrefix(prefix) - load.keysIssued);
    const metrics = measure(load.records, times, total, duplicates, scenario.splitWindowMs);
    return { scenario: name, stack: stack.name, round, times, metrics, timeline: timeline(load.records, times, names) };
  } finally {
    stack.close();
  }
}

/** Calls per 100 ms bucket, by backend and failed, for the charts. */
function timeline(
  records: ReturnType<LoadGenerator['records']['slice']>,
  times: RunTimes,
  names: readonly string[],
): ScenarioRun['timeline'] {
  const buckets = Math.ceil((times.end - times.start) / 100);
  const zeros = () => Array.from({ length: buckets }, () => 0);
  const series: Record<string, number[]> = { ServiceA: zeros(), ServiceB: zeros(), failed: zeros() };
  for (const name of names) series[name] ??= zeros();
  for (const record of records) {
    const bucket = Math.floor((record.endedAt - times.start) / 100);
    if (bucket < 0 || bucket >= buckets) continue;
    const into = record.code !== 0 ? series['failed'] : names.includes(record.servedBy ?? '') ? series[record.servedBy!] : undefined;
    if (into) into[bucket]!++;
  }
  return series as ScenarioRun['timeline'];
}

async function runWeights(
  supervisor: Supervisor,
  addresses: Record<string, string>,
  make: (a: Record<string, string>) => Stack,
): Promise<WeightRun> {
  await resetBackends(supervisor);
  const stack = make(addresses);
  try {
    const key = new grpc.Metadata();
    key.set('idempotency-key', `weights-${process.pid}-${stack.name}`);
    const order = await callUnary(stack.client.CreateOrder, stack.client, { idempotency_key: 'w', item: 'book', quantity: 1 }, key, {
      deadline: Date.now() + 10_000,
    });
    for (let i = 0; i < 100; i++) await callUnary(stack.client.GetOrder, stack.client, { id: order.id });
    const served: string[] = [];
    const worker = async () => {
      while (served.length < 2000) served.push((await callUnary(stack.client.GetOrder, stack.client, { id: order.id })).served_by);
    };
    await Promise.all(Array.from({ length: 4 }, worker));
    const toA = served.filter((name) => name === 'ServiceA').length;
    return { stack: stack.name, calls: served.length, shareA: (100 * toA) / served.length };
  } finally {
    stack.close();
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? `bench: ${error.message}` : error);
  process.exit(1);
});
