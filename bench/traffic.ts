// The traffic part of npm run bench (issue 27): (a) a canary moved 0 → 5 → 50 → 100 % by
// config reloads (mesh.update) under the paced load: v2's share of each step's last second
// against the configured one, and the calls that failed while it moved; (b) what routing adds
// to the client's CPU per call: 5 routes with header matches (none matching, or the fifth
// matching with a 95/5 split) against the same client without routes; (c) what a 100 % mirror
// costs. Bounded: four 2 s steps, then the overhead run's 3 s runs; 127.0.0.1 only.
import * as grpc from '@grpc/grpc-js';
import { createLogger, createMesh, type MeshConfigInput } from 'grpc-meshlite';
import { describeMethod, type CancelSignal } from 'grpc-meshlite/layers';
import { canaryConfig, shareToV2, splitView } from '../examples/canary.js';
import { exampleConfig } from '../examples/client.js';
import { LoadGenerator } from '../examples/load.js';
import { OrderClient } from '../examples/orders.js';
import type { Supervisor } from '../examples/supervisor.js';
import { timeChains, type Call, type InProcessRun, type Next } from './in-process.js';
import { resetBackends, runOverhead } from './overhead.js';
import type { OverheadRun } from './results.js';
import type { Stack, StackName } from './stacks.js';
import { median } from './summary.js';

/** The canary's steps, v2's share in percent; the first is where it starts. */
export const SHIFT_STEPS = [0, 5, 50, 100] as const;
/** How long each step lasts; its share is read over its last second. */
export const STEP_MS = 2000;
const SHIFT_WARMUP_MS = 1000;

type RouteInput = NonNullable<MeshConfigInput['services'][string]['routes']>[number];

export interface ShiftStep {
  /** v2's configured share, 0–100. */
  readonly toV2: number;
  /** Calls started during the step (from its reload to the next), and those that failed, by code and details. */
  readonly calls: number;
  readonly failed: number;
  readonly errorsByCode: Readonly<Record<string, number>>;
  /** Successful calls started in the step's last second, and v2's (ServiceB's) share of them, 0–100. */
  readonly windowCalls: number;
  readonly actualShare: number | null;
  /** |actual − configured|, in points. */
  readonly errorPoints: number | null;
  /** v2's share of route "split"'s picks since the reload, as mesh.snapshot() showed it at the step's end. */
  readonly balancerShare: number | null;
}

export type TrafficMode = 'none' | 'no routes' | '5 routes, none matching' | '5 routes, the 5th matching';
export const TRAFFIC_ALONE_MODES: readonly TrafficMode[] = ['none', 'no routes', '5 routes, none matching', '5 routes, the 5th matching'];

export interface TrafficResults {
  /** The canary shift, under the paced load at `rate` calls/s. */
  readonly rate: number;
  readonly shift: readonly ShiftStep[];
  /** The overhead run's load through the routing stacks (ROUTING_STACKS), interleaved. */
  readonly routing: readonly OverheadRun[];
  /** The overhead run's load through a route to v1, with and without a 100 % mirror to v2, interleaved. */
  readonly mirror: readonly OverheadRun[];
  /** The client layers composed, in process, with each route table: their own work. */
  readonly alone: readonly InProcessRun<TrafficMode>[];
}

export const ROUTING_STACKS = [
  'traffic: no routes',
  'traffic: 5 routes, none matching',
  'traffic: 5 routes, the 5th matching (95/5)',
] as const;
export const MIRROR_STACKS = ['traffic: a route to v1', 'traffic: a route to v1, 100 % mirrored to v2'] as const;

/** What every call of the routing runs carries: routes match on it (the fifth, or none). */
const TENANT = { 'x-tenant': 'acme' } as const;

/**
 * Five routes with header matches a call of tenant "acme" meets in turn: present, prefix and
 * regular expression on headers it does not have or values it does not match, a method it
 * does not call, then the canary — matching "acme" (95/5 between v1 and v2) or another tenant.
 */
export function fiveRoutes(fifthMatches: boolean): RouteInput[] {
  const toV2 = [{ subset: 'v2', weight: 1 }];
  return [
    { name: 'debug', match: { headers: [{ name: 'x-debug', present: true }] }, destinations: toV2 },
    { name: 'internal', match: { headers: [{ name: 'x-tenant', prefix: 'internal-' }] }, destinations: toV2 },
    { name: 'beta', match: { headers: [{ name: 'x-tenant', regex: '(beta|canary)-[0-9]+' }] }, destinations: toV2 },
    {
      name: 'listing',
      match: { method: 'orders.v1.OrderService/ListOrders', headers: [{ name: 'x-tenant', exact: 'acme' }] },
      destinations: [{ subset: 'v1', weight: 1 }],
    },
    {
      name: 'canary',
      match: { method: 'orders.v1.OrderService', headers: [{ name: 'x-tenant', exact: fifthMatches ? 'acme' : 'globex' }] },
      destinations: [
        { subset: 'v1', weight: 95 },
        { subset: 'v2', weight: 5 },
      ],
    },
  ];
}

