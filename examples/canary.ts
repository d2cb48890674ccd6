// npm start -- --scenario canary: a release moved by the mesh's routes, one config reload per
// phase. ServiceA runs v1 and ServiceB v2 (endpoint labels, subsets v1 and v2:
// examples/canary.json). A tenth of the calls carries `x-canary: 1`, which the route
// "x-canary" always sends to v2; the rest follows the route "split": 0 → 10 → 50 → 100 % to
// v2, then a fault that aborts 20 % of its attempts (each retried on the other subset), then a
// mirror that copies every call to v2 while ServiceB fails the copies.
import { readFileSync } from 'node:fs';
import type { Mesh, MeshConfigInput } from 'grpc-meshlite';
import type { CallRecord, TaggedShare } from './load.js';
import { quantile, whyTheyFailed } from './report.js';
import type { Supervisor } from './supervisor.js';

export const CANARY_CONFIG_PATH = new URL('./canary.json', import.meta.url);

/** The header a tenth of the load carries, and the route "x-canary" matches. */
export const CANARY_HEADER: TaggedShare = { name: 'x-canary', value: '1', share: 0.1 };

type RouteInput = NonNullable<MeshConfigInput['services'][string]['routes']>[number];
/** The route "split" of a phase, without its name. */
type SplitRoute = Omit<RouteInput, 'name'>;

export interface CanaryPhase {
  readonly name: string;
  readonly say: string;
  /** The route "split" in force: the phase starts with a reload that puts it in (the first phase starts with it). */
  readonly split: SplitRoute;
  /** v2's expected share of the calls without x-canary, 0–100. */
  readonly expectedToV2: number;
  /** The expected share comes from random draws (the fault's), not from the smooth split. */
  readonly drawn?: boolean;
  /** What the phase does to a backend, after its reload. */
  readonly act?: (supervisor: Supervisor) => void;
}

const toV2 = (percent: number): SplitRoute => ({
  destinations: [
    { subset: 'v1', weight: 100 - percent },
    { subset: 'v2', weight: percent },
  ],
});

/** A fault's abort on 20 % of the attempts, retried on the other subset: v1 99 %, v2 1 %. */
const FAULT_PERCENT = 20;
const FAULT_WEIGHTS = { v1: 99, v2: 1 };

export const CANARY_PHASES: readonly CanaryPhase[] = [
  ...[0, 10, 50, 100].map((percent): CanaryPhase => ({
    name: `canary ${percent} %`,
    say:
      percent === 0
        ? 'ServiceA is v1, ServiceB v2; calls with x-canary: 1 (a tenth) go to v2, route "split" sends the rest to v1'
        : `config reload (mesh.update): route "split" sends ${percent} % to v2`,
    split: toV2(percent),
    expectedToV2: percent,
  })),
  {
    name: 'fault',
    say:
      `config reload: route "split" v1 ${FAULT_WEIGHTS.v1} / v2 ${FAULT_WEIGHTS.v2}, fault.abort UNAVAILABLE on ${FAULT_PERCENT} % of its attempts; ` +
      'the retry of an aborted attempt goes to the other subset',
    split: {
      destinations: [
        { subset: 'v1', weight: FAULT_WEIGHTS.v1 },
        { subset: 'v2', weight: FAULT_WEIGHTS.v2 },
      ],
      fault: { abort: { code: 'UNAVAILABLE', percent: FAULT_PERCENT } },
    },
    // An aborted attempt is retried on the other subset: v2 serves its own unaborted share and
    // the aborted share of v1's.
    expectedToV2: ((100 - FAULT_PERCENT) * FAULT_WEIGHTS.v2 + FAULT_PERCENT * FAULT_WEIGHTS.v1) / 100,
    drawn: true,
  },
  {
    name: 'mirror',
    say: 'config reload: route "split" v1 100 %, mirrored 100 % to v2; ServiceB fails every call without x-canary (the mirrored copies)',
    split: { ...toV2(0), mirror: { subset: 'v2', percent: 100 } },
    expectedToV2: 0,
    act: (supervisor) => supervisor.send('ServiceB', { type: 'faults', failWithoutHeader: CANARY_HEADER.name }),
  },
];

/** examples/canary.json with the backends' real addresses and `split` as its route "split". */
export function canaryConfig(addresses: Readonly<Record<string, string>>, split: SplitRoute): MeshConfigInput {
  const config = JSON.parse(readFileSync(CANARY_CONFIG_PATH, 'utf8')) as MeshConfigInput;
  const orders = config.services['orders']!;
  for (const endpoint of orders.endpoints ?? []) endpoint.address = addresses[endpoint.name] ?? endpoint.address;
  orders.routes = (orders.routes ?? []).map((route) => (route.name === 'split' ? { name: 'split', ...split } : route));
  return config;
}

/** What the balancer said of route "split" near a phase's end: v2's configured and actual share (its picks since the reload). */
export interface SplitView {
  readonly configured: number | undefined;
  readonly actual: number | undefined;
  readonly picks: number;
}

export function splitView(mesh: Mesh): SplitView {
  const route = mesh.snapshot('orders')[0]?.routes.find((r) => r.name === 'split');
  const v2 = route?.destinations.find((d) => d.subset === 'v2');
  return { configured: v2?.configuredShare, actual: v2?.actualShare, picks: route?.picks ?? 0 };
}

