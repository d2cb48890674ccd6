// Benchmark results: the JSON record, the markdown table the README embeds, SVG charts.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { RunMetrics, RunTimes } from './metrics.js';
import { SCENARIOS, type ScenarioName } from './scenarios.js';
import type { StackName } from './stacks.js';

export const RESULTS_DIR = fileURLToPath(new URL('./results/', import.meta.url));

export interface ScenarioRun {
  readonly scenario: ScenarioName;
  readonly stack: 'grpc-meshlite' | 'plain grpc-js';
  readonly round: number;
  readonly times: RunTimes;
  readonly metrics: RunMetrics;
  /** Successful calls per backend and failed calls, per 100 ms from the load start. */
  readonly timeline: { ServiceA: number[]; ServiceB: number[]; failed: number[] };
}

export interface OverheadRun {
  readonly stack: StackName;
  readonly round: number;
  readonly callsPerSecond: number;
  readonly p50Ms: number;
  readonly failed: number;
  /** CPU time of the client process (user + system) per completed call, in µs. */
  readonly clientCpuUsPerCall: number;
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
}

const STACKS = ['grpc-meshlite', 'plain grpc-js'] as const;

/** Median of the values, null counting as "never" (worse than any number). */
function median(values: ReadonlyArray<number | null>): number | null {
  const sorted = values.map((v) => v ?? Infinity).sort((a, b) => a - b);
  const mid = sorted[Math.floor((sorted.length - 1) / 2)];
  return mid === undefined || mid === Infinity ? null : mid;
}

