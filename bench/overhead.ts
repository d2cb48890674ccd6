// The overhead run's measurement, shared by the parts that compare stacks call by call: a
// healthy pair, GetOrder in a closed loop of 32 callers (or 128, or paced), the client process's
// CPU time and the heap it allocates per call. Bounded by time (3 s per run) and by the warm-up's call count.
import * as grpc from '@grpc/grpc-js';
import { callUnary } from '../examples/orders.js';
import { quantile } from '../examples/report.js';
import type { Supervisor } from '../examples/supervisor.js';
import { countAllocatedBytes, countGcPauses } from './gc-pauses.js';
import type { OverheadRun } from './results.js';
import type { Stack } from './stacks.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The backends (default: ServiceA and ServiceB) running, healthy and fault-free before a run starts. */
export async function resetBackends(supervisor: Supervisor, names: readonly string[] = ['ServiceA', 'ServiceB']): Promise<void> {
  for (const name of names) {
    for (let i = 0; i < 200 && supervisor.state(name) !== 'running'; i++) await sleep(50);
    if (supervisor.state(name) !== 'running') throw new Error(`${name} did not come back`);
    supervisor.send(name, { type: 'faults', failRate: 0, latencyMs: 0, replyDelayMs: 0, failWithoutHeader: null });
    supervisor.send(name, { type: 'health', status: 'SERVING' });
  }
}

/** Healthy pair, closed-loop saturating load of GetOrder: what the whole stack costs per call. */
export async function runOverhead(
  supervisor: Supervisor,
  addresses: Record<string, string>,
  make: (a: Record<string, string>) => Stack,
  round: number,
  /** Calls per second, paced (one every 1000/rate ms); without it, 32 callers back to back. */
  rate?: number,
  /** Headers every timed call carries (the traffic part's `x-tenant`). Default: none. */
  headers: Readonly<Record<string, string>> = {},
  /** Callers back to back, without `rate`. */
  callers = 32,
  /** How long the timed calls run. */
  durationMs = 3000,
): Promise<OverheadRun> {
  await resetBackends(supervisor);
  const stack = make(addresses);
  try {
    const metadata = () => {
      const md = new grpc.Metadata();
      md.set('idempotency-key', `overhead-${process.pid}-${round}-${stack.name}`);
      return md;
    };
    const order = await callUnary(
      stack.client.CreateOrder,
      stack.client,
      { idempotency_key: 'seed', item: 'book', quantity: 1 },
      metadata(),
      { deadline: Date.now() + 10_000 },
    );
    const withHeaders = () => {
      const md = new grpc.Metadata();
      for (const [name, value] of Object.entries(headers)) md.set(name, value);
      return md;
    };
    // Warm both connections before measuring.
    for (let i = 0; i < 200; i++) await callUnary(stack.client.GetOrder, stack.client, { id: order.id }, withHeaders());
    for (let i = 0; i < 1000; i++) await callUnary(stack.client.GetOrder, stack.client, { id: order.id }, withHeaders());
    // The hedges the mesh's retry layer sends during the timed calls (none for grpc-js stacks).
    let hedges = 0;
    const retry = (stack.client as { stack?: { retry?: { onRetry(listener: (event: { kind: string }) => void): () => void } } }).stack
      ?.retry;
    const stopCounting = retry?.onRetry((event) => {
      if (event.kind === 'hedge') hedges++;
    });
    const latencies: number[] = [];
    const gcPauses = countGcPauses();
    const allocated = countAllocatedBytes();
    const cpuBefore = process.cpuUsage();
    let failed = 0;
    const stopAt = Date.now() + durationMs;
    const timedCall = async () => {
      const t0 = performance.now();
      try {
        await callUnary(stack.client.GetOrder, stack.client, { id: order.id }, withHeaders(), { deadline: Date.now() + 2000 });
        latencies.push(performance.now() - t0);
      } catch {
        failed++;
      }
    };
    const worker = async () => {
      while (Date.now() < stopAt) await timedCall();
    };
    if (rate === undefined) await Promise.all(Array.from({ length: callers }, worker));
    else {
      // One call every 1000/rate ms (catching up after a late timer), for the same duration.
      const calls: Array<Promise<void>> = [];
      const begin = performance.now();
      for (let sent = 0; sent < (rate * durationMs) / 1000;) {
        while (sent < (rate * durationMs) / 1000 && performance.now() - begin >= (sent * 1000) / rate) {
          calls.push(timedCall());
          sent++;
        }
        await sleep(1);
      }
      await Promise.all(calls);
    }
    const cpu = process.cpuUsage(cpuBefore);
    stopCounting?.();
    const allocatedBytes = allocated();
    const gcMs = await gcPauses();
    latencies.sort((a, b) => a - b);
    const calls = Math.max(1, latencies.length + failed);
    const mirrors = stack.mirrors?.();
    return {
      stack: stack.name,
      round,
      ...(rate === undefined && { callers }),
      durationMs,
      callsPerSecond: latencies.length / (durationMs / 1000),
      p50Ms: quantile(latencies, 0.5) ?? 0,
      failed,
      clientCpuUsPerCall: (cpu.user + cpu.system) / calls,
      gcUsPerCall: (gcMs * 1000) / calls,
      allocatedBytesPerCall: allocatedBytes / calls,
      ...(retry && { hedgesPerCall: hedges / calls }),
      ...(mirrors && { mirrors: { sent: mirrors.sent, dropped: mirrors.dropped, failed: mirrors.failed } }),
    };
  } finally {
    stack.close();
  }
}

