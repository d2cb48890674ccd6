// The soak: a long closed-loop load through the full mesh client while the backends are
// SIGKILLed in turn every few seconds, reporting every caller-visible error by code, and the
// client's heap (after a full GC), RSS and active handles at the start and the end.
import * as grpc from '@grpc/grpc-js';
import { callUnary } from '../examples/orders.js';
import type { Supervisor } from '../examples/supervisor.js';
import type { Stack } from './stacks.js';

export interface SoakRun {
  readonly calls: number;
  readonly durationMs: number;
  readonly kills: number;
  /** Every call is safe to repeat (GetOrder is idempotent, every CreateOrder carries a key). */
  readonly errorsByCode: Readonly<Record<string, { readonly count: number; readonly details: readonly string[] }>>;
  readonly errors: number;
  /** Heap after a full GC: after the warm-up, once a tenth of the calls is done (the baseline), at the end. */
  readonly heapMiB: { readonly start: number; readonly baseline: number; readonly end: number };
  readonly rssMiB: { readonly start: number; readonly end: number };
  /** Active handles (sockets, timers, processes), not counting pending immediates. */
  readonly handles: { readonly start: number; readonly end: number };
  /** From the baseline to the end: what a leak would show, without the first tenth's warm-up. */
  readonly heapGrowthPercent: number;
}

export interface SoakOptions {
  readonly calls: number;
  /** A backend is killed every `faultEveryMs`, ServiceA and ServiceB in turn. */
  readonly faultEveryMs: number;
  /** How long a killed backend stays down. */
  readonly downMs: number;
  /** Callers in the closed loop. */
  readonly concurrency: number;
  readonly progress: (text: string) => void;
}

const MiB = 2 ** 20;

function handles(): number {
  return process.getActiveResourcesInfo().filter((kind) => kind !== 'Immediate').length;
}

/** Heap in use after a full collection (needs node --expose-gc), in MiB. */
function settledHeap(): number {
  (globalThis as { gc?: () => void }).gc?.();
  return process.memoryUsage().heapUsed / MiB;
}

export async function runSoak(supervisor: Supervisor, stack: Stack, keyPrefix: string, options: SoakOptions): Promise<SoakRun> {
  const { client } = stack;
  const key = (n: number) => {
    const metadata = new grpc.Metadata();
    metadata.set('idempotency-key', `${keyPrefix}-${n}`);
    return metadata;
  };
  const seed = await callUnary(client.CreateOrder, client, { idempotency_key: 'seed', item: 'book', quantity: 1 }, key(0), {
    deadline: Date.now() + 10_000,
  });
  // Warm up, then take the baseline.
  for (let i = 0; i < 2000; i++) await callUnary(client.GetOrder, client, { id: seed.id });
  const start = { heap: settledHeap(), rss: process.memoryUsage().rss / MiB, handles: handles() };
  let baseline: number | undefined;

  const errorsByCode: Record<string, { count: number; details: string[] }> = {};
  let started = 0;
  let done = 0;
  let kills = 0;
  const began = Date.now();
  const faults = setInterval(() => {
    const name = kills++ % 2 === 0 ? 'ServiceA' : 'ServiceB';
    supervisor.kill(name, options.downMs);
  }, options.faultEveryMs);
  const report = setInterval(
    () =>
      options.progress(
        `soak: ${done} of ${options.calls} calls, ${kills} kills, ${Object.values(errorsByCode).reduce((n, e) => n + e.count, 0)} errors`,
      ),
    30_000,
  );
  const worker = async () => {
    while (started < options.calls) {
      const n = ++started;
      try {
        if (n % 5 === 0) {
          await callUnary(client.CreateOrder, client, { idempotency_key: `${keyPrefix}-${n}`, item: 'book', quantity: 1 }, key(n), {
            deadline: Date.now() + 2000,
          });
        } else {
          await callUnary(client.GetOrder, client, { id: seed.id }, new grpc.Metadata(), { deadline: Date.now() + 1000 });
        }
      } catch (error) {
        const { code, details } = error as grpc.ServiceError;
        const entry = (errorsByCode[grpc.status[code] ?? String(code)] ??= { count: 0, details: [] });
        entry.count++;
        if (entry.details.length < 3 && !entry.details.includes(details)) entry.details.push(details);
      }
      if (++done === Math.round(options.calls / 10)) baseline = settledHeap();
    }
  };
  try {
    await Promise.all(Array.from({ length: options.concurrency }, worker));
  } finally {
    clearInterval(faults);
    clearInterval(report);
  }
  const durationMs = Date.now() - began;
  // Let the last restart settle before reading the end state.
  for (const name of ['ServiceA', 'ServiceB']) {
    for (let i = 0; i < 100 && supervisor.state(name) !== 'running'; i++) await new Promise((resolve) => setTimeout(resolve, 50));
  }
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const end = { heap: settledHeap(), rss: process.memoryUsage().rss / MiB, handles: handles() };
  const errors = Object.values(errorsByCode).reduce((n, e) => n + e.count, 0);
  return {
    calls: done,
    durationMs,
    kills,
    errorsByCode,
    errors,
    heapMiB: { start: start.heap, baseline: baseline ?? start.heap, end: end.heap },
    rssMiB: { start: start.rss, end: end.rss },
    handles: { start: start.handles, end: end.handles },
    heapGrowthPercent: (100 * (end.heap - (baseline ?? start.heap))) / (baseline ?? start.heap),
  };
}
