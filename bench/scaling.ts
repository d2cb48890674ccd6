// How the client's cost grows with the number of endpoints in a service: 2, 10, 100 and 1,000
// endpoints (one backend process listening on N ports), bare grpc-js round_robin against the
// mesh's balancer with health checking alone and the full mesh client. Per N and stack, in
// interleaved rounds: time to the first answer from a fresh client, client CPU per call under a
// bounded closed loop, client CPU per second while idle (health checking), heap per endpoint,
// and for the mesh a config reload that changes every weight, then a second one that gives
// endpoint 0 half the total weight: its share of the next calls shows whether the picker
// follows a re-weight at once.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { constants, PerformanceObserver } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { createLogger, createMesh, type MeshConfigInput } from 'grpc-meshlite';
import { exampleConfig } from '../examples/client.js';
import { callUnary, OrderClient } from '../examples/orders.js';
import { median } from './summary.js';

export const SCALING_SIZES = [2, 10, 100, 1000] as const;
export type ScalingStack = 'bare grpc-js' | 'grpc-meshlite balancer' | 'grpc-meshlite';
const STACKS: readonly ScalingStack[] = ['bare grpc-js', 'grpc-meshlite balancer', 'grpc-meshlite'];

export interface ScalingRun {
  readonly endpoints: number;
  readonly stack: ScalingStack;
  readonly round: number;
  /** From creating the client to its first answer. */
  readonly firstCallMs: number;
  readonly cpuUsPerCall: number;
  /** Client CPU per second of wall time with no calls (health checking, timers). */
  readonly idleCpuMsPerS: number;
  /** Heap held per endpoint once every endpoint took a call (after a full GC). */
  readonly heapKiBPerEndpoint: number;
  /** Mesh only: a reload changing every weight, until every picker uses the new weights. */
  readonly reloadMs?: number;
  /** Mesh only: endpoints that left READY because of that reload (should be 0). */
  readonly reconnectedOnReload?: number;
  /**
   * Mesh only: after a second reload that gives endpoint 0 weight N−1 and every other 1 (from
   * 3), the share of the next SKEW_CALLS calls endpoint 0 served, % (its weight's share: 50 %).
   */
  readonly skewedSharePercent?: number;
  /**
   * At 1,000 endpoints, round 1, bare grpc-js and the full client: client CPU per second over
   * a whole idle-probe period and a bit (IDLE_PERIOD_S in 1 s windows): the average, and the
   * worst 10 s window (idle probes come once a period per endpoint, spread over it).
   */
  readonly idlePeriod?: {
    readonly seconds: number;
    readonly averageMsPerS: number;
    readonly worst10sMsPerS: number;
    /** Seconds in which a major (mark-compact) GC of V8 ended, and the average of the others. */
    readonly majorGcSeconds: number;
    readonly otherSecondsMsPerS: number;
  };
}

const CONCURRENCY = 8;
/** Calls counted after the skewing reload (issue 26: "the share over the first 200 calls after a reload"). */
export const SKEW_CALLS = 200;
/** Idle CPU is the median of this many windows: one V8 memory-reducing GC landing in a window is not the client's steady cost. */
const IDLE_WINDOWS = 3;
/** The long idle measurement: the default idle-probe period (60 s) and 10 s more. */
const IDLE_PERIOD_S = 70;
const IDLE_WINDOW_MS = 2000;

/** grpc-js's subchannel pool drops unused subchannels every 10 s (subchannel-pool.ts REF_CHECK_INTERVAL); and a margin. */
const SUBCHANNEL_POOL_SWEEP_MS = 10_500;

const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function startBackend(endpoints: number): Promise<{ addresses: string[]; child: ChildProcess }> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', fileURLToPath(new URL('./many-ports-server.ts', import.meta.url)), String(endpoints)],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const [line] = (await once(createInterface({ input: child.stdout }), 'line')) as [string];
  return { addresses: (JSON.parse(line) as number[]).map((port) => `127.0.0.1:${port}`), child };
}

/** Endpoint i is named "e<i>", as the backend names itself in served_by. */
function meshConfig(addresses: readonly string[], weight: (index: number) => number): MeshConfigInput {
  const config = exampleConfig({});
  const orders = config.services['orders']!;
  orders.endpoints = addresses.map((address, i) => ({ name: `e${i}`, address, weight: weight(i) }));
  orders.healthCheck = { serviceName: 'orders.v1.OrderService' };
  orders.balancer = { ...orders.balancer, slowStart: { windowMs: 0 } };
  return config;
}

