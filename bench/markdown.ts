// The markdown the README embeds: the fault scenarios, the overhead, the weights (each when it
// was run), and the verdict of every target.
import { costOverNone } from './in-process.js';
import type { LayerAloneRun } from './layers-alone.js';
import type { RecordingRun } from './recording.js';
import type { RunMetrics } from './metrics.js';
import type { BenchResults, OverheadRun } from './results.js';
import { scenarios, type ScenarioName } from './scenarios.js';
import type { EtcdKillRun } from './etcd-kill.js';
import type { SoakRun } from './soak.js';
import { LAYER_STEPS } from './stacks.js';
import { SCALING_SIZES, SKEW_CALLS, type ScalingRun, type ScalingStack } from './scaling.js';
import { STACKS, overheadPairs, spread } from './summary.js';
import type { TargetVerdict } from './verdicts.js';
import { trafficTables } from './traffic-report.js';

export function markdownReport(results: BenchResults, scenarioNames: readonly ScenarioName[], targets: readonly TargetVerdict[]): string {
  const rounds = Math.max(1, ...results.runs.map((r) => r.round));
  const lines = [
    `Measured ${results.date.slice(0, 10)} on ${String(results.machine['cpus'])} × ${String(results.machine['cpuModel'])}, Node ${String(results.machine['node'])}; ` +
      `${rounds} interleaved round(s) per scenario at ${String(results.settings['rate'])} calls/s, faults lasting ${String(results.settings['faultMs'])} ms. ` +
      'Median, [min–max] across rounds; "never" = did not happen within the run.',
  ];
  if (results.runs.length > 0) lines.push('', ...scenarioTable(results, scenarioNames));
  if (results.runs.some((r) => r.scenario === 'latency')) lines.push('', ...latencyTable(results));
  if (results.overhead.length > 0) lines.push('', ...overheadTable(results));
  if (results.layers?.length) lines.push('', ...layersTable(results.layers, results.layersAlone ?? []));
  if (results.weights.length > 0) {
    lines.push(
      '',
      'Weights (configured 80/20; plain grpc-js has no static weights): ' +
        results.weights.map((w) => `${w.stack} sent ${w.shareA.toFixed(1)} % of ${w.calls} calls to ServiceA`).join('; ') +
        '.',
    );
  }
  if (results.soak) lines.push('', ...soakTable(results.soak));
  if (results.etcdKill) lines.push('', ...etcdKillTable(results.etcdKill));
  if (results.mtls?.length) lines.push('', ...mtlsTable(results.mtls));
  if (results.prometheus?.length) lines.push('', ...prometheusTable(results.prometheus, results.recording ?? []));
  if (results.scaling?.length) lines.push('', ...scalingTable(results.scaling));
  if (results.traffic) lines.push('', ...trafficTables(results.traffic));
  lines.push('', '| target | grpc-meshlite | plain grpc-js | met by grpc-meshlite |', '| --- | --- | --- | --- |');
  for (const v of targets) {
    lines.push(
      `| ${v.scenario}: ${v.target} | ${v.meshlite} | ${v.plain} | ${v.met === null ? 'not run' : v.met ? 'yes' : '**missed**'} |`,
    );
  }
  return `${lines.join('\n')}\n`;
}