/** Share (0–100) of the successful calls among `records` that ServiceB (v2) served; undefined without any. */
export function shareToV2(records: readonly CallRecord[]): number | undefined {
  const ok = records.filter((r) => r.code === 0);
  return ok.length === 0 ? undefined : (100 * ok.filter((r) => r.servedBy === 'ServiceB').length) / ok.length;
}

/**
 * How far from the expected share the last second may be, in points: one call of the window
 * for the smooth split (a window's edges cut its sequence anywhere), three standard deviations
 * of the binomial spread where the share comes from random draws.
 */
function tolerance(phase: CanaryPhase, calls: number): number {
  if (calls === 0) return 0;
  const p = phase.expectedToV2 / 100;
  return phase.drawn ? 300 * Math.sqrt((p * (1 - p)) / calls) : Math.max(1, 100 / calls);
}

export interface CanaryRun {
  readonly started: number;
  readonly phaseSeconds: number;
  readonly records: readonly CallRecord[];
  readonly phaseOf: ReadonlyMap<CallRecord, string>;
  /** The balancer's view of route "split" in each phase's last second. */
  readonly views: ReadonlyMap<string, SplitView>;
  readonly mirrors: { readonly sent: number; readonly failed: number; readonly dropped: number; readonly unsafe: number } | undefined;
}

/** The summary table, the failed calls by code and reason, and a verdict per phase. */
export function reportCanary(phases: readonly CanaryPhase[], run: CanaryRun): void {
  const { started, phaseSeconds, records, phaseOf, views } = run;
  const pct = (value: number | undefined, digits = 0) => (value === undefined ? '-' : `${value.toFixed(digits)} %`);
  const rows = phases.map((phase, i) => {
    const inPhase = records.filter((r) => phaseOf.get(r) === phase.name);
    const end = started + (i + 1) * phaseSeconds * 1000;
    const last = inPhase.filter((r) => !r.withHeader && r.startedAt >= end - 1000 && r.startedAt < end);
    const lastOk = last.filter((r) => r.code === 0).length;
    const actual = shareToV2(last);
    const tagged = inPhase.filter((r) => r.withHeader);
    const latencies = inPhase.map((r) => r.endedAt - r.startedAt).sort((a, b) => a - b);
    const allowed = tolerance(phase, lastOk);
    const off = actual === undefined ? undefined : Math.abs(actual - phase.expectedToV2);
    const canary = shareToV2(tagged);
    const misses = [
      ...(off !== undefined && off <= allowed + 1e-9
        ? []
        : [
            `${pct(actual, 1)} of the calls without x-canary went to v2 in the last second, ${phase.expectedToV2} % ± ${allowed.toFixed(1)} expected`,
          ]),
      ...(canary === 100 ? [] : [`${pct(canary, 1)} of the x-canary calls went to v2, 100 % expected`]),
    ];
    return {
      phase,
      misses,
      cells: [
        phase.name,
        String(inPhase.length),
        String(inPhase.filter((r) => r.code !== 0).length),
        `${phase.expectedToV2 % 1 === 0 ? phase.expectedToV2 : phase.expectedToV2.toFixed(1)} %${phase.drawn ? ` ± ${allowed.toFixed(0)}` : ''}`,
        `${pct(actual, 1)} of ${lastOk}`,
        pct(views.get(phase.name)?.actual, 1),
        `${pct(canary, 1)} of ${tagged.filter((r) => r.code === 0).length}`,
        String(quantile(latencies, 0.99) ?? '-'),
      ],
    };
  });
  const header = ['phase', 'calls', 'failed', 'to v2 expected', 'to v2 in the last 1 s', "balancer's v2 share", 'x-canary to v2', 'p99 ms'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row.cells[i]!.length)));
  const format = (cells: readonly string[]) =>
    cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ');
  console.log('\nSummary (calls grouped by the phase in which they started; shares of the successful calls):\n');
  console.log([format(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map((row) => format(row.cells))].join('\n'));
  console.log(
    "\n  to v2: calls without x-canary that ServiceB served, started in the phase's last second; balancer's v2 share: route \"split\"'s picks" +
      " (attempts) since the reload, as mesh.snapshot() shows them near the phase's end; x-canary: the whole phase, 100 % expected.",
  );
  const failed = records.filter((r) => r.code !== 0);
  console.log(`\n${records.length} calls, ${failed.length} failed.`);
  if (failed.length > 0) {
    console.log('Failed calls by phase, code and reason:');
    for (const line of whyTheyFailed(failed, phaseOf)) console.log(`  ${line}`);
  }
  if (run.mirrors) {
    const { sent, failed: mirrorsFailed, dropped, unsafe } = run.mirrors;
    console.log(
      `Mirrors: ${sent} sent, ${mirrorsFailed} failed at v2 (answers dropped), ${dropped} dropped at the bound of 64 in flight, ${unsafe} not safe to repeat.`,
    );
  }
  for (const row of rows) for (const miss of row.misses) console.log(`  ${row.phase.name}: ${miss}.`);
  const good = failed.length === 0 && rows.every((row) => row.misses.length === 0);
  console.log(
    good
      ? 'Every reload moved the split at once and exactly, the fault was hidden by retries, the mirror failed out of sight: no caller saw an error.'
      : 'Not every phase went as its routes say: see above.',
  );
}
