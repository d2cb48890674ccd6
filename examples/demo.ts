// npm start: the failover demo. ServiceA and ServiceB run as processes under a supervisor
// that restarts a dead one; a client with the whole grpc-meshlite stack keeps a steady load
// on mesh:///orders (weights 80/20) while a scripted timeline kills, hangs, drains and breaks
// ServiceA, then takes both down, and everything heals. One line per second, a table at the end.
//
//   npm start                                  the whole timeline, about a minute
//   npm start -- --scenario hang               one scenario (kill|hang|drain|errors|outage)
//   npm start -- --phase-seconds 3 --rate 100  shorter phases, lighter load
//   npm start -- --mtls                        the same over mutual TLS, with a throwaway CA made by openssl
//   npm start -- --discovery etcd              endpoints from a real etcd: backends register themselves,
//                                              ServiceC joins, ServiceA is killed and its lease runs out,
//                                              etcd itself goes away for a phase
//   npm start -- --scenario canary             ServiceA as v1, ServiceB as v2: routes moved by config reloads,
//                                              a fault the retries hide, a mirror whose failures nobody sees
//                                              (examples/canary.ts; not part of the whole timeline)
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createLogger, type MeshConfigInput } from 'grpc-meshlite';
import { servePrometheus, type PrometheusMetrics } from 'grpc-meshlite/prometheus';
import { CANARY_HEADER, CANARY_PHASES, canaryConfig, reportCanary, type SplitView } from './canary.js';
import { EXAMPLE_ETCD_PREFIX, createOrdersClient, exampleConfig, exampleEtcdConfig, type OrdersClient } from './client.js';
import { startEtcdProcess, type EtcdProcess } from './etcd-server.js';
import { meshCertificates } from './tls-certs.js';
import { LoadGenerator, type CallRecord, type TaggedShare } from './load.js';
import { Supervisor } from './supervisor.js';
import { summarize, formatTable, whyTheyFailed } from './report.js';
import { canaryView, faultView, type SecondView } from './second-lines.js';

const SCENARIOS = ['kill', 'hang', 'drain', 'errors', 'outage'] as const;
type Scenario = (typeof SCENARIOS)[number];

interface Step {
  /** Seconds from the start of the run. */
  readonly at: number;
  readonly phase: string;
  readonly say: string;
  readonly act?: (supervisor: Supervisor, orders: OrdersClient) => void;
}

/** The fault timeline: each scenario is a fault for one phase, then a phase to heal. */
function timeline(scenarios: readonly Scenario[], phase: number): Step[] {
  const steps: Step[] = [{ at: 0, phase: 'steady', say: 'both backends healthy; weights 80/20' }];
  let at = phase;
  const fault = (name: string, say: string, act: Step['act'], heal: string, healAct?: Step['act']) => {
    steps.push({ at, phase: name, say, act });
    steps.push({ at: at + phase, phase: `${name}: healing`, say: heal, act: healAct });
    at += 2 * phase;
  };
  for (const scenario of scenarios) {
    if (scenario === 'kill') {
      fault(
        'kill',
        'ServiceA killed (SIGKILL); the supervisor restarts it after its backoff, held here for the phase',
        (s) => s.kill('ServiceA', phase * 1000),
        'ServiceA restarted by the supervisor',
      );
    } else if (scenario === 'hang') {
      fault(
        'hang',
        'ServiceA hung (SIGSTOP): connections stay open, nothing is answered',
        (s) => s.pause('ServiceA'),
        'ServiceA resumed (SIGCONT)',
        (s) => s.resume('ServiceA'),
      );
    } else if (scenario === 'drain') {
      fault(
        'drain',
        'ServiceA drained through its health status (NOT_SERVING)',
        (s) => s.send('ServiceA', { type: 'health', status: 'NOT_SERVING' }),
        'ServiceA SERVING again',
        (s) => s.send('ServiceA', { type: 'health', status: 'SERVING' }),
      );
    } else if (scenario === 'errors') {
      fault(
        'errors',
        'ServiceA fails every call (UNAVAILABLE) while its health says SERVING',
        (s) => s.send('ServiceA', { type: 'faults', failRate: 1 }),
        'ServiceA answers normally again',
        (s) => s.send('ServiceA', { type: 'faults', failRate: 0 }),
      );
    } else {
      fault(
        'outage',
        'both backends killed: a total outage (restarts held for the phase)',
        (s) => {
          s.kill('ServiceA', phase * 1000);
          s.kill('ServiceB', phase * 1000);
        },
        'both backends restarted by the supervisor',
      );
    }
  }
  steps.push({ at, phase: 'end', say: '' });
  return steps;
}

