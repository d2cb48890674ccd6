// A service's endpoints from etcd: list the prefix, then watch it from the next revision.
// A watch that breaks (etcd restarted, network cut) or is cancelled (its revision was
// compacted) leads to a fresh list and a new watch, never to a stale set; until that
// succeeds, the last endpoint set keeps serving.
import type { Etcd3, IKeyValue, Watcher } from 'etcd3';
import { setTimer, unrefTimer, type Clock } from '../clock.js';
import { RefusalMemo } from '../observability/refusal-memo.js';
import { connectEtcd, describeEtcd, type EtcdConnection } from './etcd-client.js';
import { parseEtcdEndpoint, type DiscoveredEndpoint } from './etcd-format.js';

export interface EtcdSourceConfig extends EtcdConnection {
  /** Keys `<prefix>/<id>`; no trailing slash. */
  readonly prefix: string;
}

export interface EtcdSourceHooks {
  /** The endpoint set changed. */
  changed(): void;
  /** A list succeeded (`synced`), the backend was lost (`unavailable`), or a value was skipped. */
  report(kind: 'synced' | 'unavailable' | 'skipped', reason: string): void;
}

const RETRY_MIN_MS = 100;
const RETRY_MAX_MS = 2000;

export class EtcdEndpointSource {
  readonly #config: EtcdSourceConfig;
  readonly #hooks: EtcdSourceHooks;
  readonly #clock: Clock;
  /** By key, as etcd holds them. */
  readonly #entries = new Map<string, DiscoveredEndpoint>();
  #endpoints: DiscoveredEndpoint[] = [];
  /**
   * Keys skipped (a value that cannot be used, an address another key lists), each said once
   * per reason until it is usable or deleted — not again at each put of the same value, nor at
   * each list after a reconnect.
   */
  readonly #skipped = new RefusalMemo();
  /** The keys said in #skipped, so a list that no longer has one forgets it. */
  readonly #skippedKeys = new Set<string>();
  #client: Etcd3 | undefined;
  #watcher: Watcher | undefined;
  #state: 'starting' | 'synced' | 'unavailable' = 'starting';
  #reason = 'not listed yet';
  #retryMs = RETRY_MIN_MS;
  #timer: unknown;
  /** Bumped on every (re)sync, so a late answer of an abandoned one is ignored. */
  #generation = 0;
  #closed = false;

  /**
   * `seed`: the endpoints a previous source of the service held (its section changed), served
   * until this one has listed, so a config change never empties the rotation.
   */
  constructor(config: EtcdSourceConfig, hooks: EtcdSourceHooks, clock: Clock, seed: readonly DiscoveredEndpoint[] = []) {
    this.#config = config;
    this.#hooks = hooks;
    this.#clock = clock;
    this.#endpoints = [...seed];
  }

  /** True until the first list succeeded or failed, while it holds no endpoints: calls should wait, not fail. */
  get pending(): boolean {
    return this.#state === 'starting' && this.#endpoints.length === 0;
  }

  /** "etcd 127.0.0.1:2379 prefix services/orders". */
  describe(): string {
    return `${describeEtcd(this.#config)} prefix ${this.#config.prefix}`;
  }

  /** The endpoints under the prefix (one per address, the first key wins), as last listed and watched. */
  endpoints(): readonly DiscoveredEndpoint[] {
    return this.#endpoints;
  }

