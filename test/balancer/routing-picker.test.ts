// The balancer's side of routing as pure parts: the routing picker over stand-in pickers (where
// each call goes, what a subset without a usable endpoint does), the pick counters, and the
// zone split inside a tier (Envoy's overprovisioning rule, exact per round).
import { experimental, Metadata, status as Status } from '@grpc/grpc-js';
import { expect } from 'chai';
import { parseMeshConfig, type MeshConfigInput } from 'grpc-meshlite';
import {
  RoutingHint,
  ROUTING_HINT_HEADER,
  withRoutingHint,
  withRoutingHintHeader,
  type ReceivedHint,
} from '../../src/call/routing-hint.js';
import type { EndpointController } from '../../src/balancer/endpoint-controller.js';
import { METHOD_PICK_INFO, type WeightedPriorityPicker } from '../../src/balancer/picker.js';
import { RECENT_PICKS, RouteStats } from '../../src/balancer/route-stats.js';
import { RouteTable } from '../../src/balancer/routes.js';
import { RoutingPicker } from '../../src/balancer/routing-picker.js';
import { WeightedScheduler } from '../../src/balancer/scheduler.js';
import type { SubsetTarget } from '../../src/balancer/subsets.js';
import { planTiers } from '../../src/balancer/tiers.js';
import { splitByZone } from '../../src/balancer/zones.js';

const GET = '/orders.v1.OrderService/GetOrder';

function settings(extra: Partial<MeshConfigInput['services'][string]>) {
  return parseMeshConfig({
    services: {
      orders: {
        endpoints: [
          { name: 'A', address: '127.0.0.1:1', labels: { version: 'v1' } },
          { name: 'B', address: '127.0.0.1:2', labels: { version: 'v2' } },
        ],
        subsets: { v1: { version: 'v1' }, v2: { version: 'v2' } },
        ...extra,
      },
    },
  }).services['orders']!;
}

/** A stand-in for a subset's (or the service's) picker: it answers with its name and remembers the hint it was handed. */
function stand(name: string) {
  const seen: Array<ReceivedHint | undefined> = [];
  const picker = {
    seen,
    pickWith: (_args: experimental.PickArgs, hint: ReceivedHint | undefined) => {
      seen.push(hint);
      return {
        pickResultType: experimental.PickResultType.COMPLETE,
        subchannel: name,
        status: null,
        onCallStarted: null,
        onCallEnded: null,
      };
    },
  };
  return picker as typeof picker & WeightedPriorityPicker;
}

const serving = (name: string): SubsetTarget => ({ picker: stand(name), waiting: false, why: '' });

function args(headers: Record<string, string> = {}, metadata = new Metadata()): experimental.PickArgs {
  for (const [key, value] of Object.entries(headers)) metadata.set(key, value);
  return { metadata, extraPickInfo: { [METHOD_PICK_INFO]: GET } };
}

function routed(extra: Parameters<typeof settings>[0], subsets: Record<string, SubsetTarget>) {
  const table = RouteTable.of(settings(extra))!;
  const stats = new RouteStats(table);
  const whole = stand('whole');
  return { picker: new RoutingPicker(whole, new Map(Object.entries(subsets)), table, stats), stats, whole };
}

const where = (result: experimental.PickResult) => result.subchannel as unknown as string;