function parseFlags() {
  const { values } = parseArgs({
    options: {
      scenario: { type: 'string', default: 'all' },
      'phase-seconds': { type: 'string', default: '5' },
      rate: { type: 'string', default: '200' },
      discovery: { type: 'string', default: 'file' },
      mtls: { type: 'boolean', default: false },
    },
  });
  const discovery = values.discovery;
  if (discovery !== 'file' && discovery !== 'etcd') throw new Error(`--discovery must be file or etcd, got "${discovery}"`);
  const scenario = values.scenario;
  const canary = scenario === 'canary';
  if (scenario !== 'all' && !canary && !SCENARIOS.includes(scenario as Scenario)) {
    throw new Error(`--scenario must be all, canary or one of ${SCENARIOS.join(', ')}, got "${scenario}"`);
  }
  if (canary && discovery === 'etcd') {
    throw new Error('--scenario canary runs on the endpoints and labels of examples/canary.json, not with --discovery etcd');
  }
  const phase = Number(values['phase-seconds']);
  if (!Number.isFinite(phase) || phase < 2 || phase > 60) throw new Error(`--phase-seconds must be 2-60, got "${values['phase-seconds']}"`);
  const rate = Number(values.rate);
  if (!Number.isInteger(rate) || rate < 10 || rate > 2000) throw new Error(`--rate must be an integer 10-2000, got "${values.rate}"`);
  const scenarios: readonly Scenario[] = scenario === 'all' ? SCENARIOS : canary ? [] : [scenario as Scenario];
  return { scenarios, canary, phase, rate, discovery, mtls: values.mtls };
}

const DEMO_SERVER_ID = 'spiffe://meshlite/orders';
const DEMO_CLIENT_ID = 'spiffe://meshlite/demo-client';

/** Weights the backends register with in etcd mode (the file's 80/20, and ServiceC's 20). */
const ETCD_WEIGHTS: Record<string, number> = { ServiceA: 80, ServiceB: 20, ServiceC: 20 };

/**
 * The etcd timeline: nobody edits a config. ServiceC starts and registers itself; ServiceA is
 * SIGKILLed and leaves the rotation when its lease runs out; etcd itself goes away for a
 * phase while calls go on; everything comes back.
 */
function etcdTimeline(phase: number, etcd: EtcdProcess): Step[] {
  return [
    { at: 0, phase: 'steady', say: 'ServiceA (weight 80) and ServiceB (20) registered themselves in etcd' },
    {
      at: phase,
      phase: 'join',
      say: 'ServiceC starts and registers itself (weight 20): no config edit',
      act: (s) => void s.start(['ServiceC']),
    },
    {
      at: 2 * phase,
      phase: 'kill',
      say: 'ServiceA killed (SIGKILL): nobody deregisters it; its lease (3 s) runs out',
      act: (s) => s.kill('ServiceA', phase * 1000),
    },
    { at: 3 * phase, phase: 'kill: healing', say: 'ServiceA restarted: it registers again' },
    { at: 4 * phase, phase: 'etcd down', say: 'etcd stopped: clients keep the last endpoint set', act: () => void etcd.kill() },
    { at: 5 * phase, phase: 'etcd down: healing', say: 'etcd back: clients list afresh and watch again', act: () => void etcd.start() },
    { at: 6 * phase, phase: 'end', say: '' },
  ];
}

/**
 * The canary timeline (examples/canary.ts): each phase after the first starts with a config
 * reload of the in-code mesh (`mesh.update`), which changes the existing client's routes at
 * once, then does what the phase does to a backend.
 */
function canaryTimeline(phase: number, configFor: (split: (typeof CANARY_PHASES)[number]['split']) => MeshConfigInput): Step[] {
  const steps: Step[] = CANARY_PHASES.map((p, i) => ({
    at: i * phase,
    phase: p.name,
    say: p.say,
    act:
      i === 0
        ? undefined
        : (supervisor, orders) => {
            orders.mesh.update(configFor(p.split));
            p.act?.(supervisor);
          },
  }));
  return [...steps, { at: CANARY_PHASES.length * phase, phase: 'end', say: '' }];
}

