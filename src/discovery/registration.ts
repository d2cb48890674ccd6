// Self-registration: a server puts its own endpoint into etcd under a lease and keeps the lease
// alive. A process that dies or hangs stops keeping it alive, and etcd deletes the key when the
// lease runs out; a lease lost while the process lives (etcd restarted, network cut longer than
// the TTL) is granted again and the key put again, and so is a key deleted behind its back
// while its lease lives (an operator's `etcdctl del --prefix`).
import type { Etcd3, IRangeResponse, Lease, Watcher } from 'etcd3';
import * as z from 'zod/mini';
import { setTimer, systemClock, unrefTimer } from '../clock.js';
import { MAX_WEIGHT, MINUTE, count, durationMs } from '../schema/bounds.js';
import { resolveWith } from '../schema/validate.js';
import { silentLogger, type Logger } from '../observability/logger.js';
import { RefusalMemo } from '../observability/refusal-memo.js';
import { Signal, type Disposer } from '../observability/signal.js';
import { connectEtcd, describeEtcd } from './etcd-client.js';
import { encodeEtcdEndpoint, type DiscoveredEndpoint } from './etcd-format.js';
import { parseEndpointAddress } from '../config/address.js';
import { labelsSchema } from '../config/traffic.js';

export const REGISTRATION_DEFAULTS = Object.freeze({ ttlSeconds: 3, dialTimeoutMs: 2000, weight: 1, priority: 0 });

export interface EtcdRegistrationOptions {
  /** The etcd cluster: client endpoints, and optional TLS and auth, as in the mesh config's `discovery.etcd`. */
  etcd: {
    endpoints: string[];
    tls?: { caFile: string; certFile?: string; keyFile?: string };
    auth?: { username: string; password: string };
    dialTimeoutMs?: number;
  };
  /** The service's prefix: the key is `<prefix>/<id>`. */
  prefix: string;
  /** The endpoint clients should call, "host:port" as they reach it. */
  address: string;
  /** Name in snapshots and logs. Default: the id. */
  name?: string;
  weight?: number;
  priority?: number;
  /** The endpoint's `zone` label (zone-aware routing reads it). */
  zone?: string;
  /** The endpoint's labels (`{ version: 'v2' }`): what the clients' subsets select. */
  labels?: Record<string, string>;
  /** The key's last part. Default: the address. */
  id?: string;
  /**
   * Lease TTL in seconds: how long after the process dies (or hangs) etcd deletes the key.
   * Default 3 (etcd's floor is about 2 with its default election timeout).
   */
  ttlSeconds?: number;
  logger?: Logger;
}

const registrationSchema = z.strictObject({
  etcd: z.strictObject({
    endpoints: z.array(z.string().check(z.minLength(1))).check(z.minLength(1)),
    tls: z.optional(
      z.strictObject({
        caFile: z.string().check(z.minLength(1)),
        certFile: z.optional(z.string().check(z.minLength(1))),
        keyFile: z.optional(z.string().check(z.minLength(1))),
      }),
    ),
    auth: z.optional(z.strictObject({ username: z.string().check(z.minLength(1)), password: z.string().check(z.minLength(1)) })),
    dialTimeoutMs: z._default(durationMs(100, MINUTE), REGISTRATION_DEFAULTS.dialTimeoutMs),
  }),
  prefix: z.string().check(
    z.minLength(1),
    z.refine((prefix) => !prefix.endsWith('/'), 'must not end with "/"'),
  ),
  address: z.string().check(z.refine((text) => typeof parseEndpointAddress(text) !== 'string', 'must be "host:port" or "[ipv6]:port"')),
  name: z.optional(z.string().check(z.minLength(1), z.maxLength(200))),
  weight: z._default(z.number().check(z.minimum(0), z.maximum(MAX_WEIGHT)), REGISTRATION_DEFAULTS.weight),
  priority: z._default(count(0, 100), REGISTRATION_DEFAULTS.priority),
  zone: z.optional(z.string().check(z.maxLength(63))),
  labels: z.optional(labelsSchema),
  id: z.optional(z.string().check(z.minLength(1), z.maxLength(512))),
  ttlSeconds: z._default(count(2, 3600), REGISTRATION_DEFAULTS.ttlSeconds),
  logger: z.optional(z.custom<Logger>()),
});