function scenarioTable(results: BenchResults, scenarioNames: readonly ScenarioName[]): string[] {
  const lines = [
    '| scenario | stack | calls ok | errors seen by callers | p50 / p99 during fault (ms) | recovered after | ServiceA out of rotation after | back to the split after heal | attempts per call |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const scenario of scenarioNames) {
    for (const stack of STACKS) {
      const runs = results.runs.filter((r) => r.scenario === scenario && r.stack === stack);
      if (runs.length === 0) continue;
      const m = (pick: (m: RunMetrics) => number | null, unit = '', digits = 0) =>
        spread(
          runs.map((r) => pick(r.metrics)),
          unit,
          digits,
        );
      // In max-age and cert-rotation ServiceA is meant to stay in the rotation throughout.
      const aStays = scenario === 'max-age' || scenario === 'cert-rotation';
      lines.push(
        `| ${scenario} | ${stack} | ${m((x) => x.ok)} | ${m((x) => x.errors)} | ${m((x) => x.p50Ms)} / ${m((x) => x.p99Ms)} | ` +
          `${scenario === 'outage' || scenario === 'late-start' ? 'n/a' : m((x) => x.recoverMs, ' ms')} | ${aStays ? 'n/a' : m((x) => x.shiftMs, ' ms')} | ${m((x) => x.backToSplitMs, ' ms')} | ${m((x) => x.amplification, '×', 2)} |`,
      );
    }
  }
  const own = scenarioNames.filter((name) => scenarios[name].backends);
  if (own.length > 0) {
    lines.push(
      '',
      `On backends of their own, started for each round: ${own.map((name) => `*${name}*: ${scenarios[name].description}`).join('; ')}.`,
    );
  }
  if (scenarioNames.includes('tiers')) {
    const shareOfC = (stack: string, pick: (m: RunMetrics) => Readonly<Record<string, number>>) =>
      spread(
        results.runs.filter((r) => r.scenario === 'tiers' && r.stack === stack).map((r) => pick(r.metrics)['ServiceC'] ?? 0),
        ' %',
        1,
      );
    lines.push(
      '',
      `tiers: ServiceC's share of the calls before the fault ${STACKS.map((stack) => `${stack} ${shareOfC(stack, (m) => m.sharesBefore)}`).join(', ')}; ` +
        `while ServiceA and ServiceB were down ${STACKS.map((stack) => `${stack} ${shareOfC(stack, (m) => m.sharesDuring)}`).join(', ')}.`,
    );
  }
  return lines;
}

function overheadTable(results: BenchResults): string[] {
  const callerCounts = [...new Set(results.overhead.map((r) => r.callers ?? 32))].sort((a, b) => a - b);
  const rounds = results.overhead.filter((r) => r.stack === 'bare grpc-js' && (r.callers ?? 32) === callerCounts[0]).length;
  const lines = [
    `Overhead (healthy pair, ${callerCounts.join(' and ')} callers back to back, ${rounds} rounds after one that warms both stacks up and is not kept, each taking turns between the stacks in 750 ms slices; garbage: bytes allocated on V8's heap per call; hedged: the share of calls the mesh hedged):`,
    '',
    '| stack | callers | calls/s | p50 ms | client CPU per call | of which GC pauses | garbage per call | hedged |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const callers of callerCounts) {
    const overheadOf = (stack: string) => results.overhead.filter((r) => r.stack === stack && (r.callers ?? 32) === callers);
    const ratios = overheadPairs(results, callers);
    for (const stack of ['bare grpc-js', 'grpc-meshlite']) {
      const runs = overheadOf(stack);
      lines.push(
        `| ${stack} | ${callers} | ${spread(
          runs.map((r) => r.callsPerSecond),
          '',
        )} | ${spread(
          runs.map((r) => r.p50Ms),
          '',
          2,
        )} | ${spread(
          runs.map((r) => r.clientCpuUsPerCall),
          ' µs',
        )} | ${gcPauses(runs)} | ${garbage(runs)} | ${hedged(runs)} |`,
      );
    }
    lines.push(
      `| ratio grpc-meshlite / bare | ${callers} | ${spread(
        ratios.map((r) => r.throughput),
        '×',
        3,
      )} | ${spread(
        ratios.map((r) => r.p50),
        '×',
        2,
      )} | ${spread(
        ratios.map((r) => r.cpu),
        '×',
        2,
      )} | | | |`,
    );
  }
  const paced = results.paced ?? [];
  if (paced.length > 0) {
    const of = (stack: string) => paced.filter((r) => r.stack === stack);
    const extra = of('grpc-meshlite').flatMap((m) =>
      of('bare grpc-js')
        .filter((b) => b.round === m.round)
        .map((b) => (m.p50Ms - b.p50Ms) * 1000),
    );
    lines.push(
      '',
      `At a paced 1,000 calls/s (3 s per run, interleaved with the runs above): p50 ${['bare grpc-js', 'grpc-meshlite']
        .map(
          (stack) =>
            `${stack} ${spread(
              of(stack).map((r) => r.p50Ms * 1000),
              ' µs',
            )}`,
        )
        .join(', ')}; ` +
        `grpc-meshlite's extra ${spread(extra, ' µs')}; client CPU per call ${['bare grpc-js', 'grpc-meshlite']
          .map(
            (stack) =>
              `${stack} ${spread(
                of(stack).map((r) => r.clientCpuUsPerCall),
                ' µs',
              )}`,
          )
          .join(', ')}.`,
    );
  }
  return lines;
}