function makeClient(stack: ScalingStack, addresses: readonly string[]) {
  if (stack === 'bare grpc-js') {
    const client = new OrderClient(`ipv4:${addresses.join(',')}`, grpc.credentials.createInsecure(), {
      'grpc.service_config': JSON.stringify({ loadBalancingConfig: [{ round_robin: {} }] }),
    });
    return { client, close: () => client.close(), reload: undefined, skew: undefined };
  }
  const logger = createLogger({ level: 'warn', destination: { write: () => {} } });
  const mesh = createMesh({ config: meshConfig(addresses, () => 1), logger });
  const bare = { metrics: false, logging: false, deadline: false, breaker: false, retry: false } as const;
  const client = mesh.client(OrderClient, 'orders', stack === 'grpc-meshlite balancer' ? { stack: bare } : {});
  const reload = async (): Promise<{ reloadMs: number; reconnected: number }> => {
    const ready = new Set(
      mesh.snapshot('orders').flatMap((s) => s.endpoints.filter((e) => e.connectivity === 'READY').map((e) => e.address)),
    );
    const started = performance.now();
    mesh.update(meshConfig(addresses, () => 3));
    while (!mesh.snapshot('orders').every((s) => s.endpoints.every((e) => e.weight === 3))) await sleep(1);
    const reloadMs = performance.now() - started;
    const reconnected = mesh
      .snapshot('orders')
      .flatMap((s) => s.endpoints)
      .filter((e) => ready.has(e.address) && e.connectivity !== 'READY').length;
    return { reloadMs, reconnected };
  };
  // Endpoint 0 to N−1, the others from 3 to 1: endpoint 0 now carries half the weight.
  const skewed = (index: number) => (index === 0 ? addresses.length - 1 : 1);
  const skew = async (): Promise<number> => {
    mesh.update(meshConfig(addresses, skewed));
    while (!mesh.snapshot('orders').every((s) => s.endpoints.every((e) => e.weight === skewed(Number(e.name.slice(1)))))) await sleep(1);
    let first = 0;
    for (let i = 0; i < SKEW_CALLS; i++) {
      const order = await callUnary(client.GetOrder, client, { id: 'skew' }, new grpc.Metadata(), { deadline: Date.now() + 5000 });
      if (order.served_by === 'e0') first++;
    }
    return (100 * first) / SKEW_CALLS;
  };
  return {
    client,
    close: () => {
      client.close();
      mesh.close();
    },
    reload,
    skew,
  };
}

