// Recent attempts per endpoint, for the admin page: success rate and latency over the last
// seconds. Bounded: each endpoint keeps its last minute, at most MAX_KEPT attempts.
import { status as Status } from '@grpc/grpc-js';
import { UNHEALTHY_CODES } from '../call/status.js';

const KEEP_MS = 60_000;
const MAX_KEPT = 20_000;

interface Attempt {
  readonly at: number;
  readonly ok: boolean;
  readonly ms: number;
}

export interface EndpointWindow {
  readonly attempts: number;
  /** Share of attempts that ended OK (or with an answer that is not a failure); null without attempts. */
  readonly successRate: number | null;
  readonly p50Ms: number | null;
  readonly p99Ms: number | null;
}

/** Codes that count as the endpoint failing (the rest are answers), as the logs judge them. */
const FAILURES = new Set<number>(UNHEALTHY_CODES.map((name) => Status[name]));

export class EndpointStats {
  readonly #byEndpoint = new Map<string, Attempt[]>();

  record(service: string, address: string, code: number, durationMs: number, now: number): void {
    const key = `${service}\u0000${address}`;
    let list = this.#byEndpoint.get(key);
    if (!list) this.#byEndpoint.set(key, (list = []));
    list.push({ at: now, ok: !FAILURES.has(code), ms: durationMs });
    if (list.length > MAX_KEPT || list[0]!.at < now - KEEP_MS) {
      const keep = list.findIndex((a) => a.at >= now - KEEP_MS);
      list.splice(0, keep < 0 ? list.length : Math.max(keep, list.length - MAX_KEPT));
    }
  }

  /** The endpoint's attempts over the last `windowMs`. */
  window(service: string, address: string, windowMs: number, now: number): EndpointWindow {
    const recent = (this.#byEndpoint.get(`${service}\u0000${address}`) ?? []).filter((a) => a.at >= now - windowMs);
    if (recent.length === 0) return { attempts: 0, successRate: null, p50Ms: null, p99Ms: null };
    const sorted = recent.map((a) => a.ms).sort((a, b) => a - b);
    const at = (q: number) => Math.round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]! * 10) / 10;
    return { attempts: recent.length, successRate: recent.filter((a) => a.ok).length / recent.length, p50Ms: at(0.5), p99Ms: at(0.99) };
  }
}
