// Host names that fan out: an endpoint whose address is a host name ("orders-a.internal:50051",
// a Kubernetes headless service) becomes one endpoint per A/AAAA record, each with the
// entry's weight and priority. Names are resolved when first seen, again every `refreshMs`,
// and soon after one of their addresses loses its connection (a pod replaced by another).
// A lookup that fails keeps the addresses last found; a name never resolved is left out,
// and the reason is what a service with nothing else says. With `servers`, A and AAAA are
// asked apart and a name resolves when either answers, as grpc-js's own resolver and the OS
// resolver do (split-horizon and some corporate resolvers refuse AAAA): a family whose query
// fails keeps the addresses it last gave, and is said once until it answers again.
import { lookup, Resolver } from 'node:dns/promises';
import { isIP } from 'node:net';
import { setTimer, unrefTimer, type Clock } from '../clock.js';
import { parseEndpointAddress } from '../config/address.js';
import type { EndpointConfig } from '../config/mesh-config.js';
import { RefusalMemo } from '../observability/refusal-memo.js';

export interface DnsSettings {
  /** How often every name is resolved again, in ms. */
  readonly refreshMs: number;
  /** DNS servers to ask ("127.0.0.1:5353"); default the system's resolver (with /etc/hosts). */
  readonly servers?: readonly string[];
}

/** Shortest time between two lookups of one name prompted by lost connections. */
const MIN_RELOOKUP_MS = 1000;

/** The record types a name resolves through, asked apart when the config names DNS servers. */
const FAMILIES = ['A', 'AAAA'] as const;
type Family = (typeof FAMILIES)[number];

/** What one family's query gave: its addresses (none when the name has no such record), or why it failed. */
type Answer = { readonly addresses: readonly string[] } | { readonly error: string };

/** What a lookup found: the name's addresses, and the families whose query failed meanwhile. */
interface Found {
  readonly addresses: string[];
  readonly failed: ReadonlyArray<{ readonly family: Family; readonly error: string; readonly kept: number }>;
}

interface Lookup {
  addresses: readonly string[] | undefined;
  error: string | undefined;
  at: number;
  pending: boolean;
  /** A lookup due because a connection was lost. */
  relookup: unknown;
  /** Per family, the addresses its query last gave: kept while that query fails. */
  readonly answered: Map<Family, readonly string[]>;
}

/**
 * What a name's lookups say, when that changes: failing (`unavailable`) or resolving again
 * (`synced`); one family's query failing while the other answers (`skipped`: the rest serves).
 */
export type DnsReport = (host: string, kind: 'unavailable' | 'synced' | 'skipped', reason: string, addresses: number) => void;

export class DnsExpander {
  readonly #settings: DnsSettings;
  readonly #clock: Clock;
  readonly #changed: () => void;
  readonly #report: DnsReport;
  readonly #hosts = new Map<string, Lookup>();
  /** Names whose failing lookups were said: once per outage, whatever errors follow. */
  readonly #outages = new RefusalMemo();
  /** "host AAAA": one family's failing query, said once while the name resolves through the other. */
  readonly #familyFailures = new RefusalMemo();
  readonly #resolver: Resolver | undefined;
  #timer: unknown;
  #closed = false;

  constructor(settings: DnsSettings, clock: Clock, changed: () => void, report: DnsReport = () => {}) {
    this.#settings = settings;
    this.#clock = clock;
    this.#changed = changed;
    this.#report = report;
    if (settings.servers?.length) {
      // A lookup that goes unanswered ends within about 4 s (c-ares would retry for a minute).
      this.#resolver = new Resolver({ timeout: 1000, tries: 2 });
      this.#resolver.setServers([...settings.servers]);
    }
  }

