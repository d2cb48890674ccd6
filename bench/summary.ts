// Summaries of the benchmark's rounds: medians with their spread, per scenario and stack,
// and the overhead ratios to bare grpc-js round by round.
import type { BenchResults } from './results.js';
import type { ScenarioName } from './scenarios.js';

export const STACKS = ['grpc-meshlite', 'plain grpc-js'] as const;

/** Median of the values, null counting as "never" (worse than any number). */
export function median(values: ReadonlyArray<number | null>): number | null {
  const sorted = values.map((v) => v ?? Infinity).sort((a, b) => a - b);
  const mid = sorted[Math.floor((sorted.length - 1) / 2)];
  return mid === undefined || mid === Infinity ? null : mid;
}

/** "12 ms [9–15]": the median with min and max, "never" for what did not happen. */
export function spread(values: ReadonlyArray<number | null>, unit: string, digits = 0): string {
  const med = median(values);
  if (values.length === 0) return '—';
  const shown = (v: number | null) => (v === null || v === Infinity ? 'never' : v.toFixed(digits));
  const text = med === null ? 'never' : `${med.toFixed(digits)}${unit}`;
  if (values.length === 1) return text;
  const numbers = values.map((v) => v ?? Infinity);
  const lo = Math.min(...numbers);
  const hi = Math.max(...numbers);
  return lo === hi ? text : `${text} [${shown(lo)}–${shown(hi)}]`;
}

const SUMMARY_FIELDS = [
  'ok',
  'errors',
  'p50Ms',
  'p99Ms',
  'steadyP99Ms',
  'recoverMs',
  'shiftMs',
  'backToSplitMs',
  'failFastP99Ms',
  'amplification',
  'duplicateOrders',
] as const;

/** Median, min and max of one metric over the rounds; null = "never" (did not happen in the run). */
function stat(values: ReadonlyArray<number | null>) {
  const numbers = values.map((v) => v ?? Infinity);
  const finite = (v: number) => (v === Infinity ? null : v);
  return { median: median(values), min: finite(Math.min(...numbers)), max: finite(Math.max(...numbers)) };
}

/** One record per scenario × stack: every metric's median, min and max over the rounds. */
export function summarize(results: BenchResults, scenarioNames: readonly ScenarioName[]) {
  return scenarioNames.flatMap((scenario) =>
    STACKS.map((stack) => {
      const runs = results.runs.filter((r) => r.scenario === scenario && r.stack === stack);
      return {
        scenario,
        stack,
        rounds: runs.length,
        ...Object.fromEntries(SUMMARY_FIELDS.map((field) => [field, stat(runs.map((r) => r.metrics[field]))])),
      };
    }),
  );
}

/** grpc-meshlite over bare grpc-js, round by round: throughput, p50 latency, client CPU per call. */
/** The overhead part's mesh/bare ratios per round, at `callers` callers back to back. */
export function overheadPairs(
  results: BenchResults,
  callers = 32,
): Array<{ throughput: number; p50: number; cpu: number; garbageKiB: number | undefined }> {
  const at = results.overhead.filter((r) => (r.callers ?? 32) === callers);
  return at
    .filter((r) => r.stack === 'grpc-meshlite')
    .flatMap((mesh) => {
      const bare = at.find((r) => r.stack === 'bare grpc-js' && r.round === mesh.round);
      return bare
        ? [
            {
              throughput: mesh.callsPerSecond / bare.callsPerSecond,
              p50: mesh.p50Ms / bare.p50Ms,
              cpu: mesh.clientCpuUsPerCall / bare.clientCpuUsPerCall,
              // Bytes allocated per call above bare grpc-js's, in KiB (undefined for results from before it was measured).
              garbageKiB:
                mesh.allocatedBytesPerCall === undefined || bare.allocatedBytesPerCall === undefined
                  ? undefined
                  : (mesh.allocatedBytesPerCall - bare.allocatedBytesPerCall) / 1024,
            },
          ]
        : [];
    });
}

export function overheadRatios(results: BenchResults) {
  const pairs = overheadPairs(results);
  return {
    throughput: stat(pairs.map((p) => p.throughput)),
    p50: stat(pairs.map((p) => p.p50)),
    clientCpuPerCall: stat(pairs.map((p) => p.cpu)),
  };
}