/** examples/mesh.json at equal weights, ServiceA labelled v1 and ServiceB v2; with routes, the subsets v1 and v2 and the routes. */
function trafficConfig(addresses: Record<string, string>, routes: RouteInput[] | undefined): MeshConfigInput {
  const config = exampleConfig(addresses);
  const orders = config.services['orders']!;
  for (const endpoint of orders.endpoints ?? []) {
    endpoint.weight = 50;
    endpoint.labels = { version: endpoint.name === 'ServiceA' ? 'v1' : 'v2' };
  }
  if (routes) {
    orders.subsets = { v1: { version: 'v1' }, v2: { version: 'v2' } };
    orders.routes = routes;
  }
  return config;
}

const quietLogger = () => createLogger({ level: 'warn', destination: { write: () => {} } });

/** The full mesh client (examples/mesh.json, equal weights) with `routes` (none: no subsets either). */
function trafficStack(name: StackName, routes: RouteInput[] | undefined) {
  return (addresses: Record<string, string>): Stack => {
    const mesh = createMesh({ config: trafficConfig(addresses, routes), logger: quietLogger() });
    const client = mesh.client(OrderClient, 'orders');
    return {
      name,
      client,
      mirrors: () => client.stack.route?.mirrors(),
      close: () => {
        client.close();
        mesh.close();
      },
    };
  };
}

const toV1: RouteInput = { name: 'all', destinations: [{ subset: 'v1', weight: 1 }] };

/** Runs the whole part; `progress` is told after each run. */
export async function runTraffic(
  supervisor: Supervisor,
  addresses: Record<string, string>,
  options: { readonly rate: number; readonly rounds: number },
  progress: (text: string) => void,
): Promise<TrafficResults> {
  const shift = await runShift(supervisor, addresses, options.rate);
  progress(
    `traffic  canary ${shift.map((s) => `${s.toV2} %: ${s.actualShare?.toFixed(1) ?? '-'} % (${s.failed} failed)`).join(', ')} of the last second's calls to v2`,
  );
  const routingStacks = [
    trafficStack(ROUTING_STACKS[0], undefined),
    trafficStack(ROUTING_STACKS[1], fiveRoutes(false)),
    trafficStack(ROUTING_STACKS[2], fiveRoutes(true)),
  ];
  const mirrorStacks = [
    trafficStack(MIRROR_STACKS[0], [toV1]),
    trafficStack(MIRROR_STACKS[1], [{ ...toV1, mirror: { subset: 'v2', percent: 100 } }]),
  ];
  const routing: OverheadRun[] = [];
  const mirror: OverheadRun[] = [];
  /**
   * Each run starts from a collected heap and a second's quiet, so that one stack's garbage is
   * not collected on the next one's clock: in short runs without it, the first run of each
   * group read 20–40 µs per call above the same stack later in the round.
   */
  const measured = async (make: (a: Record<string, string>) => Stack, round: number) => {
    (globalThis as { gc?: () => void }).gc?.();
    await new Promise((resolve) => setTimeout(resolve, 1000));
    return runOverhead(supervisor, addresses, make, round, undefined, TENANT);
  };
  // One run not kept: the first whole-call run of a fresh process paid for compiling the
  // routing code and read up to a third above the same stack later in short runs.
  await measured(routingStacks[2]!, 0);
  progress('traffic  a warm-up run of the routed client, not kept');
  for (let round = 1; round <= options.rounds; round++) {
    // The order reversed every other round, so no stack always runs on a fresher machine.
    const order = (stacks: typeof routingStacks) => (round % 2 === 1 ? stacks : [...stacks].reverse());
    for (const make of order(routingStacks)) {
      const run = await measured(make, round);
      routing.push(run);
      progress(
        `traffic  ${run.stack.padEnd(44)} ${Math.round(run.callsPerSecond)} calls/s, client CPU ${run.clientCpuUsPerCall.toFixed(1)} µs/call`,
      );
    }
    for (const make of order(mirrorStacks)) {
      const run = await measured(make, round);
      mirror.push(run);
      const copies = run.mirrors ? `, ${run.mirrors.sent} mirrored (${run.mirrors.dropped} dropped, ${run.mirrors.failed} failed)` : '';
      progress(
        `traffic  ${run.stack.padEnd(44)} ${Math.round(run.callsPerSecond)} calls/s, client CPU ${run.clientCpuUsPerCall.toFixed(1)} µs/call${copies}`,
      );
    }
  }
  const alone = await measureRoutingAlone(addresses, options.rounds);
  progress(
    `traffic  alone: ${TRAFFIC_ALONE_MODES.slice(2)
      .map((mode) => `${mode} +${Math.round(median(routingAloneCost(alone, mode)) ?? 0)} ns`)
      .join(', ')} per call over no routes`,
  );
  return { rate: options.rate, shift, routing, mirror, alone };
}

/**
 * The canary shift: the paced load (80 % GetOrder, 20 % CreateOrder) through the full mesh
 * client on examples/canary.json; route "split" starts at 0 % to v2 and each step reloads it
 * with the next share. Calls are assigned to the step in which they started.
 */
