import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, writeFileSync, linkSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';

export interface StoredOrder {
  id: string;
  item: string;
  quantity: number;
  idempotencyKey: string;
  createdBy: string;
  createdAtMs: number;
}

export interface NewOrder {
  idempotencyKey: string;
  item: string;
  quantity: number;
  createdBy: string;
}

/**
 * Where the backends keep orders. Creation is idempotent by key: the same key twice returns
 * the first order (`created: false`), never a second one.
 */
export interface OrderStore {
  create(order: NewOrder): { order: StoredOrder; created: boolean };
  get(id: string): StoredOrder | undefined;
  /** Newest first; at most `limit` when limit > 0. */
  list(limit: number): StoredOrder[];
  /** How many distinct orders exist. */
  count(): number;
}

/** Orders in this process's memory. Two backends in one process may share one instance. */
export class MemoryOrderStore implements OrderStore {
  readonly #byKey = new Map<string, StoredOrder>();
  readonly #byId = new Map<string, StoredOrder>();

  create(input: NewOrder): { order: StoredOrder; created: boolean } {
    const existing = this.#byKey.get(input.idempotencyKey);
    if (existing) return { order: existing, created: false };
    const order = { ...input, id: `ord-${randomUUID()}`, createdAtMs: Date.now() };
    this.#byKey.set(order.idempotencyKey, order);
    this.#byId.set(order.id, order);
    return { order, created: true };
  }

  get(id: string): StoredOrder | undefined {
    return this.#byId.get(id);
  }

  list(limit: number): StoredOrder[] {
    const all = [...this.#byId.values()].reverse();
    return limit > 0 ? all.slice(0, limit) : all;
  }

  count(): number {
    return this.#byId.size;
  }
}

/**
 * Orders in a directory shared by backend processes (ServiceA and ServiceB in the demo), the
 * way two replicas share a database. One file per idempotency key (plus a link by order id),
 * published with link(2), which fails if the name exists: exactly one process wins a key, and a reader never sees a
 * half-written order.
 */
export class DirectoryOrderStore implements OrderStore {
  readonly #dir: string;

  constructor(dir: string) {
    this.#dir = dir;
    mkdirSync(dir, { recursive: true });
  }

  create(input: NewOrder): { order: StoredOrder; created: boolean } {
    const path = this.#pathFor(input.idempotencyKey);
    const order: StoredOrder = { ...input, id: `ord-${randomUUID()}`, createdAtMs: Date.now() };
    const temp = join(this.#dir, `.tmp-${randomUUID()}`);
    writeFileSync(temp, JSON.stringify(order));
    try {
      linkSync(temp, path);
      linkSync(temp, join(this.#dir, `i-${order.id}.json`));
      return { order, created: true };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      return { order: JSON.parse(readFileSync(path, 'utf8')) as StoredOrder, created: false };
    } finally {
      unlinkSync(temp);
    }
  }

  get(id: string): StoredOrder | undefined {
    if (!/^ord-[0-9a-f-]+$/.test(id)) return undefined;
    try {
      return JSON.parse(readFileSync(join(this.#dir, `i-${id}.json`), 'utf8')) as StoredOrder;
    } catch {
      return undefined;
    }
  }

  list(limit: number): StoredOrder[] {
    const all = this.#all().sort((a, b) => b.createdAtMs - a.createdAtMs);
    return limit > 0 ? all.slice(0, limit) : all;
  }

  count(): number {
    return this.#files().length;
  }

  /** Orders whose idempotency key starts with `prefix` (the benchmark counts a run's orders). */
  countWithKeyPrefix(prefix: string): number {
    return this.#files().filter((name) => Buffer.from(name.slice(2, -5), 'base64url').toString().startsWith(prefix)).length;
  }

  #files(): string[] {
    return readdirSync(this.#dir).filter((name) => name.startsWith('k-'));
  }

  #all(): StoredOrder[] {
    return this.#files().map((name) => JSON.parse(readFileSync(join(this.#dir, name), 'utf8')) as StoredOrder);
  }

  #pathFor(key: string): string {
    return join(this.#dir, `k-${Buffer.from(key).toString('base64url')}.json`);
  }
}