  /** The endpoints with every host name replaced by its addresses (as far as resolved). */
  expand(endpoints: readonly EndpointConfig[]): EndpointConfig[] {
    const out: EndpointConfig[] = [];
    const seen = new Set<string>();
    for (const endpoint of endpoints) {
      const parsed = parseEndpointAddress(endpoint.address);
      if (typeof parsed === 'string' || isIP(parsed.host) !== 0) {
        out.push(endpoint);
        continue;
      }
      seen.add(parsed.host);
      const addresses = this.#known(parsed.host).addresses ?? [];
      for (const ip of addresses) {
        const address = isIP(ip) === 6 ? `[${ip}]:${parsed.port}` : `${ip}:${parsed.port}`;
        // With TLS, the certificate is checked against the name, not the address it resolved to.
        const serverName = endpoint.serverName ?? parsed.host;
        out.push({ ...endpoint, name: addresses.length === 1 ? endpoint.name : `${endpoint.name}@${ip}`, address, serverName });
      }
    }
    // Names no entry uses any more (a departed pod's, from etcd) are not looked up again.
    for (const [host, known] of this.#hosts) {
      if (seen.has(host)) continue;
      this.#clock.clearTimeout(known.relookup);
      this.#hosts.delete(host);
      this.#outages.recovered(host); // a name used again later is news again
      for (const family of FAMILIES) this.#familyFailures.recovered(`${host} ${family}`);
    }
    return out;
  }

  /** Whether a name among `endpoints` has had no answer yet. */
  pending(endpoints: readonly EndpointConfig[]): boolean {
    return endpoints.some((endpoint) => {
      const parsed = parseEndpointAddress(endpoint.address);
      if (typeof parsed === 'string' || isIP(parsed.host) !== 0) return false;
      const known = this.#hosts.get(parsed.host);
      return known === undefined || (known.addresses === undefined && known.error === undefined);
    });
  }

  /** Why the names of `endpoints` gave no address, or undefined when none failed. */
  whyEmpty(endpoints: readonly EndpointConfig[]): string | undefined {
    const reasons = endpoints.flatMap((endpoint) => {
      const parsed = parseEndpointAddress(endpoint.address);
      if (typeof parsed === 'string' || isIP(parsed.host) !== 0) return [];
      const known = this.#hosts.get(parsed.host);
      if (!known || known.pending) return [`${parsed.host}: resolving`];
      return known.error ? [`${parsed.host}: ${known.error}`] : known.addresses?.length === 0 ? [`${parsed.host}: no A/AAAA records`] : [];
    });
    return reasons.length > 0 ? `DNS ${reasons.join('; ')}` : undefined;
  }