async function main(): Promise<void> {
  const { scenarios, canary, phase, rate, discovery, mtls } = parseFlags();
  const storeDir = mkdtempSync(join(tmpdir(), 'meshlite-demo-'));
  const certs = mtls ? meshCertificates(DEMO_SERVER_ID, DEMO_CLIENT_ID) : undefined;
  let etcd: EtcdProcess | undefined;
  if (discovery === 'etcd') {
    console.log('Starting etcd (a real one, Debian etcd-server) on 127.0.0.1 ...');
    etcd = await startEtcdProcess();
  }
  const registration = (name: string) =>
    etcd ? ['--etcd', etcd.endpoint, '--etcd-prefix', EXAMPLE_ETCD_PREFIX, '--weight', String(ETCD_WEIGHTS[name] ?? 1)] : [];
  // The backends share one order store, the way replicas share a database.
  const tlsArgs = certs ? ['--tls-dir', certs.serverDir, '--allow', DEMO_CLIENT_ID] : [];
  const supervisor = new Supervisor({ args: ['--store-dir', storeDir, '--grace-ms', '200', ...tlsArgs], argsFor: registration });
  const names = etcd ? ['ServiceA', 'ServiceB', 'ServiceC'] : ['ServiceA', 'ServiceB'];
  let orders: OrdersClient | undefined;
  let prometheus: PrometheusMetrics | undefined;
  try {
    console.log('Starting ServiceA and ServiceB under a supervisor ...');
    await supervisor.start(['ServiceA', 'ServiceB']);
    const addresses = { ServiceA: `127.0.0.1:${supervisor.port('ServiceA')}`, ServiceB: `127.0.0.1:${supervisor.port('ServiceB')}` };
    // Every backend's certificate must carry the orders identity; ours is the demo client's.
    const withTls = (config: MeshConfigInput) => {
      if (certs) config.services['orders']!.tls = { ...certs.client, identities: [DEMO_SERVER_ID] };
      return config;
    };
    const canaryAt = (split: (typeof CANARY_PHASES)[number]['split']) => withTls(canaryConfig(addresses, split));
    const config = withTls(etcd ? exampleEtcdConfig(etcd.endpoint) : canary ? canaryAt(CANARY_PHASES[0]!.split) : exampleConfig(addresses));
    const steps = etcd ? etcdTimeline(phase, etcd) : canary ? canaryTimeline(phase, canaryAt) : timeline(scenarios, phase);
    if (certs) console.log(`mTLS: a throwaway CA (openssl) in ${certs.dir}; backends accept only ${DEMO_CLIENT_ID}`);
    prometheus = await prometheusMetrics();
    orders = createOrdersClient(config, createLogger({ level: 'silent' }), prometheus?.meterProvider);
    const admin = await serveAdminPage(orders, prometheus);
    console.log(`\n  Status page: ${admin.url}  (live: what the callers see, each backend's state, share and events)`);
    console.log(prometheus ? `  Metrics:     ${admin.url}metrics  (Prometheus text; also ${prometheus.url})\n` : '');
    const notes = collectNotes(supervisor, orders);
    // With etcd, the backends are in the rotation once they have registered.
    orders.client.getChannel().getConnectivityState(true);
    await inRotation(orders, ['ServiceA', 'ServiceB']);
    const header = canary ? CANARY_HEADER : undefined;
    const load = new LoadGenerator(orders.client, { ratePerSecond: rate, keyPrefix: `demo-${process.pid}`, ...(header && { header }) });
    await load.seed(5);
    await warmUp(orders, rate, header);
    const where = etcd
      ? `endpoints from etcd ${etcd.endpoint} (prefix ${EXAMPLE_ETCD_PREFIX})`
      : canary
        ? `ServiceA (v1) on ${addresses.ServiceA}, ServiceB (v2) on ${addresses.ServiceB}`
        : `ServiceA on ${addresses.ServiceA}, ServiceB on ${addresses.ServiceB}`;
    const tagged = header ? `, ${Math.round(header.share * 100)} % of them with ${header.name}: ${header.value}` : '';
    console.log(`${where}; client load ${rate} calls/s (80 % GetOrder, 20 % CreateOrder${tagged})\n`);
    if (canary) {
      const views = new Map<string, SplitView>();
      const run = await playTimeline(steps, supervisor, orders, load, canaryView(supervisor, orders, notes, views));
      reportCanary(CANARY_PHASES, { ...run, phaseSeconds: phase, views, mirrors: orders.client.stack.route?.mirrors() });
      return;
    }
    const run = await playTimeline(steps, supervisor, orders, load, faultView(supervisor, orders, notes, names));
    const weights = etcd ? [80, 20, 20] : [80, 20];
    report(steps, etcd ? [] : scenarios, run, { shareA: (100 * weights[0]!) / weights.reduce((a, b) => a + b), label: weights.join('/') });
  } finally {
    orders?.close();
    await prometheus?.close();
    await supervisor.stop();
    await etcd?.dispose();
    certs?.dispose();
    rmSync(storeDir, { recursive: true, force: true });
  }
}