/**
 * One round of two stacks at `callers` callers back to back, taking turns in `slices` short
 * runs each (ABBA: the order alternates), each run `sliceMs` long on a stack made and warmed
 * for it: the two stacks' figures are their slices summed (CPU, calls, garbage, GC) — p50 the
 * median of the slices'. On a shared machine a noisy second then lands on both stacks, where
 * one 3 s run per stack left the whole of it to one.
 */
export async function runInterleaved(
  supervisor: Supervisor,
  addresses: Record<string, string>,
  makes: ReadonlyArray<(a: Record<string, string>) => Stack>,
  round: number,
  callers: number,
  slices = 4,
  sliceMs = 750,
): Promise<OverheadRun[]> {
  const runs: OverheadRun[][] = makes.map(() => []);
  for (let slice = 0; slice < slices; slice++) {
    const indexes = makes.map((_, i) => i);
    for (const i of slice % 2 === 0 ? indexes : indexes.reverse()) {
      runs[i]!.push(await runOverhead(supervisor, addresses, makes[i]!, round, undefined, {}, callers, sliceMs));
    }
  }
  return runs.map((parts) => sumRuns(parts, (slices * sliceMs) / 1000));
}

/** Slices of one stack as one run: totals per call over all of them. */
function sumRuns(parts: readonly OverheadRun[], seconds: number): OverheadRun {
  const callsOf = (run: OverheadRun) => Math.max(1, run.callsPerSecond * (run.durationMs / 1000) + run.failed);
  const calls = parts.reduce((sum, run) => sum + callsOf(run), 0);
  const total = (field: (run: OverheadRun) => number | undefined) =>
    parts.reduce((sum, run) => sum + (field(run) ?? 0) * callsOf(run), 0) / calls;
  const first = parts[0]!;
  const p50s = parts.map((run) => run.p50Ms).sort((a, b) => a - b);
  const hedged = parts.some((run) => run.hedgesPerCall !== undefined);
  return {
    stack: first.stack,
    round: first.round,
    ...(first.callers !== undefined && { callers: first.callers }),
    durationMs: seconds * 1000,
    callsPerSecond: parts.reduce((sum, run) => sum + run.callsPerSecond * (run.durationMs / 1000), 0) / seconds,
    p50Ms: p50s[Math.floor(p50s.length / 2)]!,
    failed: parts.reduce((sum, run) => sum + run.failed, 0),
    clientCpuUsPerCall: total((run) => run.clientCpuUsPerCall),
    gcUsPerCall: total((run) => run.gcUsPerCall),
    allocatedBytesPerCall: total((run) => run.allocatedBytesPerCall),
    ...(hedged && { hedgesPerCall: total((run) => run.hedgesPerCall) }),
  };
}