function mtlsTable(runs: readonly OverheadRun[]): string[] {
  const of = (stack: string) => runs.filter((r) => r.stack === stack);
  const pairs = of('grpc-meshlite mTLS').flatMap((tls) => {
    const plain = of('grpc-meshlite').find((r) => r.round === tls.round);
    return plain ? [{ throughput: tls.callsPerSecond / plain.callsPerSecond, cpu: tls.clientCpuUsPerCall / plain.clientCpuUsPerCall }] : [];
  });
  const lines = [
    `mTLS cost (grpc-meshlite over mutual TLS against plaintext, the overhead run's load, ${pairs.length} interleaved rounds):`,
    '',
    '| stack | calls/s | p50 ms | client CPU per call |',
    '| --- | --- | --- | --- |',
  ];
  for (const stack of ['grpc-meshlite', 'grpc-meshlite mTLS']) {
    const row = of(stack);
    lines.push(
      `| ${stack} | ${spread(
        row.map((r) => r.callsPerSecond),
        '',
      )} | ${spread(
        row.map((r) => r.p50Ms),
        '',
        2,
      )} | ${spread(
        row.map((r) => r.clientCpuUsPerCall),
        ' µs',
      )} |`,
    );
  }
  lines.push(
    `| ratio mTLS / plaintext | ${spread(
      pairs.map((p) => p.throughput),
      '×',
      3,
    )} | | ${spread(
      pairs.map((p) => p.cpu),
      '×',
      2,
    )} |`,
  );
  return lines;
}

function prometheusTable(runs: readonly OverheadRun[], recording: readonly RecordingRun[]): string[] {
  const of = (stack: string) => runs.filter((r) => r.stack === stack);
  const extra = of('grpc-meshlite + Prometheus').flatMap((on) => {
    const off = of('grpc-meshlite').find((r) => r.round === on.round);
    return off ? [on.clientCpuUsPerCall - off.clientCpuUsPerCall] : [];
  });
  const lines = [
    `Metrics cost (grpc-meshlite recording into the OpenTelemetry Prometheus exporter against no metrics, the overhead run's load, ${extra.length} interleaved rounds; target ≤ 3 µs per call):`,
    '',
    '| stack | calls/s | client CPU per call |',
    '| --- | --- | --- |',
  ];
  for (const stack of ['grpc-meshlite', 'grpc-meshlite + Prometheus']) {
    const row = of(stack);
    lines.push(
      `| ${stack} | ${spread(
        row.map((r) => r.callsPerSecond),
        '',
      )} | ${spread(
        row.map((r) => r.clientCpuUsPerCall),
        ' µs',
      )} |`,
    );
  }
  lines.push(`| extra client CPU per call | | ${spread(extra, ' µs', 1)} |`);
  if (recording.length > 0) {
    const cost = (mode: 'aggregated' | 'sdk') => costOverNone(recording, mode);
    lines.push(
      '',
      `The client metrics layer alone, in process (6 A66/A96 instruments, one attempt per call; ${new Set(recording.map((r) => r.round)).size} interleaved rounds of 200,000 calls): ` +
        `aggregated in the process (servePrometheus) ${spread(cost('aggregated'), ' ns', 0)} per call, through the API into the SDK ${spread(cost('sdk'), ' ns', 0)}.`,
    );
  }
  return lines;
}