/**
 * `registered` (again); `lost`: a registration lost its lease or key and is being made again;
 * `failed`: attempts to register fail (etcd away, a wrong password), said once per episode and
 * per reason while they are retried; `deregistered`.
 */
export type RegistrationEvent =
  | { readonly kind: 'registered'; readonly key: string; readonly lease: string }
  | { readonly kind: 'lost'; readonly key: string; readonly reason: string }
  | { readonly kind: 'failed'; readonly key: string; readonly reason: string }
  | { readonly kind: 'deregistered'; readonly key: string };

const RETRY_MIN_MS = 200;
const RETRY_MAX_MS = 2000;
/** A key watch etcd cancelled (compaction, a role without read access) is made again, this often at most. */
const WATCH_RETRY_MIN_MS = 1000;
const WATCH_RETRY_MAX_MS = 60_000;

/** EtcdRegistration's private constructor, for registerInEtcd (set by the class's static block). */
let construct: (client: Etcd3, key: string, value: string, ttlSeconds: number, logger: Logger, where: string) => EtcdRegistration;

/** A server's endpoint in etcd, kept there until `deregister()`. */
export class EtcdRegistration {
  readonly key: string;
  readonly #value: string;
  readonly #ttlSeconds: number;
  readonly #client: Etcd3;
  readonly #logger: Logger;
  readonly #where: string;
  readonly #events = new Signal<RegistrationEvent>();
  #lease: Lease | undefined;
  #retryMs = RETRY_MIN_MS;
  #timer: unknown;
  #done = false;
  #registered = false;
  /** Watches the key itself, to put it back if something else deletes it. */
  #watcher: Watcher | undefined;
  /** The revision of this process's last put of the key: deletes up to it are old news. */
  #putRevision = 0n;
  #watchRetryMs = WATCH_RETRY_MIN_MS;
  #watchTimer: unknown;
  /** Why attempts to register fail, said once per episode and reason (not at every retry). */
  readonly #failures = new RefusalMemo();

  // Made by registerInEtcd() only (through `construct`): a public constructor would put etcd3's
  // types in this package's declarations, which an app without etcd3 could not compile.
  static {
    construct = (...args) => new EtcdRegistration(...args);
  }

  private constructor(client: Etcd3, key: string, value: string, ttlSeconds: number, logger: Logger, where: string) {
    this.#client = client;
    this.key = key;
    this.#value = value;
    this.#ttlSeconds = ttlSeconds;
    this.#logger = logger;
    this.#where = where;
  }

  /** registered (again), lost (being re-created), failed (attempts refused, retried), deregistered. */
  onEvent(listener: (event: RegistrationEvent) => void): Disposer {
    return this.#events.subscribe(listener);
  }

  /** Whether the key is in etcd now (as far as this process knows). */
  get registered(): boolean {
    return this.#registered;
  }