async function runShift(supervisor: Supervisor, addresses: Record<string, string>, rate: number): Promise<ShiftStep[]> {
  await resetBackends(supervisor);
  const split = (toV2: number): Omit<RouteInput, 'name'> => ({
    destinations: [
      { subset: 'v1', weight: 100 - toV2 },
      { subset: 'v2', weight: toV2 },
    ],
  });
  const mesh = createMesh({ config: canaryConfig(addresses, split(SHIFT_STEPS[0])), logger: quietLogger() });
  const client = mesh.client(OrderClient, 'orders');
  try {
    const load = new LoadGenerator(client, { ratePerSecond: rate, keyPrefix: `traffic-${process.pid}` });
    await load.seed(5);
    load.start();
    await new Promise((resolve) => setTimeout(resolve, SHIFT_WARMUP_MS));
    const steps: Array<{ toV2: number; from: number; to: number; balancerShare: number | null }> = [];
    for (const [i, toV2] of SHIFT_STEPS.entries()) {
      const from = Date.now();
      if (i > 0) mesh.update(canaryConfig(addresses, split(toV2)));
      await new Promise((resolve) => setTimeout(resolve, STEP_MS));
      steps.push({ toV2, from, to: Date.now(), balancerShare: splitView(mesh).actual ?? null });
    }
    await load.stop();
    return steps.map(({ toV2, from, to, balancerShare }) => {
      const during = load.records.filter((r) => r.startedAt >= from && r.startedAt < to);
      const window = during.filter((r) => r.startedAt >= to - 1000 && r.code === grpc.status.OK);
      const failed = during.filter((r) => r.code !== grpc.status.OK);
      const errorsByCode: Record<string, number> = {};
      for (const r of failed) {
        const key = `${grpc.status[r.code]}: ${r.details ?? ''}`;
        errorsByCode[key] = (errorsByCode[key] ?? 0) + 1;
      }
      const actualShare = shareToV2(window) ?? null;
      return {
        toV2,
        calls: during.length,
        failed: failed.length,
        errorsByCode,
        windowCalls: window.length,
        actualShare,
        errorPoints: actualShare === null ? null : Math.abs(actualShare - toV2),
        balancerShare,
      };
    });
  } finally {
    client.close();
    mesh.close();
  }
}

const CALLS_PER_ROUND = 100_000;

/**
 * The client layers composed as `mesh.clientStack()` builds them (no metrics), over an inner
 * layer that answers at once, without routes and with each of the two route tables: the route
 * layer's matching and the destination layer's split and hint, without grpc-js around them.
 */
async function measureRoutingAlone(addresses: Record<string, string>, rounds: number): Promise<InProcessRun<TrafficMode>[]> {
  const inner: Next = () =>
    Promise.resolve({
      status: { code: grpc.status.OK, details: '', metadata: new grpc.Metadata() },
      headers: undefined,
      message: {},
      peer: '127.0.0.1:1',
      attempts: [{ code: grpc.status.OK, peer: '127.0.0.1:1', mayHaveReachedServer: true, startedAt: 0, durationMs: 1.2 }],
    });
  const meshes = [undefined, fiveRoutes(false), fiveRoutes(true)].map((routes) =>
    createMesh({ config: trafficConfig(addresses, routes), logger: quietLogger() }),
  );
  const stacks = meshes.map((mesh) => mesh.clientStack('orders', { metrics: false }));
  const chains: Record<TrafficMode, Next> = {
    none: inner,
    'no routes': stacks[0]!.layer(inner),
    '5 routes, none matching': stacks[1]!.layer(inner),
    '5 routes, the 5th matching': stacks[2]!.layer(inner),
  };
  const method = describeMethod('/orders.v1.OrderService/GetOrder');
  const metadata = new grpc.Metadata();
  metadata.set('x-tenant', TENANT['x-tenant']);
  const noSink = { headers: () => {}, message: () => {} };
  const signal: CancelSignal = { aborted: false, reason: undefined, addEventListener: () => {}, removeEventListener: () => {} };
  const call = (): Call => ({
    method,
    message: { id: 'o' },
    metadata,
    deadline: Date.now() + 2000,
    signal,
    sink: noSink,
    hint: undefined,
    route: undefined,
    callOptions: {},
    transport: inner,
    trace: undefined,
    attempt: undefined,
  });
  try {
    return await timeChains(chains, TRAFFIC_ALONE_MODES, call, rounds, CALLS_PER_ROUND);
  } finally {
    for (const stack of stacks) stack.close();
    for (const mesh of meshes) mesh.close();
  }
}

/** Per round, what `mode` cost above the same layers without routes, in ns per call. */
export function routingAloneCost(runs: readonly InProcessRun<TrafficMode>[], mode: TrafficMode): number[] {
  const base = runs.filter((r) => r.mode === 'no routes');
  return runs.filter((r) => r.mode === mode).flatMap((r) => base.filter((b) => b.round === r.round).map((b) => r.nsPerCall - b.nsPerCall));
}