/**
 * Two seconds of the same load before the timeline, not counted: on a cold machine the first
 * calls pay for code compiled on first use in the client and the backends (tsx, V8, the order
 * store), and a first run failed calls in its steady phase that a second run did not. What the
 * timeline measures is the mesh, not the start-up.
 */
async function warmUp(orders: OrdersClient, rate: number, header: TaggedShare | undefined): Promise<void> {
  const warm = new LoadGenerator(orders.client, {
    ratePerSecond: rate,
    keyPrefix: `demo-${process.pid}-warm-up`,
    ...(header && { header }),
  });
  warm.start();
  await new Promise((resolve) => setTimeout(resolve, 2000));
  await warm.stop();
  const failed = warm.records.filter((r) => r.code !== 0).length;
  console.log(`warmed up: ${warm.records.length} calls before the timeline, not counted (${failed} failed)`);
}

/**
 * The mesh's metrics in Prometheus's format, for the admin server's /metrics: the exporter is
 * an optional peer dependency (a devDependency here), so without it the demo runs without them.
 */
async function prometheusMetrics(): Promise<PrometheusMetrics | undefined> {
  try {
    return await servePrometheus({ port: 0 });
  } catch (error) {
    console.log(`(no /metrics: ${(error as Error).message})`);
    return undefined;
  }
}

/** The mesh's admin server on Envoy's port 9901, or a free port when that one is taken; /metrics with `prometheus`. */
async function serveAdminPage(orders: OrdersClient, prometheus: PrometheusMetrics | undefined) {
  const options = prometheus ? { prometheus } : {};
  try {
    return await orders.mesh.serveAdmin({ port: 9901, ...options });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error;
    return orders.mesh.serveAdmin({ port: 0, ...options });
  }
}

/** Resolves once every named backend is in the rotation (or fails after 15 s, saying what it saw). */
function inRotation(orders: OrdersClient, names: readonly string[]): Promise<void> {
  const ready = () => {
    const endpoints = orders.mesh.snapshot('orders')[0]?.endpoints ?? [];
    return names.every((name) => endpoints.some((e) => e.name === name && e.status === 'in-rotation'));
  };
  return new Promise((resolve, reject) => {
    const check = () => {
      if (!ready()) return;
      done();
      resolve();
    };
    const dispose = orders.mesh.events.onEndpoint(check);
    const poll = setInterval(check, 50);
    const timer = setTimeout(() => {
      done();
      reject(
        new Error(
          `${names.join(' and ')} not in the rotation after 15 s: ${JSON.stringify(orders.mesh.snapshot('orders')[0]?.endpoints.map((e) => [e.name, e.status]))}`,
        ),
      );
    }, 15_000);
    const done = () => {
      dispose();
      clearInterval(poll);
      clearTimeout(timer);
    };
    check();
  });
}

/** What happened lately, in a few words, for the next per-second line. */
function collectNotes(supervisor: Supervisor, orders: OrdersClient): string[] {
  const notes: string[] = [];
  supervisor.onEvent((event) => {
    if (event.kind === 'exited') notes.push(`${event.name} exited (${event.signal ?? event.code})`);
    if (event.kind === 'started') notes.push(`${event.name} up (pid ${event.pid})`);
  });
  orders.mesh.events.onEndpoint((event) => {
    if (['ejected', 'readmitted', 'unhealthy', 'healthy', 'disconnected', 'added', 'removed'].includes(event.kind))
      notes.push(`${event.endpoint} ${event.kind}`);
  });
  orders.mesh.events.onDiscovery((event) => {
    if (event.kind !== 'skipped') notes.push(`etcd ${event.kind}`);
  });
  orders.client.stack.breaker?.onStateChange((change) => notes.push(`breaker ${change.state}`));
  orders.mesh.events.onRouting((event) => notes.push(`route ${event.route}: ${event.kind} (subset ${event.subset})`));
  return notes;
}