describe('routing picker', () => {
  it('matches routes itself for a plain client: the header route to v2, the rest split 90/10 exactly, no route to the whole service', () => {
    const { picker, stats } = routed(
      {
        routes: [
          { name: 'header', match: { headers: [{ name: 'x-canary', exact: '1' }] }, destinations: [{ subset: 'v2' }] },
          {
            name: 'split',
            match: { method: 'orders.v1.OrderService/GetOrder' },
            destinations: [
              { subset: 'v1', weight: 90 },
              { subset: 'v2', weight: 10 },
            ],
          },
        ],
      },
      { v1: serving('v1'), v2: serving('v2') },
    );
    for (let i = 0; i < 20; i++) expect(where(picker.pick(args({ 'x-canary': '1' })))).to.equal('v2');
    const counts: Record<string, number> = {};
    for (let i = 0; i < 100; i++) {
      const to = where(picker.pick(args()));
      counts[to] = (counts[to] ?? 0) + 1;
    }
    expect(counts).to.deep.equal({ v1: 90, v2: 10 });
    const other = { metadata: new Metadata(), extraPickInfo: { [METHOD_PICK_INFO]: '/orders.v1.OrderService/ListOrders' } };
    expect(where(picker.pick(other))).to.equal('whole');
    expect(stats.snapshot()).to.deep.equal([
      {
        name: 'header',
        fallback: 'any',
        picks: 20,
        destinations: [{ subset: 'v2', weight: 1, configuredShare: 100, actualShare: 100, fallbacks: 0 }],
      },
      {
        name: 'split',
        fallback: 'any',
        picks: 100,
        destinations: [
          { subset: 'v1', weight: 90, configuredShare: 90, actualShare: 90, fallbacks: 0 },
          { subset: 'v2', weight: 10, configuredShare: 10, actualShare: 10, fallbacks: 0 },
        ],
      },
    ]);
  });

  it("takes the route layer's destination from the hint, takes the hint once and hands it to the subset's picker", () => {
    const v1 = serving('v1');
    const { picker } = routed({ routes: [{ name: 'all-v1', destinations: [{ subset: 'v1' }] }] }, { v1, v2: serving('v2') });
    const hint = RoutingHint.create(['127.0.0.1:1']);
    hint.routeTo({ route: 'all-v1', subset: 'v2', fallback: 'any' });
    const metadata = withRoutingHintHeader(new Metadata(), hint);
    const pick = args({}, metadata);
    expect(where(picker.pick(pick))).to.equal('v2');
    expect(pick.metadata.get(ROUTING_HINT_HEADER)).to.deep.equal([]);
    hint.routeTo({ route: 'all-v1', subset: undefined, fallback: 'any' });
    expect(where(picker.pick(args({}, withRoutingHint(new Metadata(), hint))))).to.equal('whole');
    hint.release();
    // A hint without a destination (a retry's avoid-list only): the picker matches the routes itself.
    const plain = RoutingHint.create(['127.0.0.1:1']);
    expect(where(picker.pick(args({}, withRoutingHint(new Metadata(), plain))))).to.equal('v1');
    const handed = (v1.picker as ReturnType<typeof stand>).seen.at(-1)!;
    expect(handed.avoids('127.0.0.1:1')).to.equal(true);
    plain.release();
  });

  it('falls back to the whole service ("any"), fails naming the route and the subset ("none"), and waits while an endpoint is on its way', () => {
    const down: SubsetTarget = { picker: undefined, waiting: false, why: 'B (127.0.0.1:2) unhealthy: health Watch: NOT_SERVING' };
    const routes = (fallback: 'any' | 'none') => ({ routes: [{ name: 'canary', destinations: [{ subset: 'v2' }], fallback }] });
    const any = routed(routes('any'), { v1: serving('v1'), v2: down });
    expect(where(any.picker.pick(args()))).to.equal('whole');
    expect(any.stats.snapshot()[0]!.destinations[0]).to.include({ fallbacks: 1 });

    const none = routed(routes('none'), { v1: serving('v1'), v2: down });
    const failed = none.picker.pick(args());
    expect(failed.pickResultType).to.equal(experimental.PickResultType.TRANSIENT_FAILURE);
    expect(failed.status).to.include({
      code: Status.UNAVAILABLE,
      details: 'route "canary": subset "v2" has no usable endpoint (B (127.0.0.1:2) unhealthy: health Watch: NOT_SERVING)',
    });

    const coming = routed(routes('none'), { v1: serving('v1'), v2: { picker: undefined, waiting: true, why: 'connecting' } });
    expect(coming.picker.pick(args()).pickResultType).to.equal(experimental.PickResultType.QUEUE);
  });
});

