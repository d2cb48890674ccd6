// The balancer's membership on its own: which endpoints an update adds, updates, replaces,
// removes, keeps serving while the new ones come up (make before break) and takes back, on
// plain fake endpoints and explicit times.
import { experimental } from '@grpc/grpc-js';
import { expect } from 'chai';
import { parseMeshConfig, type EndpointConfig } from '../../src/config/mesh-config.js';
import { Membership, type Member, type MembershipSettings } from '../../src/balancer/membership.js';
import type { EndpointStatus } from '../../src/balancer/snapshot.js';

class FakeEndpoint implements Member {
  usable = false;
  connected = false;
  leaving = false;
  destroyed = false;
  constructor(
    readonly address: string,
    public config: EndpointConfig,
  ) {}
  update(config: EndpointConfig): void {
    this.config = config;
  }
  markLeaving(): void {
    this.leaving = true;
  }
  markStaying(): void {
    this.leaving = false;
  }
  status(): EndpointStatus {
    return this.connected ? 'starting' : 'disconnected';
  }
  destroy(): void {
    this.destroyed = true;
  }
}

/** A service's settings as the mesh parses them, with `endpoints` as "name@host:port[×weight]". */
function settings(endpoints: string[], service: Record<string, unknown> = {}): MembershipSettings {
  const entries = endpoints.map((text) => {
    const [name, rest] = text.split('@') as [string, string];
    const [address, weight] = rest.split('×');
    return { name, address, weight: weight === undefined ? 100 : Number(weight) };
  });
  return parseMeshConfig({ services: { orders: { endpoints: entries, ...service } } }).services['orders']!;
}

/** What grpc-js hands the balancer for these addresses. */
function resolved(...addresses: string[]): experimental.Endpoint[] {
  return addresses.map((address) => {
    const colon = address.lastIndexOf(':');
    return { addresses: [{ host: address.slice(0, colon), port: Number(address.slice(colon + 1)) }] };
  });
}

function membership() {
  const events: string[] = [];
  const notes: Array<{ level: string; message: string; fields: Record<string, unknown> }> = [];
  const made: FakeEndpoint[] = [];
  const members = new Membership<FakeEndpoint>({
    emit: (endpoint, kind, reason) => events.push(`${endpoint.config.name} ${kind}: ${reason}`),
    note: (level, fields, message) => notes.push({ level, fields, message }),
  });
  const apply = (addresses: string[], service: MembershipSettings) =>
    members.apply(resolved(...addresses), service, (endpoint, config) => {
      const created = new FakeEndpoint(experimental.subchannelAddressToString(endpoint.addresses[0]!), config);
      made.push(created);
      return created;
    });
  const names = (map: ReadonlyMap<string, FakeEndpoint>) => [...map.values()].map((e) => e.config.name);
  return { members, events, notes, made, apply, names };
}

const A = '127.0.0.1:1001';
const B = '127.0.0.1:1002';
const C = '127.0.0.1:1003';
const TWO = settings([`ServiceA@${A}×80`, `ServiceB@${B}×20`]);

