// Steady, paced load of GetOrder and CreateOrder calls, recording every outcome.
import * as grpc from '@grpc/grpc-js';
import { EventEmitter } from 'node:events';
import type { Disposer } from 'grpc-meshlite';
import type { Order, OrderClient } from './orders.js';

export interface CallRecord {
  readonly startedAt: number;
  readonly endedAt: number;
  readonly method: 'GetOrder' | 'CreateOrder';
  readonly code: grpc.status;
  readonly servedBy: string | undefined;
  readonly details: string | undefined;
  /** Whether the call carried `LoadOptions.header` (absent in records made elsewhere). */
  readonly withHeader?: boolean;
}

/** One more metadata header on a share of the calls: `{ name: 'x-canary', value: '1', share: 0.1 }`. */
export interface TaggedShare {
  readonly name: string;
  readonly value: string;
  /** 0..1 of the calls, spread evenly (every tenth call for 0.1), not drawn at random. */
  readonly share: number;
}

export interface LoadOptions {
  /** Calls started per second (open loop: a slow backend does not slow the caller). */
  readonly ratePerSecond: number;
  /** Calls in flight at most; beyond it the generator waits (keeps a stalled run bounded). */
  readonly maxInFlight?: number;
  /** Share of CreateOrder among the calls, 0..1. Default 0.2. */
  readonly createShare?: number;
  /** Deadline of each call, in ms. Default 2000. */
  readonly deadlineMs?: number;
  /** Prefix of idempotency keys, unique per run. */
  readonly keyPrefix: string;
  /** Calls wait for a ready backend instead of failing fast (grpc-js waitForReady). Default false. */
  readonly waitForReady?: boolean;
  /** A header a share of the calls carries (the canary demo's `x-canary: 1`); each record says whether it did. Default: none. */
  readonly header?: TaggedShare;
}

/**
 * @example
 *   const load = new LoadGenerator(client, { ratePerSecond: 200, keyPrefix: 'demo-1' });
 *   await load.seed(10);
 *   load.start(); ...; await load.stop();
 */
export class LoadGenerator {
  readonly records: CallRecord[] = [];
  readonly #client: OrderClient;
  readonly #options: Required<Omit<LoadOptions, 'header'>> & Pick<LoadOptions, 'header'>;
  readonly #recorded = new EventEmitter<{ record: [CallRecord] }>();
  readonly #orderIds: string[] = [];
  readonly #inFlight = new Set<Promise<void>>();
  #timer: ReturnType<typeof setInterval> | undefined;
  #sent = 0;
  #startedAt = 0;
  #sequence = 0;
  /** Credit towards the next call that carries the header, in millionths of a call (whole numbers: 10 × 0.1 is 1 exactly). */
  #headerCredit = 0;

  constructor(client: OrderClient, options: LoadOptions) {
    this.#client = client;
    this.#options = { maxInFlight: 512, createShare: 0.2, deadlineMs: 2000, waitForReady: false, ...options };
    const share = options.header?.share;
    if (share !== undefined && !(share >= 0 && share <= 1)) throw new RangeError(`header.share must be 0..1, got ${share}`);
  }

  onRecord(listener: (record: CallRecord) => void): Disposer {
    this.#recorded.on('record', listener);
    return () => void this.#recorded.off('record', listener);
  }

  /** Creates a few orders first, so GetOrder has something to read. */
  async seed(count: number): Promise<void> {
    for (let i = 0; i < count; i++) {
      const order = await this.#call('CreateOrder', 10_000, false);
      if (!order) throw new Error('could not create the seed orders: is a backend up?');
    }
  }

  start(): void {
    this.#startedAt = performance.now();
    this.#sent = 0;
    this.#timer = setInterval(() => this.#tick(), 5);
  }

  /** Stops starting calls and waits for those in flight. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await Promise.all(this.#inFlight);
  }

  get inFlight(): number {
    return this.#inFlight.size;
  }

  /** Idempotency keys handed out so far (one per CreateOrder, retries reuse theirs). */
  get keysIssued(): number {
    return this.#sequence;
  }

  #tick(): void {
    const due = Math.floor(((performance.now() - this.#startedAt) / 1000) * this.#options.ratePerSecond);
    while (this.#sent < due && this.#inFlight.size < this.#options.maxInFlight) {
      this.#sent++;
      const method = Math.random() < this.#options.createShare || this.#orderIds.length === 0 ? 'CreateOrder' : 'GetOrder';
      const call: Promise<void> = this.#call(method, this.#options.deadlineMs, this.#carriesHeader()).then(
        () => void this.#inFlight.delete(call),
      );
      this.#inFlight.add(call);
    }
    // A stalled run does not build up a backlog to fire all at once later.
    if (this.#sent < due) this.#sent = due;
  }

  #carriesHeader(): boolean {
    const header = this.#options.header;
    if (header === undefined) return false;
    this.#headerCredit += Math.round(header.share * 1e6);
    if (this.#headerCredit < 1e6) return false;
    this.#headerCredit -= 1e6;
    return true;
  }

  #call(method: 'GetOrder' | 'CreateOrder', deadlineMs: number, withHeader: boolean): Promise<Order | undefined> {
    const startedAt = Date.now();
    const metadata = new grpc.Metadata({ waitForReady: this.#options.waitForReady });
    const header = this.#options.header;
    if (withHeader && header) metadata.set(header.name, header.value);
    const options = { deadline: startedAt + deadlineMs };
    return new Promise((resolve) => {
      const done = (error: grpc.ServiceError | null, order?: Order) => {
        const record: CallRecord = {
          startedAt,
          endedAt: Date.now(),
          method,
          code: error ? error.code : grpc.status.OK,
          servedBy: order?.served_by,
          details: error?.details,
          withHeader,
        };
        this.records.push(record);
        this.#recorded.emit('record', record);
        if (method === 'CreateOrder' && order) {
          this.#orderIds.push(order.id);
          if (this.#orderIds.length > 200) this.#orderIds.shift();
        }
        resolve(order);
      };
      if (method === 'CreateOrder') {
        const key = `${this.#options.keyPrefix}-${++this.#sequence}`;
        metadata.set('idempotency-key', key);
        this.#client.CreateOrder({ idempotency_key: key, item: 'book', quantity: 1 }, metadata, options, done);
      } else {
        const id = this.#orderIds[Math.floor(Math.random() * this.#orderIds.length)]!;
        this.#client.GetOrder({ id }, metadata, options, done);
      }
    });
  }
}