/** A closed loop of `calls` GetOrder calls, CONCURRENCY at a time; client CPU per call. */
async function load(client: OrderClient, calls: number): Promise<number> {
  let sent = 0;
  const before = process.cpuUsage();
  const worker = async () => {
    while (sent < calls) {
      sent++;
      await callUnary(client.GetOrder, client, { id: 'o' }, new grpc.Metadata(), { deadline: Date.now() + 5000 });
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const used = process.cpuUsage(before);
  return (used.user + used.system) / calls;
}

async function measure(stack: ScalingStack, addresses: readonly string[], round: number): Promise<ScalingRun> {
  gc();
  const heapBefore = process.memoryUsage().heapUsed;
  const started = performance.now();
  const made = makeClient(stack, addresses);
  try {
    await callUnary(made.client.GetOrder, made.client, { id: 'first' }, new grpc.Metadata(), { deadline: Date.now() + 10_000 });
    const firstCallMs = performance.now() - started;
    // Every endpoint takes calls (round robin, equal weights), then the measured loop.
    await load(made.client, Math.max(2000, addresses.length * 3));
    const cpuUsPerCall = await load(made.client, 4000);
    gc();
    const heapKiBPerEndpoint = (process.memoryUsage().heapUsed - heapBefore) / 1024 / addresses.length;
    // Let what the load left behind settle (timers of finished calls, garbage) before idling.
    await sleep(1000);
    gc();
    const windows: number[] = [];
    for (let i = 0; i < IDLE_WINDOWS; i++) {
      const idleBefore = process.cpuUsage();
      const idleStarted = performance.now();
      await sleep(IDLE_WINDOW_MS);
      const idle = process.cpuUsage(idleBefore);
      windows.push((idle.user + idle.system) / 1000 / ((performance.now() - idleStarted) / 1000));
    }
    const idleCpuMsPerS = median(windows)!;
    const idlePeriod = addresses.length >= 1000 && round === 1 && stack !== 'grpc-meshlite balancer' ? await idleOverPeriod() : undefined;
    const reload = made.reload && (await made.reload());
    const skewedSharePercent = made.skew && (await made.skew());
    return {
      endpoints: addresses.length,
      stack,
      round,
      firstCallMs,
      cpuUsPerCall,
      idleCpuMsPerS,
      heapKiBPerEndpoint,
      ...(reload && { reloadMs: reload.reloadMs, reconnectedOnReload: reload.reconnected }),
      ...(skewedSharePercent !== undefined && { skewedSharePercent }),
      ...(idlePeriod && { idlePeriod }),
    };
  } finally {
    made.close();
    // grpc-js keeps a closed client's subchannels (and their connections) in its process-wide
    // pool until its next sweep, every 10 s: the next stack would reuse them warm (a client
    // with the same channel options) and see them freed during its own heap measurement.
    await sleep(addresses.length >= 100 ? SUBCHANNEL_POOL_SWEEP_MS : 200);
  }
}

/**
 * Client CPU per second over IDLE_PERIOD_S of 1 s windows with no calls: the average and the
 * worst 10 s; and apart, the seconds in which a major GC of V8 ended (its memory reducer
 * collects a heap that stopped growing a few times after load, 200-300 ms of CPU on all threads
 * for this heap, bare grpc-js's too) against the others, where the client's own idle work shows.
 */
async function idleOverPeriod(): Promise<NonNullable<ScalingRun['idlePeriod']>> {
  const perSecond: number[] = [];
  const majorGc: boolean[] = [];
  let major = false;
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries())
      if ((entry as { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR) major = true;
  });
  observer.observe({ entryTypes: ['gc'] });
  try {
    for (let i = 0; i < IDLE_PERIOD_S; i++) {
      const before = process.cpuUsage();
      const started = performance.now();
      major = false;
      await sleep(1000);
      const used = process.cpuUsage(before);
      perSecond.push((used.user + used.system) / 1000 / ((performance.now() - started) / 1000));
      majorGc.push(major);
    }
  } finally {
    observer.disconnect();
  }
  let worst = 0;
  for (let i = 0; i + 10 <= perSecond.length; i++) worst = Math.max(worst, perSecond.slice(i, i + 10).reduce((a, b) => a + b, 0) / 10);
  const others = perSecond.filter((_, i) => !majorGc[i]);
  return {
    seconds: IDLE_PERIOD_S,
    averageMsPerS: perSecond.reduce((a, b) => a + b, 0) / perSecond.length,
    worst10sMsPerS: worst,
    majorGcSeconds: perSecond.length - others.length,
    otherSecondsMsPerS: others.reduce((a, b) => a + b, 0) / Math.max(1, others.length),
  };
}

export async function runScaling(rounds: number, progress: (line: string) => void): Promise<ScalingRun[]> {
  const runs: ScalingRun[] = [];
  for (const endpoints of SCALING_SIZES) {
    const backend = await startBackend(endpoints);
    try {
      for (let round = 1; round <= rounds; round++) {
        const order = round % 2 === 1 ? STACKS : [...STACKS].reverse();
        for (const stack of order) {
          const run = await measure(stack, backend.addresses, round);
          runs.push(run);
          progress(
            `scaling  N=${String(endpoints).padEnd(4)} ${stack.padEnd(22)} first call ${Math.round(run.firstCallMs)} ms, ${Math.round(run.cpuUsPerCall)} µs/call, idle ${run.idleCpuMsPerS.toFixed(1)} ms/s, ${run.heapKiBPerEndpoint.toFixed(1)} KiB/endpoint` +
              (run.reloadMs === undefined ? '' : `, reload ${Math.round(run.reloadMs)} ms (${run.reconnectedOnReload} reconnected)`) +
              (run.idlePeriod === undefined
                ? ''
                : `, idle over ${run.idlePeriod.seconds} s ${run.idlePeriod.averageMsPerS.toFixed(1)} ms/s (worst 10 s ${run.idlePeriod.worst10sMsPerS.toFixed(1)}; ` +
                  `${run.idlePeriod.otherSecondsMsPerS.toFixed(1)} ms/s outside the ${run.idlePeriod.majorGcSeconds} s with a major GC)`) +
              (run.skewedSharePercent === undefined
                ? ''
                : `, e0 ${run.skewedSharePercent.toFixed(1)} % of ${SKEW_CALLS} calls after the skew`),
          );
        }
      }
    } finally {
      backend.child.kill('SIGKILL');
    }
  }
  return runs;
}