  /** An endpoint at `address` lost its connection: look its name up again (at most once a second). */
  connectionLost(address: string): void {
    for (const [host, known] of this.#hosts) {
      if (known.relookup !== undefined || !known.addresses?.some((ip) => address.startsWith(isIP(ip) === 6 ? `[${ip}]:` : `${ip}:`)))
        continue;
      const waitMs = Math.max(0, known.at + MIN_RELOOKUP_MS - this.#clock.now());
      known.relookup = unrefTimer(
        setTimer(
          this.#clock,
          () => {
            known.relookup = undefined;
            void this.#resolve(host);
          },
          waitMs,
        ),
      );
    }
  }

  close(): void {
    this.#closed = true;
    this.#clock.clearTimeout(this.#timer);
    for (const known of this.#hosts.values()) this.#clock.clearTimeout(known.relookup);
    this.#resolver?.cancel();
  }

  #known(host: string): Lookup {
    let known = this.#hosts.get(host);
    if (!known) {
      known = { addresses: undefined, error: undefined, at: 0, pending: false, relookup: undefined, answered: new Map() };
      this.#hosts.set(host, known);
      void this.#resolve(host);
      this.#schedule();
    }
    return known;
  }

  #schedule(): void {
    if (this.#timer !== undefined || this.#closed) return;
    this.#timer = unrefTimer(
      setTimer(
        this.#clock,
        () => {
          this.#timer = undefined;
          for (const host of this.#hosts.keys()) void this.#resolve(host);
          this.#schedule();
        },
        this.#settings.refreshMs,
      ),
    );
  }

  async #resolve(host: string): Promise<void> {
    const known = this.#hosts.get(host);
    if (!known || known.pending || this.#closed) return;
    known.pending = true;
    let found: Found | undefined;
    let error: string | undefined;
    try {
      found = await this.#lookup(host, known);
    } catch (failure) {
      error = (failure as NodeJS.ErrnoException).code ?? (failure as Error).message;
    }
    known.pending = false;
    known.at = this.#clock.now();
    if (this.#closed || this.#hosts.get(host) !== known) return;
    const before = known.addresses;
    known.error = error;
    if (found !== undefined) known.addresses = found.addresses;
    // A failing name is said once when it starts failing (what serves meanwhile), whatever
    // errors follow, and again when it resolves.
    if (error !== undefined) {
      if (this.#outages.news(host)) {
        const kept = known.addresses;
        const reason = kept
          ? `lookup failed (${error}); its last ${kept.length} address(es) keep serving`
          : `lookup failed (${error}); the name is left out until it resolves`;
        this.#report(host, 'unavailable', reason, kept?.length ?? 0);
      }
    } else if (this.#outages.recovered(host)) {
      this.#report(host, 'synced', `resolves again, to ${known.addresses!.length} address(es)`, known.addresses!.length);
    }
    if (found !== undefined) this.#reportFamilies(host, found);
    if (before === undefined || JSON.stringify(before) !== JSON.stringify(known.addresses)) this.#changed();
  }

  /** A family whose query fails while the name resolves through the other: said once, and when it answers again. */
  #reportFamilies(host: string, found: Found): void {
    const count = found.addresses.length;
    for (const family of FAMILIES) {
      const failed = found.failed.find((entry) => entry.family === family);
      const subject = `${host} ${family}`;
      if (failed === undefined) {
        if (this.#familyFailures.recovered(subject))
          this.#report(host, 'synced', `${family} answers again; the name resolves to ${count} address(es)`, count);
      } else if (this.#familyFailures.news(subject)) {
        const beside = count > failed.kept ? `, beside the ${other(family)} records` : '';
        const reason =
          failed.kept > 0
            ? `${family} query failed (${failed.error}); its last ${failed.kept} ${family} address(es) keep serving${beside}`
            : `${family} query failed (${failed.error}); the name resolves to its ${other(family)} records alone`;
        this.#report(host, 'skipped', reason, count);
      }
    }
  }

  /**
   * The name's addresses. With servers, A and AAAA are asked apart (grpc-js's resolver does
   * the same): it throws only when neither gave an address, so one refused or timed-out family
   * never throws away the other's answer. The OS resolver (getaddrinfo) does that by itself.
   */
  async #lookup(host: string, known: Lookup): Promise<Found> {
    if (!this.#resolver) {
      const found = (await lookup(host, { all: true })).map((entry) => entry.address);
      return { addresses: [...new Set(found)].sort(), failed: [] };
    }
    const [v4, v6] = await Promise.allSettled([this.#resolver.resolve4(host), this.#resolver.resolve6(host)]);
    const answers: Record<Family, Answer> = { A: answerOf(v4), AAAA: answerOf(v6) };
    const addresses: string[] = [];
    const failed: Array<{ family: Family; error: string; kept: number }> = [];
    for (const family of FAMILIES) {
      const answer = answers[family];
      if ('addresses' in answer) {
        known.answered.set(family, answer.addresses);
        addresses.push(...answer.addresses);
      } else {
        const kept = known.answered.get(family) ?? [];
        failed.push({ family, error: answer.error, kept: kept.length });
        addresses.push(...kept);
      }
    }
    // Neither answered (the server away, or refusing both), or nothing to serve: the failures
    // are the reason, and the name's last addresses keep serving as for any failed lookup.
    if (failed.length === FAMILIES.length || addresses.length === 0) {
      const errors = [...new Set(failed.map((entry) => entry.error))];
      if (errors.length === 0) throw Object.assign(new Error(`${host} not found`), { code: 'ENOTFOUND' });
      throw new Error(errors.length === 1 ? errors[0] : failed.map((entry) => `${entry.family} ${entry.error}`).join(', '));
    }
    return { addresses: [...new Set(addresses)].sort(), failed };
  }
}

/** A name with no record of one family is an answer (no address of that family), not a failure. */
function answerOf(result: PromiseSettledResult<string[]>): Answer {
  if (result.status === 'fulfilled') return { addresses: result.value };
  const error = result.reason as NodeJS.ErrnoException;
  if (error.code === 'ENODATA' || error.code === 'ENOTFOUND') return { addresses: [] };
  return { error: error.code ?? error.message };
}

function other(family: Family): Family {
  return family === 'A' ? 'AAAA' : 'A';
}