interface TimelineRun {
  readonly started: number;
  readonly records: readonly CallRecord[];
  /** The phase each call started in. */
  readonly phaseOf: ReadonlyMap<CallRecord, string>;
}

/** Runs the load through the timeline's steps, printing one line per second. */
async function playTimeline(
  steps: readonly Step[],
  supervisor: Supervisor,
  orders: OrdersClient,
  load: LoadGenerator,
  view: SecondView,
): Promise<TimelineRun> {
  console.log(view.header);
  const phaseOf = new Map<CallRecord, string>();
  let currentPhase = steps[0]!.phase;
  load.onRecord((record) => phaseOf.set(record, currentPhase));
  const started = Date.now();
  load.start();
  let stepIndex = 0;
  const totalSeconds = steps.at(-1)!.at;
  for (let second = 0; second < totalSeconds;) {
    while (stepIndex < steps.length - 1 && steps[stepIndex]!.at <= second) {
      const step = steps[stepIndex++]!;
      currentPhase = step.phase;
      step.act?.(supervisor, orders);
      console.log(`  ── ${String(step.at).padStart(3)}s  ${step.phase}: ${step.say}`);
    }
    second++;
    await new Promise((resolve) => setTimeout(resolve, started + second * 1000 - Date.now()));
    const window = load.records.filter((r) => r.endedAt >= started + (second - 1) * 1000 && r.endedAt < started + second * 1000);
    console.log(view.line(second, window, currentPhase));
  }
  await load.stop();
  return { started, records: load.records, phaseOf };
}

/** The summary table per phase, the failed calls, and whether traffic returned to 80/20. */
function report(
  steps: readonly Step[],
  scenarios: readonly Scenario[],
  { started, records, phaseOf }: TimelineRun,
  split: { readonly shareA: number; readonly label: string },
): void {
  const byPhase = new Map<string, CallRecord[]>();
  for (const record of records) {
    const name = phaseOf.get(record);
    if (name) byPhase.set(name, [...(byPhase.get(name) ?? []), record]);
  }
  console.log('\nSummary (calls grouped by the phase in which they started):\n');
  console.log(formatTable(steps.slice(0, -1).map((step) => summarize(step.phase, byPhase.get(step.phase) ?? []))));
  const failed = records.filter((r) => r.code !== 0);
  const outside = failed.filter((r) => !(phaseOf.get(r) ?? '').startsWith('outage'));
  console.log(
    `\n${records.length} calls, ${failed.length} failed` +
      (scenarios.includes('outage') ? ` (${failed.length - outside.length} during the total outage, ${outside.length} elsewhere).` : '.'),
  );
  console.log(
    outside.length === 0
      ? 'Every fault of a single backend was absorbed by the other: no caller saw an error.'
      : `${outside.length} calls failed while one backend was still healthy; by phase, code and reason:`,
  );
  for (const line of whyTheyFailed(outside, phaseOf)) console.log(`  ${line}`);
  // Did traffic return to the configured split? Look at the last second of each healing phase.
  for (const step of steps.filter((s) => s.phase.endsWith(': healing'))) {
    const end = started + steps[steps.indexOf(step) + 1]!.at * 1000;
    const last = records.filter((r) => r.code === 0 && r.startedAt >= end - 1000 && r.startedAt < end);
    const toA = last.length === 0 ? 0 : (100 * last.filter((r) => r.servedBy === 'ServiceA').length) / last.length;
    const back = Math.abs(toA - split.shareA) <= 5;
    const words = back ? ` — back to ${split.label}` : ` — not yet back to ${split.label}`;
    console.log(`  after ${step.phase.replace(': healing', '')}: ${Math.round(toA)} % to ServiceA in the last second${words}`);
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? `demo: ${error.message}` : error);
  process.exit(1);
});
