// Every duration and count of the config and the options has a range. Each row names a field,
// the ends of its range (accepted) and one value past each end (refused with the field and
// the value in the error).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { isConfigError, parseMeshConfig } from 'grpc-meshlite';
import { resolveCircuitBreakerOptions } from '../src/interceptors/breaker/circuit-breaker.js';
import { resolveDeadlineOptions } from '../src/interceptors/deadline.js';
import { resolveDrainOptions } from '../src/server/drain.js';
import { resolveIdempotencyOptions } from '../src/server/idempotency.js';
import { resolveLoadSheddingOptions } from '../src/server/load-shedding.js';
import { resolveRetryOptions } from '../src/interceptors/retry/retry.js';
import { resolvePropagationOptions } from '../src/call/deadline.js';
import { setTimer, MAX_TIMER_DELAY_MS, type Clock } from '../src/clock.js';
import { WeightedScheduler } from '../src/balancer/scheduler.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** A mesh config whose service "orders" has `value` at `path` (dots, inside the service), on top of `extra`. */
function meshWith(path: string, value: unknown, extra: Record<string, unknown> = {}) {
  const service: Record<string, unknown> = { endpoints: [{ name: 'A', address: '127.0.0.1:1' }], ...structuredClone(extra) };
  const keys = path.split('.');
  let node: Record<string, unknown> = service;
  for (const key of keys.slice(0, -1)) node = (node[key] ??= {}) as Record<string, unknown>;
  node[keys.at(-1)!] = value;
  if (path.startsWith('endpoints.')) {
    // Beside a second endpoint: a service whose every endpoint has weight 0 is refused as a whole.
    service['endpoints'] = [
      { name: 'A', address: '127.0.0.1:1', [keys.at(-1)!]: value },
      { name: 'B', address: '127.0.0.1:2' },
    ];
  }
  return () => parseMeshConfig({ services: { orders: service } });
}

type Row = [field: string, check: (value: number) => () => unknown, accepted: number[], refused: number[]];

