import type { LayerAloneRun } from './layers-alone.js';
import type { RecordingRun } from './recording.js';
import type { ScalingRun } from './scaling.js';
// Benchmark results: the record of a run, and where it is written (JSON, markdown, charts,
// and the README's table after a full run).
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chart } from './chart.js';
import { markdownReport } from './markdown.js';
import type { RunMetrics, RunTimes } from './metrics.js';
import { SCENARIOS, type ScenarioName } from './scenarios.js';
import type { EtcdKillRun } from './etcd-kill.js';
import type { SoakRun } from './soak.js';
import type { StackName } from './stacks.js';
import type { TrafficResults } from './traffic.js';
import { overheadRatios, summarize } from './summary.js';
import { verdicts } from './verdicts.js';

export const RESULTS_DIR = fileURLToPath(new URL('./results/', import.meta.url));

export interface ScenarioRun {
  readonly scenario: ScenarioName;
  readonly stack: StackName;
  readonly round: number;
  readonly times: RunTimes;
  readonly metrics: RunMetrics;
  /** Successful calls per backend (ServiceC too when the scenario has one) and failed calls, per 100 ms from the load start. */
  readonly timeline: {
    readonly ServiceA: number[];
    readonly ServiceB: number[];
    readonly failed: number[];
    readonly [backend: string]: number[];
  };
}

export interface OverheadRun {
  readonly stack: StackName;
  readonly round: number;
  /** Callers back to back (absent: a paced run, or 32 in results written before it was recorded). */
  readonly callers?: number;
  readonly callsPerSecond: number;
  readonly p50Ms: number;
  readonly failed: number;
  /** How long the timed calls ran, in ms (all its slices, for an interleaved run). */
  readonly durationMs: number;
  /** CPU time of the client process (user + system) per completed call, in µs. */
  readonly clientCpuUsPerCall: number;
  /** The part of it V8 spent in GC pauses, per completed call, in µs (absent in results written before it was measured). */
  readonly gcUsPerCall?: number;
  /** Bytes allocated on V8's heap per completed call (absent in results written before it was measured). */
  readonly allocatedBytesPerCall?: number;
  /** Hedges sent per completed call (a stack with the mesh's retry layer; absent otherwise). */
  readonly hedgesPerCall?: number;
  /** A stack with a mirror: the copies it sent, dropped at its bound, and that failed. */
  readonly mirrors?: { readonly sent: number; readonly dropped: number; readonly failed: number };
}

export interface WeightRun {
  readonly stack: StackName;
  readonly calls: number;
  readonly shareA: number;
}

export interface BenchResults {
  readonly date: string;
  readonly machine: Record<string, string | number>;
  readonly settings: Record<string, unknown>;
  readonly runs: readonly ScenarioRun[];
  readonly overhead: readonly OverheadRun[];
  readonly weights: readonly WeightRun[];
  readonly soak?: SoakRun;
  readonly etcdKill?: EtcdKillRun;
  /** grpc-meshlite over mTLS and over plaintext, interleaved (the overhead run's load). */
  readonly mtls?: readonly OverheadRun[];
  /** grpc-meshlite recording its metrics into the Prometheus exporter, and without metrics, interleaved. */
  readonly prometheus?: readonly OverheadRun[];
  /** The client metrics layer's own cost per call, in process: none, aggregated, through the SDK. */
  readonly recording?: readonly RecordingRun[];
  /** The client's cost with 2 … 1,000 endpoints per service, bare grpc-js and the mesh, interleaved. */
  readonly scaling?: readonly ScalingRun[];
  /** Bare grpc-js, then the mesh with one layer more at a time (LAYER_STEPS), interleaved. */
  readonly layers?: readonly OverheadRun[];
  /** The client layers' own cost per call, in process, each alone and all composed. */
  readonly layersAlone?: readonly LayerAloneRun[];
  /** The overhead run's stacks at a paced 1,000 calls/s, interleaved with it. */
  readonly paced?: readonly OverheadRun[];
  /** Traffic management: a canary's split per step, the cost of routing and of a mirror. */
  readonly traffic?: TrafficResults;
}

export function writeResults(results: BenchResults): { markdown: string; files: string[] } {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const files: string[] = [];
  const write = (name: string, content: string) => {
    writeFileSync(`${RESULTS_DIR}${name}`, content);
    files.push(`bench/results/${name}`);
  };
  // The latency part's runs have a table of their own.
  const scenarioNames = [...new Set(results.runs.map((r) => r.scenario))].filter((name) => name !== 'latency');
  const targets = verdicts(results);
  const markdown = markdownReport(results, scenarioNames, targets);
  // One record per scenario × stack (medians and spread over the rounds) and the verdicts
  // first, then every round in full.
  const summary = { scenarios: summarize(results, scenarioNames), overheadRatio: overheadRatios(results), targets };
  write('latest.json', `${JSON.stringify({ summary, ...results }, null, 1)}\n`);
  for (const scenario of scenarioNames) write(`${scenario}.svg`, chart(results, scenario));
  if (results.runs.some((r) => r.scenario === 'latency')) write('latency.svg', chart(results, 'latency'));
  write('latest.md', markdown);
  // A full run replaces the tables bench/README.md shows; a partial one leaves them alone.
  if (SCENARIOS.every((name) => scenarioNames.includes(name)) && embedInReadme(markdown)) files.push('bench/README.md');
  return { markdown, files };
}

const README = new URL('./README.md', import.meta.url);
const START = '<!-- bench:start (written by npm run bench) -->';
const END = '<!-- bench:end -->';

function embedInReadme(markdown: string): boolean {
  const readme = readFileSync(README, 'utf8');
  const from = readme.indexOf(START);
  const to = readme.indexOf(END);
  if (from < 0 || to < from) return false;
  writeFileSync(README, `${readme.slice(0, from + START.length)}\n${markdown}${readme.slice(to)}`);
  return true;
}