describe('route pick counters', () => {
  it('computes actual shares over the last picks only, in bounded memory', () => {
    const table = RouteTable.of(
      settings({
        routes: [
          {
            name: 'split',
            destinations: [
              { subset: 'v1', weight: 3 },
              { subset: 'v2', weight: 1 },
            ],
          },
        ],
      }),
    )!;
    const stats = new RouteStats(table);
    for (let i = 0; i < RECENT_PICKS; i++) stats.count('split', 'v1', false);
    for (let i = 0; i < RECENT_PICKS / 4; i++) stats.count('split', 'v2', false);
    stats.count('gone', 'v1', false); // a route of an older config version: not counted
    const [split] = stats.snapshot();
    expect(split!.picks).to.equal(RECENT_PICKS * 1.25);
    expect(split!.destinations.map((d) => [d.configuredShare, d.actualShare])).to.deep.equal([
      [75, 75],
      [25, 25],
    ]);
  });
});

/** An endpoint as planTiers and the zone split read it. */
function endpoint(name: string, zone: string | undefined, usable = true, weight = 1, priority = 0) {
  return {
    address: name,
    usable,
    connected: usable,
    config: { name, address: name, weight, priority, ...(zone && { labels: { zone } }) },
    effectiveWeight: () => weight,
  } as unknown as EndpointController;
}

describe('zone-aware routing inside a tier', () => {
  const balancer = settings({}).balancer; // overprovisioningFactor 1.4
  const choose = (entries: Array<{ item: EndpointController; weight: number }>) => new WeightedScheduler(entries);

  function picks(endpoints: EndpointController[], zone: string | undefined, calls = 100) {
    const plan = planTiers(endpoints, balancer, 0, choose, [], zone);
    const counts: Record<string, number> = {};
    for (let i = 0; i < calls; i++) {
      const name = plan.tiers[0]!.tier.scheduler.pick()!.config.name;
      counts[name] = (counts[name] ?? 0) + 1;
    }
    return { counts, plan };
  }

  it('keeps every call in the zone while it has its capacity, and overflows by the share it lacks: min(100, usable share × 1.4)', () => {
    const [a1, a2, b1] = [endpoint('a1', 'a'), endpoint('a2', 'a'), endpoint('b1', 'b')];
    const all = picks([a1, a2, b1], 'a');
    expect(all.counts).to.deep.equal({ a1: 50, a2: 50 });
    expect(all.plan.loads).to.deep.equal([{ priority: 0, load: 100, panic: false, localZone: 100 }]);
    // Out of the zone but reachable for a retry that must avoid both local endpoints.
    expect(all.plan.standby.map((tier) => tier.scheduler.pick()!.config.name)).to.deep.equal(['b1']);

    const half = picks([endpoint('a1', 'a', false), a2, b1], 'a');
    expect(half.counts).to.deep.equal({ a2: 70, b1: 30 });
    expect(half.plan.loads[0]).to.include({ localZone: 70 });

    expect(picks([endpoint('a1', 'a', false), endpoint('a2', 'a', false), b1], 'a').counts).to.deep.equal({ b1: 100 });
  });

  it('weighs by weight: a zone that lost a fifth of its weight keeps every call (80 % × 1.4 ≥ 100 %)', () => {
    const split = splitByZone(
      [endpoint('a1', 'a', true, 4), endpoint('a2', 'a', false, 1), endpoint('b1', 'b')],
      [
        { item: endpoint('a1', 'a', true, 4), weight: 4 },
        { item: endpoint('b1', 'b'), weight: 1 },
      ],
      'a',
      1.4,
    );
    expect(split?.localLoad).to.equal(100);
  });

  it('does nothing without a zone, without endpoints in it, or with nothing outside it', () => {
    const [a1, b1] = [endpoint('a1', 'a'), endpoint('b1', 'b')];
    expect(picks([a1, b1], undefined, 10).counts).to.deep.equal({ a1: 5, b1: 5 });
    expect(picks([a1, b1], 'c', 10).plan.loads).to.deep.equal([{ priority: 0, load: 100, panic: false }]);
    expect(picks([a1, endpoint('a2', 'a')], 'a', 10).plan.loads).to.deep.equal([{ priority: 0, load: 100, panic: false }]);
  });
});