describe('balancer membership', () => {
  it('adds the endpoints an update names, with their config entries; an address only discovery knows gets weight 1, priority 0', () => {
    const { members, events, apply, names } = membership();
    const created = apply([A, B, C], TWO);
    expect(created.map((e) => e.config.name)).to.deep.equal(['ServiceA', 'ServiceB', C]);
    expect(names(members.current)).to.deep.equal(['ServiceA', 'ServiceB', C]);
    expect(events).to.deep.equal([
      'ServiceA added: weight 80, priority 0',
      'ServiceB added: weight 20, priority 0',
      `${C} added: weight 1, priority 0`,
    ]);
    expect([...members.notConnected].map((e) => e.config.name)).to.deep.equal(['ServiceA', 'ServiceB', C]);
  });

  it('updates an endpoint in place and says only what changed', () => {
    const { events, apply, made } = membership();
    apply([A, B], TWO);
    events.length = 0;
    expect(apply([A, B], settings([`ServiceA@${A}×50`, `ServiceB@${B}×20`]))).to.deep.equal([]);
    expect(made).to.have.length(2);
    expect(made[0]!.config.weight).to.equal(50);
    expect(events).to.deep.equal(['ServiceA updated: weight 80 → 50']);
  });

  it('removes at once an endpoint that is not usable, or any when the update leaves none', () => {
    const { members, events, apply, made, names } = membership();
    apply([A, B], TWO);
    made[0]!.usable = true;
    events.length = 0;
    apply([A], TWO);
    expect(names(members.current)).to.deep.equal(['ServiceA']);
    expect(members.leaving.size).to.equal(0);
    expect(made[1]!.destroyed).to.equal(true);
    expect(events).to.deep.equal(['ServiceB removed: no longer in the config or its discovery source']);

    apply([], TWO);
    expect(members.current.size + members.leaving.size).to.equal(0);
    expect(made[0]!.destroyed).to.equal(true);
  });

  it('keeps a usable endpoint an update removed as leaving, and lets it go as a plain removal when the others take everything', () => {
    const { members, events, notes, apply, made, names } = membership();
    apply([A, B], TWO);
    made[1]!.usable = true;
    apply([A], TWO);
    expect(names(members.leaving)).to.deep.equal(['ServiceB']);
    expect(made[1]!.leaving).to.equal(true);
    expect(made[1]!.destroyed).to.equal(false);
    expect(members.notConnected.has(made[1]!)).to.equal(false);

    events.length = 0;
    expect(members.settle(0, 1000)).to.equal(true);
    expect(members.leaving.size).to.equal(0);
    expect(made[1]!.destroyed).to.equal(true);
    expect(events).to.deep.equal(['ServiceB removed: no longer in the config or its discovery source']);
    expect(notes).to.deep.equal([]);
  });

  it('bridges while the new endpoints come up, for at most the grace, then says which are still not usable', () => {
    const { members, events, notes, apply, made } = membership();
    apply([A, B], TWO);
    made[0]!.usable = made[1]!.usable = true;
    apply([C], settings([`ServiceC@${C}`]));
    expect(members.settle(100, 1000)).to.equal(false);
    expect(members.graceEnd).to.equal(11_000);
    expect(notes.map((n) => [n.level, n.fields['endpoints'], n.message])).to.deep.equal([
      ['info', ['ServiceA', 'ServiceB'], 'removed endpoints keep serving what the endpoints that replace them cannot take yet'],
    ]);

    // One that stops being usable goes at once; the other serves on until the grace is over.
    made[0]!.usable = false;
    events.length = 0;
    expect(members.settle(100, 5000)).to.equal(true);
    expect(events).to.deep.equal([
      'ServiceA removed: no longer in the config or its discovery source; it had kept serving until it stopped being usable',
    ]);
    expect(members.settle(100, 10_999)).to.equal(false);
    expect(members.settle(100, 11_000)).to.equal(true);
    expect(events.at(-1)).to.equal(
      'ServiceB removed: no longer in the config or its discovery source; it had kept serving until its grace of 10000 ms was over',
    );
    expect(members.graceEnd).to.equal(undefined);
    expect(notes.at(-1)).to.deep.include({
      level: 'warn',
      message: 'removed endpoints stopped serving at the end of their grace: endpoints that replace them are not usable yet',
    });
    expect(notes.at(-1)!.fields['notUsable']).to.deep.equal([`ServiceC (${C}): disconnected`]);
  });

  it('removes at once, without a bridge, when the grace is 0', () => {
    const { members, apply, made } = membership();
    const noGrace = settings([`ServiceA@${A}`, `ServiceB@${B}`], { balancer: { removalGraceMs: 0 } });
    apply([A, B], noGrace);
    made[1]!.usable = true;
    apply([A], noGrace);
    expect(members.leaving.size).to.equal(0);
    expect(made[1]!.destroyed).to.equal(true);
  });

  it('takes back a leaving endpoint an update names again: the same endpoint stays', () => {
    const { members, events, apply, made, names } = membership();
    apply([A, B], TWO);
    made[1]!.usable = true;
    apply([A], TWO);
    events.length = 0;
    expect(apply([A, B], TWO)).to.deep.equal([]);
    expect(names(members.current)).to.deep.equal(['ServiceA', 'ServiceB']);
    expect(members.current.get(B)).to.equal(made[1]);
    expect(made[1]!.leaving).to.equal(false);
    expect(members.leaving.size).to.equal(0);
    expect(events).to.deep.equal(['ServiceB updated: named again while it was leaving: it stays']);
    expect(members.notConnected.has(made[1]!)).to.equal(true);
  });

  it('replaces every endpoint when the settings an endpoint is made with change, and never takes a replaced one back', () => {
    const { members, events, apply, made, names } = membership();
    apply([A, B], TWO);
    made[0]!.usable = made[1]!.usable = true;
    events.length = 0;
    const checked = settings([`ServiceA@${A}×80`, `ServiceB@${B}×20`], { healthCheck: { serviceName: 'orders.v1' } });
    const created = apply([A, B], checked);
    expect(created.map((e) => e.config.name)).to.deep.equal(['ServiceA', 'ServiceB']);
    expect(created).to.not.include.members(made.slice(0, 2));
    expect(names(members.leaving)).to.deep.equal(['ServiceA', 'ServiceB']);

    members.settle(0, 1000);
    expect(events.filter((e) => e.includes('removed'))).to.deep.equal([
      "ServiceA removed: replaced by one with the service's new health checking, ejection or EWMA settings",
      "ServiceB removed: replaced by one with the service's new health checking, ejection or EWMA settings",
    ]);

    // Same settings again: the new endpoints stay, nothing is made.
    expect(apply([A, B], checked)).to.deep.equal([]);
  });

  it('makes a new endpoint rather than take back one that left for settings it no longer has', () => {
    const { members, apply, made } = membership();
    apply([A, B], TWO);
    made[0]!.usable = made[1]!.usable = true;
    const checked = settings([`ServiceA@${A}×80`, `ServiceB@${B}×20`], { healthCheck: { serviceName: 'orders.v1' } });
    apply([A, B], checked); // the old A and B leave, replaced by new ones (not usable yet)
    apply([A], checked); // the new B goes at once; the old one still bridges
    expect(members.leaving.get(B)).to.equal(made[1]);
    const back = apply([A, B], checked);
    expect(back.map((e) => e.config.name)).to.deep.equal(['ServiceB']);
    expect(members.current.get(B)).to.equal(back[0]);
    expect(made[1]!.leaving).to.equal(true);
  });

  it('never takes back an endpoint that an update dropped while it changed the settings endpoints are made with', () => {
    const { members, apply, made } = membership();
    apply([A, B], TWO);
    made[0]!.usable = made[1]!.usable = true;
    const checked = settings([`ServiceA@${A}×80`, `ServiceB@${B}×20`], { healthCheck: { serviceName: 'orders.v1' } });
    apply([A], checked); // A is replaced; B is dropped, and bridges with the old settings
    expect(members.leaving.get(B)).to.equal(made[1]);
    const back = apply([A, B], checked);
    expect(back.map((e) => e.config.name)).to.deep.equal(['ServiceB']);
    expect(members.current.get(B)).to.not.equal(made[1]);
  });

  it('ends the bridge when its endpoints are named again: no grace left to wait for', () => {
    const { members, apply, made } = membership();
    apply([A, B], TWO);
    made[0]!.usable = made[1]!.usable = true;
    apply([A, C], settings([`ServiceA@${A}×80`, `ServiceC@${C}×20`]));
    members.settle(30, 0); // C cannot take its share yet: B bridges from 0
    expect(members.graceEnd).to.equal(10_000);
    apply([A, B], TWO); // B named again while it bridges: it stays
    expect(members.leaving.size).to.equal(0);
    expect(members.graceEnd).to.equal(undefined);
    members.settle(0, 5);
    expect(members.graceEnd).to.equal(undefined);
  });

  it('keeps the not-connected set to the current endpoints', () => {
    const { members, apply, made } = membership();
    apply([A, B], TWO);
    made[0]!.connected = true;
    members.noteConnectivity(made[0]!);
    expect([...members.notConnected]).to.deep.equal([made[1]]);
    made[0]!.connected = false;
    members.noteConnectivity(made[0]!);
    expect(members.notConnected.has(made[0]!)).to.equal(true);
  });

  it('destroys every endpoint, current and leaving, when the balancer goes', () => {
    const { members, events, apply, made } = membership();
    apply([A, B], TWO);
    made[1]!.usable = true;
    apply([A], TWO);
    events.length = 0;
    members.destroy();
    expect(made.every((e) => e.destroyed)).to.equal(true);
    expect(members.current.size + members.leaving.size + members.notConnected.size).to.equal(0);
    expect(events).to.deep.equal([]);
  });
});