const rows: Row[] = [
  ['endpoints[0].weight', (v) => meshWith('endpoints.weight', v), [0, 1_000_000], [-1, 1_000_001, 1e308]],
  ['endpoints[0].priority', (v) => meshWith('endpoints.priority', v), [0, 100], [-1, 101, 1.5]],
  ['healthCheck.probeIntervalMs', (v) => meshWith('healthCheck.probeIntervalMs', v), [0, 100, HOUR], [0.5, 99, HOUR + 1, 3e9]],
  ['healthCheck.probeTimeoutMs', (v) => meshWith('healthCheck.probeTimeoutMs', v), [10, 60_000], [9, 60_001]],
  ['healthCheck.idleProbeIntervalMs', (v) => meshWith('healthCheck.idleProbeIntervalMs', v), [0, 1000, HOUR], [999, HOUR + 1]],
  ['healthCheck.idleProbesPerSecond', (v) => meshWith('healthCheck.idleProbesPerSecond', v), [0.01, 2, 10_000], [0, 0.009, 10_001]],
  ['balancer.ejection.consecutiveFailures', (v) => meshWith('balancer.ejection.consecutiveFailures', v), [1, 1000], [0, 1001]],
  [
    'balancer.ejection.baseEjectionMs',
    (v) => meshWith('balancer.ejection.baseEjectionMs', v, { balancer: { ejection: { maxEjectionMs: HOUR } } }),
    [10, HOUR],
    [9, 3e9],
  ],
  [
    'balancer.ejection.maxEjectionMs',
    (v) => meshWith('balancer.ejection.maxEjectionMs', v, { balancer: { ejection: { baseEjectionMs: 10 } } }),
    [10, HOUR],
    [9, HOUR + 1],
  ],
  ['balancer.slowStart.windowMs', (v) => meshWith('balancer.slowStart.windowMs', v), [0, HOUR], [-1, 3e10]],
  ['balancer.slowStart.minWeightPercent', (v) => meshWith('balancer.slowStart.minWeightPercent', v), [1, 100], [0.5, 101]],
  ['balancer.overprovisioningFactor', (v) => meshWith('balancer.overprovisioningFactor', v), [1, 10], [0.9, 11]],
  ['balancer.panicThresholdPercent', (v) => meshWith('balancer.panicThresholdPercent', v), [0, 100], [-1, 101]],
  ['client.deadline.timeoutMs', (v) => meshWith('client.deadline.timeoutMs', v), [1, DAY], [0, DAY + 1]],
  ['client.retry.maxAttempts', (v) => meshWith('client.retry.maxAttempts', v), [1, 10], [0, 11]],
  ['client.retry.perAttemptTimeoutMs', (v) => meshWith('client.retry.perAttemptTimeoutMs', v), [1, DAY], [0, DAY + 1]],
  [
    'client.retry.backoff.baseMs',
    (v) => meshWith('client.retry.backoff.baseMs', v, { client: { retry: { backoff: { capMs: 600_000 } } } }),
    [1, 60_000],
    [0, 60_001],
  ],
  [
    'client.retry.backoff.capMs',
    (v) => meshWith('client.retry.backoff.capMs', v, { client: { retry: { backoff: { baseMs: 1 } } } }),
    [1, 600_000],
    [0, 600_001],
  ],
  ['client.retry.backoff.multiplier', (v) => meshWith('client.retry.backoff.multiplier', v), [1, 10], [0.5, 11]],
  ['client.retry.hedging.delayMs', (v) => meshWith('client.retry.hedging.delayMs', v), [0, DAY], [-1, DAY + 1]],
  [
    'client.retry.hedging.maxAttempts',
    (v) => meshWith('client.retry.hedging.maxAttempts', v, { client: { retry: { hedging: { delayMs: 10 } } } }),
    [2, 10],
    [1, 11],
  ],
  ['client.retry.budget.ratio', (v) => meshWith('client.retry.budget.ratio', v), [0, 10], [-0.1, 10.1]],
  ['client.retry.budget.minRetriesPerSecond', (v) => meshWith('client.retry.budget.minRetriesPerSecond', v), [0, 100_000], [-1, 100_001]],
  ['client.retry.budget.ttlMs', (v) => meshWith('client.retry.budget.ttlMs', v), [100, HOUR], [99, HOUR + 1]],
  ['client.retry.hedgeLimit.percent', (v) => meshWith('client.retry.hedgeLimit.percent', v), [0, 100], [-1, 101]],
  ['client.retry.hedgeLimit.min', (v) => meshWith('client.retry.hedgeLimit.min', v), [0, 100_000], [-1, 100_001, 1.5]],
  ['client.breaker.volumeThreshold', (v) => meshWith('client.breaker.volumeThreshold', v), [0, 1_000_000], [-1, 1_000_001]],
  ['client.breaker.errorThresholdPercentage', (v) => meshWith('client.breaker.errorThresholdPercentage', v), [0, 100], [-1, 101]],
  ['client.breaker.rollingWindowMs', (v) => meshWith('client.breaker.rollingWindowMs', v), [100, HOUR], [90, HOUR + 10]],
  ['client.breaker.rollingBuckets', (v) => meshWith('client.breaker.rollingBuckets', v), [1, 1000], [0, 1001]],
  ['client.breaker.resetTimeoutMs', (v) => meshWith('client.breaker.resetTimeoutMs', v), [10, HOUR], [9, 3e9]],
  // Options given in code, with the same ranges.
  ['timeoutMs', (v) => () => resolveDeadlineOptions({ timeoutMs: v }), [1, DAY], [0, DAY + 1]],
  ['resetTimeoutMs', (v) => () => resolveCircuitBreakerOptions({ resetTimeoutMs: v }), [10, HOUR], [9, 3e9]],
  ['perAttemptTimeoutMs', (v) => () => resolveRetryOptions({ perAttemptTimeoutMs: v }), [1, DAY], [0, DAY + 1]],
  ['graceMs', (v) => () => resolveDrainOptions({ graceMs: v }), [0, HOUR], [-1, HOUR + 1]],
  ['timeoutMs', (v) => () => resolveDrainOptions({ timeoutMs: v }), [0, HOUR], [-1, HOUR + 1]],
  ['ttlMs', (v) => () => resolveIdempotencyOptions({ ttlMs: v }), [1, DAY], [0, DAY + 1]],
  ['maxEntries', (v) => () => resolveIdempotencyOptions({ maxEntries: v }), [1, 10_000_000], [0, 10_000_001]],
  ['maxKeyLength', (v) => () => resolveIdempotencyOptions({ maxKeyLength: v }), [1, 4096], [0, 4097]],
  ['maxConcurrent', (v) => () => resolveLoadSheddingOptions({ maxConcurrent: v }), [1, 1_000_000], [0, 1_000_001]],
  ['pushbackMs', (v) => () => resolveLoadSheddingOptions({ pushbackMs: v }), [0, 60_000], [-1, 60_001]],
  ['marginMs', (v) => () => resolvePropagationOptions({ marginMs: v }), [0, 60_000], [-1, 60_001]],
];