  /** Why the source holds no endpoints, for the UNAVAILABLE the calls get. */
  whyEmpty(): string {
    if (this.#state === 'synced') return `no endpoints under ${this.describe()}`;
    return `${this.describe()}: ${this.#reason}`;
  }

  start(): void {
    void this.#sync();
  }

  close(): void {
    this.#closed = true;
    this.#generation++;
    this.#clock.clearTimeout(this.#timer);
    const watcher = this.#watcher;
    this.#watcher = undefined;
    void watcher?.cancel().catch(() => {});
    this.#client?.close();
  }

  async #sync(): Promise<void> {
    const generation = ++this.#generation;
    const prefix = `${this.#config.prefix}/`;
    try {
      if (!this.#client) {
        const client = await connectEtcd(this.#config);
        if (this.#closed) return client.close();
        this.#client = client;
      }
      const listed = await this.#client.getAll().prefix(prefix).exec();
      if (generation !== this.#generation) return;
      this.#entries.clear();
      const listedKeys = new Set(listed.kvs.map((kv) => kv.key.toString()));
      for (const key of this.#skippedKeys) if (!listedKeys.has(key)) this.#unskip(key);
      for (const kv of listed.kvs) this.#put(kv);
      // The watcher is ours from the start, so close() can cancel it even before it connects.
      const watcher = this.#client
        .watch()
        .prefix(prefix)
        .startRevision(String(BigInt(listed.header.revision) + 1n))
        .watcher();
      this.#watcher = watcher;
      watcher.on('put', (kv) => {
        this.#put(kv);
        if (this.#state === 'synced') this.#publish();
      });
      watcher.on('delete', (kv) => {
        this.#entries.delete(kv.key.toString());
        this.#unskip(kv.key.toString());
        if (this.#state === 'synced') this.#publish();
      });
      // A broken stream or a cancelled watch (compacted revision): list afresh.
      watcher.on('disconnected', (error: Error) => this.#lost(generation, error));
      watcher.on('error', (error: Error) => this.#lost(generation, error));
      await this.#established(watcher);
      if (generation !== this.#generation) return;
      const wasStarting = this.#state === 'starting';
      this.#retryMs = RETRY_MIN_MS;
      this.#state = 'synced';
      this.#reason = '';
      // The first answer, even an empty one, is news: calls waiting on it may go (or fail, saying why).
      if (!this.#publish() && wasStarting) this.#hooks.changed();
      this.#hooks.report('synced', `listed ${this.#entries.size} key(s) at revision ${listed.header.revision}`);
    } catch (error) {
      this.#lost(generation, error as Error);
    }
  }

  /** Resolves when the watch is created; rejects when etcd refuses it or does not answer in time. */
  #established(watcher: Watcher): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const timer = setTimer(
        this.#clock,
        () => reject(new Error(`watch not established within ${this.#config.dialTimeoutMs} ms`)),
        this.#config.dialTimeoutMs,
      );
      const settle = (error?: Error) => {
        this.#clock.clearTimeout(timer);
        watcher.off('connected', onConnected);
        watcher.off('error', onFailed);
        watcher.off('disconnected', onFailed);
        if (error) reject(error);
        else resolve();
      };
      const onConnected = () => settle();
      const onFailed = (error: Error) => settle(error);
      watcher.once('connected', onConnected);
      watcher.once('error', onFailed);
      watcher.once('disconnected', onFailed);
    });
  }

  #lost(generation: number, error: Error): void {
    if (this.#closed || generation !== this.#generation) return;
    this.#generation++;
    const watcher = this.#watcher;
    this.#watcher = undefined;
    void watcher?.cancel().catch(() => {});
    const reason = describeError(error);
    if (this.#state !== 'unavailable') {
      if (this.#state === 'starting') this.#hooks.changed(); // waiting calls now fail, saying why
      this.#state = 'unavailable';
      this.#reason = reason;
      this.#hooks.report(
        'unavailable',
        `${reason}; ${this.#endpoints.length > 0 ? 'the last endpoint set keeps serving' : 'no endpoints yet'}`,
      );
    }
    this.#reason = reason;
    this.#timer = unrefTimer(setTimer(this.#clock, () => void this.#sync(), this.#retryMs));
    this.#retryMs = Math.min(this.#retryMs * 2, RETRY_MAX_MS);
  }

  #put(kv: IKeyValue): void {
    const key = kv.key.toString();
    const parsed = parseEtcdEndpoint(this.#config.prefix, key, kv.value.toString());
    if (typeof parsed === 'string') {
      this.#entries.delete(key);
      this.#skip(key, parsed);
      return;
    }
    this.#entries.set(key, parsed);
  }

  /** Says why `key` is skipped, once per reason while it stays skipped. */
  #skip(key: string, reason: string): void {
    this.#skippedKeys.add(key);
    if (this.#skipped.news(key, reason)) this.#hooks.report('skipped', reason);
  }

  #unskip(key: string): void {
    this.#skippedKeys.delete(key);
    this.#skipped.recovered(key);
  }

  /** Recomputes the endpoint list (keys in order, one per address); true (and said) when it changed. */
  #publish(): boolean {
    const byAddress = new Map<string, DiscoveredEndpoint>();
    for (const key of [...this.#entries.keys()].sort()) {
      const endpoint = this.#entries.get(key)!;
      if (byAddress.has(endpoint.address)) {
        this.#skip(key, `key "${key}": address ${endpoint.address} is already listed by another key`);
        continue;
      }
      this.#unskip(key);
      byAddress.set(endpoint.address, endpoint);
    }
    const next = [...byAddress.values()];
    if (JSON.stringify(next) === JSON.stringify(this.#endpoints)) return false;
    this.#endpoints = next;
    this.#hooks.changed();
    return true;
  }
}

function describeError(error: Error): string {
  // grpc-js's pick_first (inside the etcd client) ends its message with an empty "Resolution note: ".
  const text = error.message
    .replace(/\s+/g, ' ')
    .replace(/\.? Resolution note: ?$/, '')
    .trim();
  return text.length > 300 ? `${text.slice(0, 297)}...` : text;
}