function etcdKillTable(run: EtcdKillRun): string[] {
  const codes = Object.entries(run.errorsByCode).map(([code, count]) => `${code}: ${count}`);
  return [
    `Discovery through etcd (grpc-meshlite; backends registered with a ${run.ttlSeconds} s lease; ServiceA SIGKILLed under load, not restarted):`,
    '',
    '| calls after the kill | failed | last pick of ServiceA | last answer from ServiceA | ServiceA out of the rotation (lease expired) |',
    '| --- | --- | --- | --- | --- |',
    `| ${run.calls} | ${run.errors === 0 ? '0' : codes.join(', ')} | ${run.lastPickMs} ms | ${run.lastServedMs} ms | ${run.removedMs === null ? 'never' : `${run.removedMs} ms`} |`,
  ];
}

function soakTable(soak: SoakRun): string[] {
  const codes = Object.entries(soak.errorsByCode).map(
    ([code, { count, details }]) => `${code} ${count} (${details.map((d) => `"${d}"`).join(', ')})`,
  );
  const mib = ({ start, end }: { start: number; end: number }) => `${start.toFixed(1)} → ${end.toFixed(1)} MiB`;
  const heap = `${soak.heapMiB.start.toFixed(1)} → ${soak.heapMiB.baseline.toFixed(1)} → ${soak.heapMiB.end.toFixed(1)} MiB`;
  return [
    `Soak (grpc-meshlite, 32 callers back to back, ServiceA and ServiceB SIGKILLed in turn every 3 s, down 0.5 s; every call safe to repeat):`,
    '',
    '| calls | time | kills | errors seen by callers | heap after GC: start → at 10 % → end (growth from 10 %) | RSS | active handles |',
    '| --- | --- | --- | --- | --- | --- | --- |',
    `| ${soak.calls} | ${Math.round(soak.durationMs / 1000)} s | ${soak.kills} | ${soak.errors === 0 ? '0' : codes.join('; ')} | ${heap} (${soak.heapGrowthPercent >= 0 ? '+' : ''}${soak.heapGrowthPercent.toFixed(1)} %) | ${mib(soak.rssMiB)} | ${soak.handles.start} → ${soak.handles.end} |`,
  ];
}