function spread(values: ReadonlyArray<number | null>, unit: string, digits = 0): string {
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

interface Target {
  readonly scenario: string;
  readonly target: string;
  readonly value: (stack: string) => string;
  readonly met: () => boolean | null;
}

export function writeResults(results: BenchResults): { markdown: string; files: string[] } {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const files: string[] = [];
  const write = (name: string, content: string) => {
    writeFileSync(`${RESULTS_DIR}${name}`, content);
    files.push(`bench/results/${name}`);
  };
  const scenarioNames = [...new Set(results.runs.map((r) => r.scenario))];
  const { markdown, targets } = table(results, scenarioNames);
  // One record per scenario × stack (medians and spread over the rounds) and the verdicts
  // first, then every round in full.
  const summary = { scenarios: summarize(results, scenarioNames), overheadRatio: overheadRatios(results), targets };
  write('latest.json', `${JSON.stringify({ summary, ...results }, null, 1)}\n`);
  for (const scenario of scenarioNames) write(`${scenario}.svg`, chart(results, scenario));
  write('latest.md', markdown);
  // A full run replaces the table the README shows; a partial one leaves it alone.
  if (SCENARIOS.every((name) => scenarioNames.includes(name)) && embedInReadme(markdown)) files.push('README.md');
  return { markdown, files };
}

const README = new URL('../README.md', import.meta.url);
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

const SUMMARY_FIELDS = ['ok', 'errors', 'p50Ms', 'p99Ms', 'steadyP99Ms', 'recoverMs', 'shiftMs', 'backToSplitMs', 'failFastP99Ms', 'amplification', 'duplicateOrders'] as const;

/** Median, min and max of one metric over the rounds; null = "never" (did not happen in the run). */
function stat(values: ReadonlyArray<number | null>) {
  const numbers = values.map((v) => v ?? Infinity);
  const finite = (v: number) => (v === Infinity ? null : v);
  return { median: median(values), min: finite(Math.min(...numbers)), max: finite(Math.max(...numbers)) };
}

function summarize(results: BenchResults, scenarioNames: readonly ScenarioName[]) {
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
function overheadPairs(results: BenchResults): Array<{ throughput: number; p50: number; cpu: number }> {
  return results.overhead
    .filter((r) => r.stack === 'grpc-meshlite')
    .flatMap((mesh) => {
      const bare = results.overhead.find((r) => r.stack === 'bare grpc-js' && r.round === mesh.round);
      return bare
        ? [{ throughput: mesh.callsPerSecond / bare.callsPerSecond, p50: mesh.p50Ms / bare.p50Ms, cpu: mesh.clientCpuUsPerCall / bare.clientCpuUsPerCall }]
        : [];
    });
}

function overheadRatios(results: BenchResults) {
  const pairs = overheadPairs(results);
  return {
    throughput: stat(pairs.map((p) => p.throughput)),
    p50: stat(pairs.map((p) => p.p50)),
    clientCpuPerCall: stat(pairs.map((p) => p.cpu)),
  };
}

interface TargetVerdict {
  readonly scenario: string;
  readonly target: string;
  readonly meshlite: string;
  readonly plain: string;
  /** null: the scenario was not run. */
  readonly met: boolean | null;
}

function table(results: BenchResults, scenarioNames: readonly ScenarioName[]): { markdown: string; targets: TargetVerdict[] } {
  const runsOf = (scenario: string, stack: string) => results.runs.filter((r) => r.scenario === scenario && r.stack === stack);
  const metric = (scenario: string, stack: string, pick: (m: RunMetrics) => number | null) => runsOf(scenario, stack).map((r) => pick(r.metrics));
  const rounds = Math.max(1, ...results.runs.map((r) => r.round));
  const lines: string[] = [];
  lines.push(`Measured ${results.date.slice(0, 10)} on ${results.machine['cpus']} × ${results.machine['cpuModel']}, Node ${results.machine['node']}; ` +
    `${rounds} interleaved round(s) per scenario at ${results.settings['rate']} calls/s, faults lasting ${results.settings['faultMs']} ms. ` +
    'Median, [min–max] across rounds; "never" = did not happen within the run.');
  lines.push('');
  lines.push('| scenario | stack | calls ok | errors seen by callers | p50 / p99 during fault (ms) | recovered after | ServiceA out of rotation after | back to the split after heal | attempts per call |');
  lines.push('| --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const scenario of scenarioNames) {
    for (const stack of STACKS) {
      if (runsOf(scenario, stack).length === 0) continue;
      const m = (pick: (m: RunMetrics) => number | null, unit = '', digits = 0) => spread(metric(scenario, stack, pick), unit, digits);
      lines.push(
        `| ${scenario} | ${stack} | ${m((x) => x.ok)} | ${m((x) => x.errors)} | ${m((x) => x.p50Ms)} / ${m((x) => x.p99Ms)} | ` +
          `${scenario === 'outage' ? 'n/a' : m((x) => x.recoverMs, ' ms')} | ${m((x) => x.shiftMs, ' ms')} | ${m((x) => x.backToSplitMs, ' ms')} | ${m((x) => x.amplification, '×', 2)} |`,
      );
    }
  }

  const overheadOf = (stack: string) => results.overhead.filter((r) => r.stack === stack);
  const ratios = overheadPairs(results);
  lines.push('');
  lines.push(`Overhead (healthy pair, 32 callers back to back, ${overheadOf('bare grpc-js').length} interleaved rounds):`);
  lines.push('');
  lines.push('| stack | calls/s | p50 ms | client CPU per call |');
  lines.push('| --- | --- | --- | --- |');
  for (const stack of ['bare grpc-js', 'grpc-meshlite']) {
    const runs = overheadOf(stack);
    lines.push(`| ${stack} | ${spread(runs.map((r) => r.callsPerSecond), '')} | ${spread(runs.map((r) => r.p50Ms), '', 2)} | ${spread(runs.map((r) => r.clientCpuUsPerCall), ' µs')} |`);
  }
  lines.push(`| ratio grpc-meshlite / bare | ${spread(ratios.map((r) => r.throughput), '×', 3)} | ${spread(ratios.map((r) => r.p50), '×', 2)} | ${spread(ratios.map((r) => r.cpu), '×', 2)} |`);
  lines.push('');
  lines.push('Weights (configured 80/20; plain grpc-js has no static weights): ' +
    results.weights.map((w) => `${w.stack} sent ${w.shareA.toFixed(1)} % of ${w.calls} calls to ServiceA`).join('; ') + '.');

  const meshOnly = (scenario: string, pick: (m: RunMetrics) => number | null) => median(metric(scenario, 'grpc-meshlite', pick));
  const show = (scenario: string, stack: string, pick: (m: RunMetrics) => number | null, unit: string, digits = 0) =>
    runsOf(scenario, stack).length === 0 ? '—' : spread(metric(scenario, stack, pick), unit, digits);
  const allZero = (scenario: string) => metric(scenario, 'grpc-meshlite', (m) => m.errors).every((e) => e === 0);
  const has = (scenario: string) => runsOf(scenario, 'grpc-meshlite').length > 0;
  const targets: Target[] = [
    { scenario: 'hang', target: '0 errors, recover ≤ 300 ms', value: (s) => `${show('hang', s, (m) => m.errors, '')} errors, ${show('hang', s, (m) => m.recoverMs, ' ms')}`,
      met: () => (has('hang') ? allZero('hang') && (meshOnly('hang', (m) => m.recoverMs) ?? Infinity) <= 300 : null) },
    { scenario: 'kill', target: '0 errors, p99 ≤ 2× steady p99', value: (s) => `${show('kill', s, (m) => m.errors, '')} errors, p99 ${show('kill', s, (m) => m.p99Ms, ' ms')} (steady ${show('kill', s, (m) => m.steadyP99Ms, ' ms')})`,
      met: () => (has('kill') ? allZero('kill') && (meshOnly('kill', (m) => m.p99Ms) ?? Infinity) <= 2 * (meshOnly('kill', (m) => m.steadyP99Ms) ?? 0) : null) },
    { scenario: 'drain', target: '0 errors, shift ≤ 100 ms', value: (s) => `${show('drain', s, (m) => m.errors, '')} errors, shift ${show('drain', s, (m) => m.shiftMs, ' ms')}`,
      met: () => (has('drain') ? allZero('drain') && (meshOnly('drain', (m) => m.shiftMs) ?? Infinity) <= 100 : null) },
    { scenario: 'errors', target: '0 errors', value: (s) => `${show('errors', s, (m) => m.errors, '')} errors`, met: () => (has('errors') ? allZero('errors') : null) },
    { scenario: 'outage', target: 'fail fast (p99 ≤ 5 ms once open), amplification ≤ 1.1×',
      value: (s) => `p99 ${show('outage', s, (m) => m.failFastP99Ms, ' ms')}, ${show('outage', s, (m) => m.amplification, '×', 2)}`,
      met: () => (has('outage') ? (meshOnly('outage', (m) => m.failFastP99Ms) ?? Infinity) <= 5 && (meshOnly('outage', (m) => m.amplification) ?? Infinity) <= 1.1 : null) },
    { scenario: 'recovery', target: 'back to 80/20 ≤ 2 s after A is healthy',
      value: (s) => ['kill', 'hang', 'drain', 'errors'].filter((n) => runsOf(n, s).length > 0).map((n) => `${n} ${show(n, s, (m) => m.backToSplitMs, ' ms')}`).join(', ') || '—',
      met: () => {
        const values = ['kill', 'hang', 'drain', 'errors'].filter(has).map((n) => meshOnly(n, (m) => m.backToSplitMs) ?? Infinity);
        return values.length === 0 ? null : Math.max(...values) <= 2000;
      } },
    { scenario: 'duplicates', target: '0', value: (s) => String(results.runs.filter((r) => r.stack === s).reduce((sum, r) => sum + r.metrics.duplicateOrders, 0)),
      met: () => results.runs.every((r) => r.metrics.duplicateOrders === 0) },
    { scenario: 'overhead', target: 'throughput ≥ 0.95× bare', value: (s) => (s === 'grpc-meshlite' ? spread(ratios.map((r) => r.throughput), '×', 3) : '—'),
      met: () => (ratios.length === 0 ? null : (median(ratios.map((r) => r.throughput)) ?? 0) >= 0.95) },
  ];
  lines.push('');
  lines.push('| target | grpc-meshlite | plain grpc-js | met by grpc-meshlite |');
  lines.push('| --- | --- | --- | --- |');
  const verdicts = targets.map((t) => ({
    scenario: t.scenario,
    target: t.target,
    meshlite: t.value('grpc-meshlite'),
    plain: t.value('plain grpc-js'),
    met: t.met(),
  }));
  for (const v of verdicts) {
    lines.push(`| ${v.scenario}: ${v.target} | ${v.meshlite} | ${v.plain} | ${v.met === null ? 'not run' : v.met ? 'yes' : '**missed**'} |`);
  }
  return { markdown: `${lines.join('\n')}\n`, targets: verdicts };
}

/** Traffic per backend over time, one panel per stack, the fault shaded. */
function chart(results: BenchResults, scenario: ScenarioName): string {
  const width = 760;
  const panel = 170;
  const left = 50;
  const plotWidth = width - left - 20;
  const runs = STACKS.map((stack) => results.runs.find((r) => r.scenario === scenario && r.stack === stack && r.round === 1)).filter(
    (r): r is ScenarioRun => r !== undefined,
  );
  const peak = Math.max(1, ...runs.flatMap((r) => [...r.timeline.ServiceA, ...r.timeline.ServiceB, ...r.timeline.failed]));
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${40 + runs.length * (panel + 40)}" font-family="sans-serif" font-size="12">`);
  parts.push(`<rect width="100%" height="100%" fill="white"/>`);
  parts.push(`<text x="${left}" y="20" font-size="14" font-weight="bold">${scenario}: calls completed per 100 ms (round 1)</text>`);
  runs.forEach((run, index) => {
    const top = 40 + index * (panel + 40);
    const buckets = run.timeline.ServiceA.length;
    const x = (bucket: number) => left + (bucket / Math.max(1, buckets - 1)) * plotWidth;
    const y = (value: number) => top + panel - (value / peak) * panel;
    const at = (ms: number) => left + ((ms - run.times.start) / (run.times.end - run.times.start)) * plotWidth;
    parts.push(`<text x="${left}" y="${top - 6}" font-weight="bold">${run.stack}</text>`);
    parts.push(`<rect x="${at(run.times.fault).toFixed(1)}" y="${top}" width="${(at(run.times.heal) - at(run.times.fault)).toFixed(1)}" height="${panel}" fill="#f5d0d0"/>`);
    parts.push(`<text x="${(at(run.times.fault) + 4).toFixed(1)}" y="${top + 14}" fill="#a33">fault</text>`);
    parts.push(`<line x1="${left}" y1="${top + panel}" x2="${left + plotWidth}" y2="${top + panel}" stroke="#333"/>`);
    parts.push(`<line x1="${left}" y1="${top}" x2="${left}" y2="${top + panel}" stroke="#333"/>`);
    parts.push(`<text x="${left - 6}" y="${top + 10}" text-anchor="end">${peak}</text><text x="${left - 6}" y="${top + panel}" text-anchor="end">0</text>`);
    for (let s = 0; s * 1000 <= run.times.end - run.times.start; s += 1) {
      parts.push(`<text x="${at(run.times.start + s * 1000).toFixed(1)}" y="${top + panel + 14}" text-anchor="middle" fill="#555">${s}s</text>`);
    }
    const series: Array<[keyof ScenarioRun['timeline'], string]> = [
      ['ServiceA', '#1f77b4'],
      ['ServiceB', '#ff7f0e'],
      ['failed', '#d62728'],
    ];
    for (const [name, colour] of series) {
      const points = run.timeline[name].map((value, bucket) => `${x(bucket).toFixed(1)},${y(value).toFixed(1)}`).join(' ');
      parts.push(`<polyline points="${points}" fill="none" stroke="${colour}" stroke-width="1.5"/>`);
    }
    series.forEach(([name, colour], i) => {
      parts.push(`<rect x="${left + plotWidth - 230 + i * 80}" y="${top + 4}" width="10" height="10" fill="${colour}"/>`);
      parts.push(`<text x="${left + plotWidth - 216 + i * 80}" y="${top + 13}">${name}</text>`);
    });
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}
