// A service's routes as the config writes them: what is refused (naming the route and the
// field), which route a call takes (first match wins), and how calls split between subsets.
import { Metadata } from '@grpc/grpc-js';
import { expect } from 'chai';
import { isConfigError, parseMeshConfig, type MeshConfigInput } from 'grpc-meshlite';
import { RouteTable } from '../../src/balancer/routes.js';

type Service = MeshConfigInput['services'][string];

const endpoints = [
  { name: 'A', address: '127.0.0.1:1', labels: { version: 'v1' } },
  { name: 'B', address: '127.0.0.1:2', labels: { version: 'v2' } },
];
const subsets = { v1: { version: 'v1' }, v2: { version: 'v2' } };

function service(extra: Partial<Service>) {
  return parseMeshConfig({ services: { orders: { endpoints, subsets, ...extra } } }).services['orders']!;
}

function refusal(extra: Partial<Service>): string {
  try {
    service(extra);
  } catch (error) {
    expect(isConfigError(error), String(error)).to.equal(true);
    return (error as Error).message;
  }
  throw new Error('accepted');
}

function md(headers: Record<string, string | string[]>): Metadata {
  const metadata = new Metadata();
  for (const [name, value] of Object.entries(headers)) for (const each of [value].flat()) metadata.add(name, each);
  return metadata;
}

describe('routes: what the config refuses', () => {
  it('names the route and the field for each mistake', () => {
    expect(refusal({ routes: [{ destinations: [{ subset: 'v3' }] }] })).to.contain(
      'routes[0].destinations[0].subset: names no subset of the service (subsets: v1, v2), got "v3"',
    );
    expect(refusal({ routes: [{ destinations: [{ subset: 'v1', weight: 0 }] }] })).to.contain(
      'routes[0].destinations: every destination has weight 0',
    );
    expect(refusal({ routes: [{ fault: { abort: { code: 'UNAVAILABLE', percent: 120 } } }] })).to.match(
      /routes\[0\]\.fault\.abort\.percent: .*100.*got 120/,
    );
    expect(refusal({ routes: [{ match: { headers: [{ name: 'x-v', regex: '(a' }] } }] })).to.contain('routes[0].match.headers[0]');
    expect(refusal({ routes: [{ match: { headers: [{ name: 'x-trace-bin', exact: 'a' }] } }] })).to.contain('is a binary header ("-bin")');
    expect(refusal({ routes: [{ destinations: [{ subset: 'v1' }], mirror: { subset: 'v1' } }] })).to.contain(
      'routes[0].mirror.subset: is also a destination of the route',
    );
    expect(refusal({ routes: [{ name: 'canary' }, { name: 'canary' }] })).to.contain('routes[1].name: names a route twice');
    expect(refusal({ subsets: { all: {} } })).to.contain('subsets.all: selects every endpoint');
  });

  it('refuses a pattern longer than it bounds, and accepts RE2 syntax', () => {
    expect(refusal({ routes: [{ match: { headers: [{ name: 'x-v', regex: 'a'.repeat(300) }] } }] })).to.contain(
      'routes[0].match.headers[0]',
    );
    expect(() => service({ routes: [{ match: { headers: [{ name: 'x-v', regex: '(a+)+b' }] } }] })).to.not.throw();
  });
});

describe('routes: which one a call takes', () => {
  const table = RouteTable.of(
    service({
      routes: [
        { name: 'header', match: { headers: [{ name: 'X-Canary', exact: '1' }] }, destinations: [{ subset: 'v2' }] },
        { name: 'method', match: { method: 'orders.v1.OrderService/CreateOrder' }, destinations: [{ subset: 'v1' }] },
        { name: 'prefix', match: { headers: [{ name: 'x-user', prefix: 'test-' }] } },
        { name: 'regex', match: { headers: [{ name: 'x-tenant', regex: 'acme|globex' }] } },
        { name: 'present', match: { method: 'orders.v1.OrderService', headers: [{ name: 'x-debug', present: true }] } },
        { name: 'absent', match: { method: 'orders.v1.OrderService/ListOrders', headers: [{ name: 'x-debug', absent: true }] } },
      ],
    }),
  )!;
  const taken = (path: string, headers: Record<string, string | string[]> = {}) => table.match(path, md(headers))?.name;

  it('takes the first route whose method and headers both match, as a table', () => {
    const rows: Array<[string, Record<string, string | string[]>, string | undefined]> = [
      ['/orders.v1.OrderService/CreateOrder', { 'x-canary': '1' }, 'header'], // first match wins over a later method match
      ['/orders.v1.OrderService/CreateOrder', {}, 'method'],
      ['/orders.v1.OrderService/GetOrder', { 'x-canary': '2' }, undefined],
      ['/orders.v1.OrderService/GetOrder', { 'x-user': 'test-7' }, 'prefix'],
      ['/orders.v1.OrderService/GetOrder', { 'x-user': 'prod-test-7' }, undefined],
      ['/orders.v1.OrderService/GetOrder', { 'x-tenant': 'acme' }, 'regex'],
      ['/orders.v1.OrderService/GetOrder', { 'x-tenant': 'acme-corp' }, undefined], // the whole value must match
      ['/orders.v1.OrderService/GetOrder', { 'x-debug': '' }, 'present'],
      ['/other.Service/GetOrder', { 'x-debug': 'yes' }, undefined], // a service match is the whole service name
      ['/orders.v1.OrderService/ListOrders', {}, 'absent'],
      ['/orders.v1.OrderService/ListOrders', { 'x-canary': ['0', '1'] }, 'absent'], // several values read "0,1"
    ];
    expect(rows.map(([path, headers]) => taken(path, headers))).to.deep.equal(rows.map(([, , route]) => route));
  });

  it('is compiled once per config version: a reload gives a new table', () => {
    const config = service({ routes: [{ destinations: [{ subset: 'v1' }] }] });
    expect(RouteTable.of(config)).to.equal(RouteTable.of(config));
    expect(RouteTable.of(service({ routes: [{ destinations: [{ subset: 'v1' }] }] }))).to.not.equal(RouteTable.of(config));
    expect(RouteTable.of(service({}))).to.equal(undefined);
  });
});

describe('routes: the split between destinations', () => {
  it('is exact over every round of picks, spread out rather than bunched', () => {
    const route = RouteTable.of(
      service({
        routes: [
          {
            destinations: [
              { subset: 'v1', weight: 95 },
              { subset: 'v2', weight: 5 },
            ],
          },
        ],
      }),
    )!.routes[0]!;
    for (let round = 0; round < 5; round++) {
      const picks = Array.from({ length: 100 }, () => route.chooseSubset());
      expect(picks.filter((subset) => subset === 'v2')).to.have.length(5);
    }
    // No bunching: the 5 % never come twice within 10 picks.
    const run = Array.from({ length: 1000 }, () => route.chooseSubset());
    const v2 = run.flatMap((subset, i) => (subset === 'v2' ? [i] : []));
    expect(Math.min(...v2.slice(1).map((at, i) => at - v2[i]!))).to.be.at.least(10);
  });

  it('sends a route without destinations to the whole service', () => {
    const route = RouteTable.of(service({ routes: [{ timeoutMs: 100 }] }))!.routes[0]!;
    expect(route.chooseSubset()).to.equal(undefined);
  });
});