function scalingTable(runs: readonly ScalingRun[]): string[] {
  const rounds = Math.max(...runs.map((r) => r.round));
  const of = (endpoints: number, stack: ScalingStack) => runs.filter((r) => r.endpoints === endpoints && r.stack === stack);
  const lines = [
    `Endpoints per service (one backend process listening on N ports; ${rounds} interleaved round(s); client CPU per call under a closed loop of 4,000 calls, 8 at a time; idle = client CPU per second with no calls, the median of three 2 s windows; heap per endpoint once every endpoint took calls; reload = every weight changed; then a second reload gives endpoint 0 weight N−1 and the others 1 (from 3), half the total: its share of the next ${SKEW_CALLS} calls, one at a time, should be 50 %):`,
    '',
    `| endpoints | stack | first call | client CPU per call | vs N = 2 | idle CPU | heap per endpoint | reload | endpoint 0's share of ${SKEW_CALLS} calls after the second reload |`,
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const endpoints of SCALING_SIZES) {
    for (const stack of ['bare grpc-js', 'grpc-meshlite balancer', 'grpc-meshlite'] as const) {
      const row = of(endpoints, stack);
      if (row.length === 0) continue;
      const base = of(2, stack);
      const ratio = row.flatMap((r) => base.filter((b) => b.round === r.round).map((b) => r.cpuUsPerCall / b.cpuUsPerCall));
      const reload = row.some((r) => r.reloadMs !== undefined)
        ? `${spread(
            row.map((r) => r.reloadMs ?? null),
            ' ms',
          )}, ${Math.max(...row.map((r) => r.reconnectedOnReload ?? 0))} reconnected`
        : '—';
      lines.push(
        `| ${endpoints} | ${stack} | ${spread(
          row.map((r) => r.firstCallMs),
          ' ms',
        )} | ${spread(
          row.map((r) => r.cpuUsPerCall),
          ' µs',
        )} | ${spread(ratio, '×', 2)} | ` +
          `${spread(
            row.map((r) => r.idleCpuMsPerS),
            ' ms/s',
            1,
          )} | ${
            endpoints >= 100
              ? spread(
                  row.map((r) => r.heapKiBPerEndpoint),
                  ' KiB',
                  1,
                )
              : '—'
          } | ${reload} | ${
            row.some((r) => r.skewedSharePercent !== undefined)
              ? spread(
                  row.map((r) => r.skewedSharePercent ?? null),
                  ' %',
                  1,
                )
              : '—'
          } |`,
      );
    }
  }
  const periods = runs.flatMap((r) => (r.idlePeriod ? [{ stack: r.stack, ...r.idlePeriod }] : []));
  if (periods.length > 0) {
    lines.push(
      '',
      `Idle over a whole idle-probe period at 1,000 health-checked endpoints (${periods[0]!.seconds} s with no calls after the load, in 1 s windows; round 1): ` +
        periods
          .map(
            (p) =>
              `${p.stack} ${p.averageMsPerS.toFixed(1)} ms/s on average, ${p.worst10sMsPerS.toFixed(1)} ms/s in its worst 10 s, ` +
              `${p.otherSecondsMsPerS.toFixed(1)} ms/s outside the ${p.majorGcSeconds} s in which a major GC of V8 ended`,
          )
          .join('; ') +
        '.',
    );
  }
  return lines;
}

function latencyTable(results: BenchResults): string[] {
  const lines = [
    'Latency-aware balancing (ServiceA answers 200 ms late, health SERVING; hedging and per-attempt timeouts off; 80/20 configured; ServiceA\'s share per 250 ms window for "below 5 %", per 1 s window for "back to the split" — within 5 points of its share before the fault):',
    '',
    '| stack | ServiceA share from 1 s into the fault | ServiceA below 5 % after | p50 / p99 during the fault | p99 before | back to the split after heal (first / for good) | errors |',
    '| --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const stack of ['grpc-meshlite p2c_ewma, no hedging', 'grpc-meshlite weighted, no hedging', 'plain grpc-js']) {
    const runs = results.runs.filter((r) => r.scenario === 'latency' && r.stack === stack);
    if (runs.length === 0) continue;
    const m = (pick: (m: RunMetrics) => number | null, unit = '', digits = 0) =>
      spread(
        runs.map((r) => pick(r.metrics)),
        unit,
        digits,
      );
    lines.push(
      `| ${stack} | ${m((x) => x.shareLateInFaultA, ' %', 1)} | ${m((x) => x.lowShareMs, ' ms')} | ${m((x) => x.p50Ms, ' ms')} / ${m((x) => x.p99Ms, ' ms')} | ${m((x) => x.steadyP99Ms, ' ms')} | ${m((x) => x.firstBackToSplitMs, ' ms')} / ${m((x) => x.backToSplitMs, ' ms')} | ${m((x) => x.errors)} |`,
    );
  }
  return lines;
}

