// The routing hint: how a client layer tells the mesh's picker which endpoints an attempt
// should stay away from, and how it learns where the attempt was sent before grpc-js says so
// (grpc-js reports a call's peer only once headers or a status arrive, but a hedge must avoid
// the endpoint its sibling is still waiting on).
//
// Both sides of grpc-js import this one module: a client layer creates a hint and the
// transport encodes it in the attempt's metadata (`withRoutingHint`); the picker takes it out
// again (`takeRoutingHint`), which strips the header, reads the avoid-list and reports the pick.
//
// The header carries only a reference into a process-local table, never the addresses. The
// reference starts with a random per-process nonce, so a hint header that arrives from
// outside (forwarded by a server from its own caller, or forged) matches nothing and steers
// nothing. The table holds plain values reused from attempt to attempt: a long-lived Map of
// per-call objects would hold young call objects from old memory, and V8 would promote every
// in-flight call to the old generation (measured: half the stack's cost per call).
import { randomBytes } from 'node:crypto';
import type { Metadata } from '@grpc/grpc-js';

/** The private metadata key; the mesh picker always removes it before the call goes out. */
export const ROUTING_HINT_HEADER = 'x-meshlite-hint';

const NONCE = randomBytes(6).toString('base64url');
const NO_ADDRESSES: readonly string[] = Object.freeze([]);

const avoids: Array<readonly string[]> = [];
const picks: Array<string | undefined> = [];
const generations: number[] = [];
const free: number[] = [];
/** Live hints by token: the picker finds one with a lookup, not by parsing its header value. */
const live = new Map<string, LiveHint>();

/**
 * One attempt's hint: the endpoints it should avoid, and — once the picker has chosen — the
 * endpoint it went to. Whoever creates a hint releases it when the attempt has ended.
 *
 * @example
 *   const hint = RoutingHint.create(['127.0.0.1:50051']);
 *   const response = await next(deriveCall(call, { hint }));
 *   hint.release();
 */
export class RoutingHint {
  readonly #slot: number;
  readonly #generation: number;

  private constructor(slot: number, generation: number) {
    this.#slot = slot;
    this.#generation = generation;
  }

  /** A hint for one attempt; `avoid` lists endpoint addresses ("127.0.0.1:50051"). */
  static create(avoid: readonly string[] = NO_ADDRESSES): RoutingHint {
    let slot = free.pop();
    if (slot === undefined) {
      slot = generations.length;
      generations.push(0);
      avoids.push(NO_ADDRESSES);
      picks.push(undefined);
    }
    avoids[slot] = avoid;
    const hint = new RoutingHint(slot, generations[slot]!);
    live.set(hint.token, new LiveHint(slot, generations[slot]!));
    return hint;
  }

  /** The endpoint the picker sent the attempt to, once it has; undefined after release. */
  picked(): string | undefined {
    return generations[this.#slot] === this.#generation ? picks[this.#slot] : undefined;
  }

  /** Frees the slot; a pick reported for this hint later is ignored. Calling it twice is harmless. */
  release(): void {
    const slot = this.#slot;
    if (generations[slot] !== this.#generation) return;
    live.delete(this.token);
    generations[slot]!++;
    avoids[slot] = NO_ADDRESSES;
    picks[slot] = undefined;
    free.push(slot);
  }

  #token: string | undefined;

  /** The header value that refers to this hint (made once). */
  get token(): string {
    return (this.#token ??= `${NONCE}.${this.#slot}.${this.#generation}`);
  }
}

/** Client side: a copy of `metadata` that carries `hint` to the picker. */
export function withRoutingHint(metadata: Metadata, hint: RoutingHint): Metadata {
  const copy = metadata.clone();
  copy.set(ROUTING_HINT_HEADER, hint.token);
  return copy;
}

/** What the picker learns from a hint it took. */
export interface ReceivedHint {
  /** Whether the attempt should stay away from `address`. */
  avoids(address: string): boolean;
  /** The picker sent the attempt to `address`. */
  report(address: string): void;
}

class LiveHint implements ReceivedHint {
  constructor(
    readonly slot: number,
    readonly generation: number,
  ) {}

  avoids(address: string): boolean {
    return generations[this.slot] === this.generation && avoids[this.slot]!.includes(address);
  }

  report(address: string): void {
    if (generations[this.slot] === this.generation) picks[this.slot] = address;
  }
}

/**
 * Client side, as a call enters the layers: the caller's metadata without a hint header it
 * should not carry (forwarded from an upstream call, or forged), so that none reaches the
 * wire on a target the mesh's picker does not serve. The same object when there is none.
 */
export function withoutRoutingHint(metadata: Metadata): Metadata {
  if (metadata.get(ROUTING_HINT_HEADER).length === 0) return metadata;
  const copy = metadata.clone();
  copy.remove(ROUTING_HINT_HEADER);
  return copy;
}

/**
 * Picker side: removes the hint header from `metadata` (so it never goes on the wire) and
 * returns the hint it refers to, or undefined when there is none or it is not one of this
 * process's live hints.
 */
export function takeRoutingHint(metadata: Metadata): ReceivedHint | undefined {
  const values = metadata.get(ROUTING_HINT_HEADER);
  if (values.length === 0) return undefined;
  metadata.remove(ROUTING_HINT_HEADER);
  const hint = live.get(String(values[0]));
  return hint && generations[hint.slot] === hint.generation ? hint : undefined;
}