  /**
   * Grants a lease, puts the key under it and keeps it alive. On failure it tries again with
   * backoff (200 ms doubling to 2 s) until `deregister()`; resolves with the first outcome.
   * @internal registerInEtcd() calls it.
   */
  async attempt(): Promise<Error | undefined> {
    if (this.#done) return undefined;
    const lease = this.#client.lease(this.#ttlSeconds, { autoKeepAlive: true });
    this.#lease = lease;
    lease.on('lost', (error: Error) => this.#lost(lease, error));
    try {
      const put = await lease.put(this.key).value(this.#value).exec();
      const id = await lease.grant();
      if (this.#done || this.#lease !== lease) return undefined;
      this.#retryMs = RETRY_MIN_MS;
      this.#registered = true;
      this.#failures.recovered(this.key);
      this.#putRevision = BigInt(put.header.revision);
      this.#watchKey();
      this.#logger.info({ key: this.key, lease: id, ttlSeconds: this.#ttlSeconds, etcd: this.#where }, 'registered in etcd');
      this.#events.emit({ kind: 'registered', key: this.key, lease: id });
      return undefined;
    } catch (error) {
      this.#lost(lease, error as Error);
      return error as Error;
    }
  }

  /**
   * Deletes the key (clients stop picking this endpoint within a watch round trip), revokes
   * the lease and closes the client. `drainServer` calls it first.
   */
  async deregister(): Promise<void> {
    if (this.#done) return;
    this.#done = true;
    this.#registered = false;
    systemClock.clearTimeout(this.#timer);
    systemClock.clearTimeout(this.#watchTimer);
    const lease = this.#lease;
    this.#lease = undefined;
    // Not awaited: etcd answers a cancel only over a live stream (not during an outage, nor for
    // a watch it refused), and the client closes below anyway; the delete it sees is ignored.
    void this.#watcher?.cancel().catch(() => {});
    try {
      await this.#client.delete().key(this.key).exec();
    } catch (error) {
      // etcd away or slow: the lease, no longer kept alive, runs out by itself within its TTL.
      this.#logger.warn({ key: this.key, err: (error as Error).message }, 'could not delete the etcd key; its lease expires by itself');
    }
    try {
      await lease?.revoke();
    } catch {
      // Same: it expires.
    } finally {
      // Whatever happened above, nothing renews the lease any more.
      lease?.release();
      this.#client.close();
    }
    this.#logger.info({ key: this.key }, 'deregistered from etcd');
    this.#events.emit({ kind: 'deregistered', key: this.key });
  }

  /**
   * Puts the key back, under the lease it has, when something else deletes it while the lease
   * lives: the lease alone would keep the process looking registered while no client finds it.
   */
  #watchKey(): void {
    if (this.#watcher || this.#done) return;
    // From just after the put: a delete in between is not missed, an older one not replayed.
    const watcher = this.#client
      .watch()
      .key(this.key)
      .startRevision(String(this.#putRevision + 1n))
      .watcher();
    this.#watcher = watcher;
    watcher.on('connected', () => (this.#watchRetryMs = WATCH_RETRY_MIN_MS));
    watcher.on('delete', (kv) => {
      if (BigInt(kv.mod_revision) > this.#putRevision) this.#putBack();
    });
    watcher.on('error', (error: Error) => this.#watchEnded(watcher, error));
  }

  /**
   * etcd3 re-establishes a watch after a broken stream, but drops one etcd cancelled (its
   * revision compacted away, a role that may not read the key): made again from the current
   * revision, after a check that the key is still there.
   */
  #watchEnded(watcher: Watcher, error: Error): void {
    if (this.#watcher !== watcher || this.#done) return;
    this.#watcher = undefined;
    void watcher.cancel().catch(() => {});
    this.#logger.warn(
      { key: this.key, etcd: this.#where, reason: error.message, retryMs: this.#watchRetryMs },
      'etcd watch of the registration key ended; watching again',
    );
    this.#watchTimer = unrefTimer(setTimer(systemClock, () => void this.#watchAgain(), this.#watchRetryMs));
    this.#watchRetryMs = Math.min(this.#watchRetryMs * 2, WATCH_RETRY_MAX_MS);
  }

  /** Watches the key again from the current revision, or puts it back when it is gone. */
  async #watchAgain(): Promise<void> {
    let found: IRangeResponse;
    try {
      found = await this.#client.get(this.key).exec();
    } catch {
      return this.#watchKey();
    }
    if (found.kvs.length === 0) return this.#putBack();
    this.#putRevision = BigInt(found.header.revision);
    this.#watchKey();
  }

  /** Puts the key again under the lease it has; a lease that is gone ends in #lost. */
  #putBack(): void {
    const lease = this.#lease;
    if (this.#done || !this.#registered || !lease) return;
    lease
      .put(this.key)
      .value(this.#value)
      .exec()
      .then(async (put) => {
        if (this.#done || this.#lease !== lease) return;
        this.#putRevision = BigInt(put.header.revision);
        this.#watchKey();
        const reason = 'the key was deleted while its lease lived';
        this.#logger.warn({ key: this.key, etcd: this.#where, reason }, 'etcd key put back');
        this.#events.emit({ kind: 'lost', key: this.key, reason });
        this.#events.emit({ kind: 'registered', key: this.key, lease: await lease.grant() });
      })
      .catch((error: unknown) => this.#lost(lease, error as Error));
  }

  /**
   * A lease that was lost (revoked, run out, etcd away longer than its TTL) or an attempt that
   * failed: it is made again with backoff. A loss is said each time it happens; a failing
   * attempt once per episode and reason — a wrong password or a role that may not write the key
   * fails every attempt, and a line every 2 s saying a lease was lost that never existed buried
   * the one thing to fix.
   */
  #lost(lease: Lease, error: Error): void {
    if (this.#done || this.#lease !== lease) return;
    const wasRegistered = this.#registered;
    this.#lease = undefined;
    this.#registered = false;
    void lease.revoke().catch(() => {});
    const reason = describeFailure(error);
    const retryMs = this.#retryMs;
    if (wasRegistered) {
      this.#logger.warn({ key: this.key, reason, retryMs }, 'etcd lease lost; registering again');
      this.#events.emit({ kind: 'lost', key: this.key, reason });
    } else if (this.#failures.news(this.key, reason.startsWith(UNREACHABLE) ? UNREACHABLE : reason)) {
      this.#logger.warn({ key: this.key, etcd: this.#where, reason, retryMs }, `cannot register: ${reason}`);
      this.#events.emit({ kind: 'failed', key: this.key, reason });
    } else {
      this.#logger.debug({ key: this.key, reason, retryMs }, 'etcd registration attempt failed');
    }
    this.#timer = unrefTimer(setTimer(systemClock, () => void this.attempt(), retryMs));
    this.#retryMs = Math.min(this.#retryMs * 2, RETRY_MAX_MS);
  }
}

const UNREACHABLE = 'etcd not reachable';

/**
 * Why a registration failed, in words that stay the same while the cause does: etcd3's
 * errors for a refused password or write, a lease that ran out, and etcd not reachable (one
 * episode, whether a connection is refused or a request runs out of time).
 */
function describeFailure(error: Error): string {
  const text = error.message.replace(/\s+/g, ' ').trim();
  // etcd3's EtcdLeaseInvalidError ("Lease <id> is expired or revoked") words a lease that ran
  // out while etcd was away "Lease We lost connection … is expired or revoked". (Matched by
  // its text: a value import of etcd3 would load it in every app, discovery or not.)
  if (/^Lease .+ is expired or revoked$/.test(text)) return 'the lease expired or was revoked';
  if (/authentication failed/i.test(text)) return 'authentication failed';
  if (/permission denied/i.test(text)) return 'permission denied (the etcd user may not write the key)';
  // grpc-js's words carry a time stamp and an empty resolution note.
  const cleaned = text.replace(/ \(\d{4}-\d\d-\d\dT[\d:.]+Z\)/g, '').replace(/\.? Resolution note: ?$/, '');
  return /UNAVAILABLE|DEADLINE_EXCEEDED|ECONNREFUSED|ETIMEDOUT|EHOSTUNREACH|ENOTFOUND/.test(cleaned)
    ? `${UNREACHABLE} (${cleaned})`
    : cleaned;
}

/**
 * Puts this server's endpoint into etcd under a lease, in etcd's gRPC naming format (so
 * grpc-go's etcd resolver finds it too), and keeps it there. Resolves after the first
 * attempt: registered, or — etcd away — logged and retried in the background until it is
 * (`registration.registered`, `onEvent`), so a server can start while etcd is down.
 *
 * @example
 *   const registration = await registerInEtcd({ etcd: { endpoints: ['127.0.0.1:2379'] },
 *     prefix: 'services/orders', address: `127.0.0.1:${port}`, name: 'ServiceA', weight: 80 });
 *   process.once('SIGTERM', () => drainServer({ server, health, registration }));
 */
export async function registerInEtcd(options: EtcdRegistrationOptions): Promise<EtcdRegistration> {
  const resolved = resolveWith(registrationSchema, options, 'etcd registration options');
  const normalized = parseEndpointAddress(resolved.address) as { normalized: string };
  const id = resolved.id ?? normalized.normalized;
  const endpoint: DiscoveredEndpoint = {
    name: resolved.name ?? id,
    address: normalized.normalized,
    weight: resolved.weight,
    priority: resolved.priority,
    labels: { ...resolved.labels, ...(resolved.zone !== undefined && { zone: resolved.zone }) },
  };
  const client = await connectEtcd(resolved.etcd);
  const where = describeEtcd(resolved.etcd);
  const registration = construct(
    client,
    `${resolved.prefix}/${id}`,
    encodeEtcdEndpoint(endpoint),
    resolved.ttlSeconds,
    resolved.logger ?? silentLogger,
    where,
  );
  // A first attempt that fails says why (once) and is retried in the background.
  await registration.attempt();
  return registration;
}