function layersTable(runs: readonly OverheadRun[], alone: readonly LayerAloneRun[]): string[] {
  // Each row with the row its "added" is measured from: the chain of layers, and beside it the
  // empty interceptor, measured from bare grpc-js.
  const chain = ['bare grpc-js', ...LAYER_STEPS.map((step) => `layers: ${step}`)];
  const rows: Array<{ stack: string; from: string | undefined }> = [
    { stack: 'bare grpc-js', from: undefined },
    { stack: 'bare grpc-js + an empty interceptor', from: 'bare grpc-js' },
    ...chain.slice(1).map((stack, i) => ({ stack, from: chain[i] })),
  ];
  const rounds = new Set(runs.map((r) => r.round)).size;
  const lines = [
    `Cost per layer (the overhead run's load; bare grpc-js, grpc-js with an interceptor that does nothing, then the mesh's balancer alone and one layer more per row up to the full client; ${rounds} interleaved rounds; "added" is the row's CPU per call minus the CPU of the row it builds on — bare grpc-js for the first two, the row above for the rest — in the same round):`,
    '',
    '| stack | calls/s | client CPU per call | of which GC pauses | added | ratio to bare |',
    '| --- | --- | --- | --- | --- | --- |',
  ];
  for (const { stack, from } of rows) {
    const row = runs.filter((r) => r.stack === stack);
    if (row.length === 0) continue;
    const sameRound = (other: string) =>
      row.flatMap((r) => runs.filter((o) => o.stack === other && o.round === r.round).map((o) => ({ r, o })));
    const added = from === undefined ? [] : sameRound(from).map(({ r, o }) => r.clientCpuUsPerCall - o.clientCpuUsPerCall);
    const ratio = sameRound('bare grpc-js').map(({ r, o }) => r.clientCpuUsPerCall / o.clientCpuUsPerCall);
    lines.push(
      `| ${stack.replace('layers: ', '')} | ${spread(
        row.map((r) => r.callsPerSecond),
        '',
      )} | ${spread(
        row.map((r) => r.clientCpuUsPerCall),
        ' µs',
      )} | ${gcPauses(row)} | ${from === undefined ? '—' : spread(added, ' µs', 1)} | ${from === undefined ? '1.00×' : spread(ratio, '×', 2)} |`,
    );
  }
  if (alone.length > 0) {
    const cost = (mode: LayerAloneRun['mode']) => costOverNone(alone, mode);
    lines.push(
      '',
      `The same layers by themselves, in process (as \`mesh.clientStack()\` builds them from examples/mesh.json, in the callback form the grpc-js adapter runs, over a \`next\` that answers in a microtask; a hedged GetOrder; ${new Set(alone.map((r) => r.round)).size} interleaved rounds of 100,000 calls): ` +
        `deadline ${spread(cost('deadline'), ' ns', 0)}, circuit breaker ${spread(cost('circuit-breaker'), ' ns', 0)}, retry and hedging ${spread(cost('retry'), ' ns', 0)}, logging ${spread(cost('logging'), ' ns', 0)}; ` +
        `all four composed ${spread(cost('all'), ' ns', 0)} per call.`,
    );
  }
  return lines;
}

/** The runs' GC pauses per call, or a dash for runs recorded before they were measured. */
function garbage(runs: readonly OverheadRun[]): string {
  const measured = runs.flatMap((r) => (r.allocatedBytesPerCall === undefined ? [] : [r.allocatedBytesPerCall / 1024]));
  return measured.length === 0 ? '—' : spread(measured, ' KiB', 1);
}

/** The share of calls hedged, or a dash for a stack that does not hedge. */
function hedged(runs: readonly OverheadRun[]): string {
  const measured = runs.flatMap((r) => (r.hedgesPerCall === undefined ? [] : [r.hedgesPerCall * 100]));
  return measured.length === 0 ? '—' : spread(measured, ' %', 1);
}

function gcPauses(runs: readonly OverheadRun[]): string {
  const measured = runs.flatMap((r) => (r.gcUsPerCall === undefined ? [] : [r.gcUsPerCall]));
  return measured.length === 0 ? '—' : spread(measured, ' µs');
}