describe('config ranges', () => {
  for (const [field, check, accepted, refused] of rows) {
    it(`${field}: accepts ${accepted.join(', ')}; refuses ${refused.join(', ')}`, () => {
      for (const value of accepted) expect(check(value), `${field} = ${value}`).not.to.throw();
      for (const value of refused) {
        let error: unknown;
        try {
          check(value)();
        } catch (caught) {
          error = caught;
        }
        expect(isConfigError(error), `${field} = ${value} was accepted`).to.equal(true);
        expect((error as Error).message)
          .to.contain(field)
          .and.contain(String(value));
      }
    });
  }

  it('weights at the top of the range still split exactly', () => {
    const scheduler = new WeightedScheduler([
      { item: 'A', weight: 1_000_000 },
      { item: 'B', weight: 1_000_000 },
    ]);
    const picks = Array.from({ length: 1000 }, () => scheduler.pick());
    expect(picks.filter((p) => p === 'A')).to.have.length(500);
  });
});

describe('timers are safe by construction', () => {
  function recordingClock() {
    const delays: number[] = [];
    const clock: Clock = { now: () => 0, setTimeout: (_callback, ms) => delays.push(ms), clearTimeout: () => {} };
    return { clock, delays };
  }

  it('clamps what setTimeout cannot hold instead of letting it fire after 1 ms', () => {
    const { clock, delays } = recordingClock();
    for (const ms of [3e9, Infinity, -5, 0, 250]) setTimer(clock, () => {}, ms);
    expect(delays).to.deep.equal([MAX_TIMER_DELAY_MS, MAX_TIMER_DELAY_MS, 0, 0, 250]);
    expect(() => setTimer(clock, () => {}, Number.NaN)).to.throw(RangeError);
  });

  it('is the only way src/ sets a timer', () => {
    const root = new URL('../src/', import.meta.url);
    const files = readdirSync(root, { recursive: true, withFileTypes: true })
      .filter((entry) => entry.isFile() && entry.name.endsWith('.ts'))
      .map((entry) => join(entry.parentPath, entry.name));
    // The status page's script runs in the browser, not in Node: its setInterval is the page's.
    const exempt = ['/src/clock.ts', '/src/admin/status-page.ts'];
    const offenders = files.filter(
      (path) => !exempt.some((end) => path.endsWith(end)) && /\bset(Timeout|Interval)\(/.test(readFileSync(path, 'utf8')),
    );
    expect(offenders).to.deep.equal([]);
  });
});

describe('endpoint addresses', () => {
  const parse = (...addresses: string[]) =>
    parseMeshConfig({ services: { orders: { endpoints: addresses.map((address, i) => ({ name: `E${i}`, address })) } } }).services[
      'orders'
    ]!.endpoints.map((e) => e.address);
  const refusal = (...addresses: string[]) => {
    try {
      parse(...addresses);
    } catch (error) {
      expect(isConfigError(error)).to.equal(true);
      return (error as Error).message;
    }
    throw new Error(`${addresses.join(', ')} was accepted`);
  };

  it('accepts host names (RFC 1123), IPv4 and IPv6 literals, normalised', () => {
    expect(parse('127.0.0.1:50051', 'orders-a.internal:1', 'LocalHost:65535', '[0:0::1]:443', '[FE80::1]:5')).to.deep.equal([
      '127.0.0.1:50051',
      'orders-a.internal:1',
      'localhost:65535',
      '[::1]:443',
      '[fe80::1]:5',
    ]);
  });

  it('refuses what no connection could use, naming the field and the value', () => {
    const table: Array<[string, string]> = [
      ['999.999.999.999:1', '"999.999.999.999" is not an IPv4 address'],
      ['1.2.3:80', '"1.2.3" is not an IPv4 address'],
      ['[:::::]:42041', '":::::" is not an IPv6 address'],
      ['127.0.0.1:0', 'port must be 1-65535'],
      ['127.0.0.1:65536', 'port must be 1-65535'],
      ['-orders.internal:1', 'is not a host name'],
      ['a..b:1', 'is not a host name'],
      ['example.123:80', 'is not a host name'],
      ['localhost', 'must be "host:port" or "[ipv6]:port"'],
      ['[::1]', 'must be "host:port" or "[ipv6]:port"'],
    ];
    for (const [address, why] of table) {
      const message = refusal(address);
      expect(message, address).to.contain('services.orders.endpoints[0].address').and.contain(why).and.contain(JSON.stringify(address));
      expect(message.match(/\bgot\b/g), `${address}: one "got", the address`).to.have.length(1);
    }
  });

  it('refuses the same backend written twice, after normalising', () => {
    expect(refusal('[::1]:5', '[0:0::1]:5')).to.contain('services.orders.endpoints[1].address: duplicate address (also endpoints[0])');
    expect(refusal('Orders.internal:7', 'orders.INTERNAL:7')).to.contain('endpoints[1].address: duplicate address');
    // localhost and 127.0.0.1 are different names: telling them apart is the resolver's work.
    expect(parse('localhost:7', '127.0.0.1:7')).to.have.length(2);
  });
});

describe('a config given in code that is not plain data', () => {
  const base = () => ({ services: { orders: { endpoints: [{ name: 'A', address: '127.0.0.1:1' }] } as Record<string, unknown> } });
  /** The ConfigError parseMeshConfig throws for `config`, as field and message. */
  const refusal = (config: unknown) => {
    try {
      parseMeshConfig(config);
    } catch (error) {
      expect(isConfigError(error), String(error)).to.equal(true);
      const { field, message } = error as { field: string; message: string };
      return { field, message };
    }
    throw new Error('accepted');
  };

  it('refuses a value that refers back to itself, in an object or an array, naming where', () => {
    const object = base();
    object.services['orders']['self'] = object;
    expect(refusal(object).field).to.equal('services.orders.self');
    const array = base();
    const endpoints = array.services['orders']['endpoints'] as unknown[];
    endpoints.push(endpoints);
    expect(refusal(array)).to.deep.include({ field: 'services.orders.endpoints[1]' });
    expect(refusal(array).message).to.contain('refers back to a value that contains it');
  });

  it('refuses a getter or a Proxy that throws, with what it threw', () => {
    const getter = base();
    Object.defineProperty(getter.services['orders'], 'endpoints', {
      enumerable: true,
      get() {
        throw new Error('not loaded yet');
      },
    });
    expect(refusal(getter)).to.deep.equal({
      field: 'services.orders.endpoints',
      message: 'invalid mesh config: services.orders.endpoints could not be read: not loaded yet',
    });
    const proxy = base();
    proxy.services['orders'] = new Proxy(
      {},
      {
        ownKeys() {
          throw new Error('no keys today');
        },
      },
    );
    expect(refusal(proxy).message).to.contain('services.orders could not be read: no keys today');
  });

  it('refuses an object that inherits its keys, and a class instance, instead of losing what they inherit', () => {
    const inherited = base();
    inherited.services['orders'] = Object.assign(
      Object.create({ balancer: { policy: 'p2c_ewma' } }) as object,
      inherited.services['orders'],
    );
    expect(refusal(inherited)).to.deep.include({ field: 'services.orders' });
    expect(refusal(inherited).message).to.contain('inherits keys from another object');
    expect(refusal({ services: { orders: new Map() } }).message).to.contain('expected a plain object, got a Map');
  });

  it('refuses an array whose length runs to billions before visiting it', () => {
    const sparse = base();
    (sparse.services['orders']['endpoints'] as unknown[]).length = 4e9;
    expect(refusal(sparse)).to.deep.equal({
      field: 'services.orders.endpoints',
      message: 'invalid mesh config: services.orders.endpoints has 4000000000 items; at most 100000',
    });
  });

  it('copies a value found at several places once (a shared value is no cycle), and takes it as the schema would', () => {
    // 40 objects, each holding the next twice: 2^40 paths, one value per level.
    let shared: Record<string, unknown> = {};
    for (let level = 0; level < 40; level++) shared = { left: shared, right: shared };
    const config = base();
    config.services['orders']['meta'] = shared;
    expect(refusal(config)).to.deep.include({ field: 'services.orders.meta' });
    expect(refusal(config).message).to.contain('unknown field');
  });

  it('refuses a revoked Proxy with a ConfigError naming the field', () => {
    const { proxy, revoke } = Proxy.revocable({}, {});
    revoke();
    const config = base();
    config.services['orders']['balancer'] = proxy;
    expect(refusal(config).field).to.equal('services.orders.balancer');
  });

  it('refuses options whose getter throws with a ConfigError, not the raw error', () => {
    const options = {
      get maxAttempts(): number {
        throw new Error('not now');
      },
    };
    expect(() => resolveRetryOptions(options)).to.throw('invalid retry options: could not be read: not now');
  });
});
