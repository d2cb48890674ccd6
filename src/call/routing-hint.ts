// The routing hint: how a client layer tells the mesh's picker which endpoints an attempt
// should stay away from, and how it learns where the attempt was sent before grpc-js says so
// (grpc-js reports a call's peer only once headers or a status arrive, but a hedge must avoid
// the endpoint its sibling is still waiting on).
//
// Both sides of grpc-js import this one module. The grpc-js adapter puts the hint in the
// attempt's metadata *options* (`startWithRoutingHint`, `withRoutingHint`): grpc-js hands a
// metadata's options on to every clone it makes, down to the picker, and never sends them;
// the picker finds it there (`takeRoutingHint`), reads the avoid-list and reports the pick.
// A client that rebuilds the metadata on its way down (nice-grpc) carries it in a private
// header instead (`withRoutingHintHeader`), which the picker always strips.
//
// The header carries only a reference into a process-local table, never the addresses. The
// reference starts with a random per-process nonce, so a hint header that arrives from
// outside (forwarded by a server from its own caller, or forged) matches nothing and steers
// nothing. The table holds plain values reused from attempt to attempt: a long-lived Map of
// per-call objects would hold young call objects from old memory, and V8 would promote every
// in-flight call to the old generation, where collecting them costs far more.
import { randomBytes } from 'node:crypto';
import type { Metadata, MetadataOptions } from '@grpc/grpc-js';

/** The private metadata key; the mesh picker always removes it before the call goes out. */
export const ROUTING_HINT_HEADER = 'x-meshlite-hint';

const NONCE = randomBytes(6).toString('base64url');
const NO_ADDRESSES: readonly string[] = Object.freeze([]);

const avoids: Array<readonly string[]> = [];
const picks: Array<string | undefined> = [];
/** A routed attempt's destination: strings from the config, never per-call objects (see above). */
const routes: Array<string | undefined> = [];
const subsets: Array<string | undefined> = [];
const fallbacks: Array<Fallback | undefined> = [];
const mirrored: boolean[] = [];
const generations: number[] = [];
const free: number[] = [];
/** Hints sent in a header, by token: the picker finds one with a lookup, not by parsing its header value. */
const live = new Map<string, RoutingHint>();

/** When a routed attempt's subset has no usable endpoint: any of the service's endpoints, or none (UNAVAILABLE). */
export type Fallback = 'any' | 'none';

/**
 * Where a routed attempt goes, as the client's route layer decided: the route's name, the
 * subset its split chose (undefined: the whole service) and the route's fallback.
 */
export interface HintDestination {
  readonly route: string;
  readonly subset: string | undefined;
  readonly fallback: Fallback;
  /** A mirror's copy: it counts as none of the route's picks, and its outcome ejects no endpoint. */
  readonly mirror?: boolean;
}

/** The metadata option that carries a hint: a symbol, so no user option can collide with it. */
const HINT_OPTION = Symbol('grpc-meshlite routing hint');

/**
 * One attempt's hint: the endpoints it should avoid, and — once the picker has chosen — the
 * endpoint it went to. Whoever creates a hint releases it when the attempt has ended.
 *
 * @example
 *   const hint = RoutingHint.create(['127.0.0.1:50051']);
 *   const response = await next(deriveCall(call, { hint }));
 *   hint.release();
 */
export class RoutingHint implements ReceivedHint {
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
      routes.push(undefined);
      subsets.push(undefined);
      fallbacks.push(undefined);
      mirrored.push(false);
    }
    avoids[slot] = avoid;
    return new RoutingHint(slot, generations[slot]!);
  }

  /** Sends the attempt to a route's destination (the route layer's decision); undone by release(). */
  routeTo(destination: HintDestination): void {
    const slot = this.#slot;
    if (generations[slot] !== this.#generation) return;
    routes[slot] = destination.route;
    subsets[slot] = destination.subset;
    fallbacks[slot] = destination.fallback;
    mirrored[slot] = destination.mirror === true;
  }

  /** ReceivedHint: the route and subset the attempt goes to, when the route layer chose them. */
  destination(): HintDestination | undefined {
    const slot = this.#slot;
    const route = generations[slot] === this.#generation ? routes[slot] : undefined;
    if (route === undefined) return undefined;
    return { route, subset: subsets[slot], fallback: fallbacks[slot] ?? 'any', ...(mirrored[slot] && { mirror: true }) };
  }

  /** ReceivedHint: whether the attempt stays away from any endpoint (none once released). */
  get avoidsAny(): boolean {
    return generations[this.#slot] === this.#generation && avoids[this.#slot]!.length > 0;
  }

  /** ReceivedHint: whether the attempt should stay away from `address` (nothing once released). */
  avoids(address: string): boolean {
    return generations[this.#slot] === this.#generation && avoids[this.#slot]!.includes(address);
  }

  /** ReceivedHint: the picker sent the attempt to `address` (ignored once released). */
  report(address: string): void {
    if (generations[this.#slot] === this.#generation) picks[this.#slot] = address;
  }

  /** The endpoint the picker sent the attempt to, once it has; undefined after release. */
  picked(): string | undefined {
    return generations[this.#slot] === this.#generation ? picks[this.#slot] : undefined;
  }

  /** Frees the slot; a pick reported for this hint later is ignored. Calling it twice is harmless. */
  release(): void {
    const slot = this.#slot;
    if (generations[slot] !== this.#generation) return;
    if (this.#token !== undefined) live.delete(this.#token);
    generations[slot]++;
    avoids[slot] = NO_ADDRESSES;
    picks[slot] = undefined;
    routes[slot] = undefined;
    subsets[slot] = undefined;
    fallbacks[slot] = undefined;
    mirrored[slot] = false;
    free.push(slot);
  }

  #token: string | undefined;

  /** The header value that refers to this hint, registered for the picker on first use. */
  get token(): string {
    if (this.#token === undefined) {
      this.#token = `${NONCE}.${this.#slot}.${this.#generation}`;
      live.set(this.#token, this);
    }
    return this.#token;
  }
}

/**
 * Client side, for a call handed to grpc-js as it is: a copy of `metadata` whose options
 * carry `hint` to the picker (grpc-js copies options along with the metadata and never puts
 * them on the wire).
 */
export function withRoutingHint(metadata: Metadata, hint: RoutingHint): Metadata {
  const copy = metadata.clone();
  copy.setOptions(withHintOption(metadata.getOptions(), hint));
  return copy;
}

/**
 * Client side, for an attempt handed straight to a grpc-js channel: starts it (`call.start`)
 * with `hint` in the options of `metadata` itself, no copy of it made. A channel call copies
 * the metadata it is started with before start returns (grpc-js's ResolvingCall: the filters
 * below it change headers, and callers share one Metadata between calls), options and all:
 * the hint rides in that copy, and `metadata` has its own options back when this returns.
 * A test pins the copy (test/mesh/failover.test.ts, "sends a hedge away from the endpoint…").
 */
export function startWithRoutingHint<L>(
  call: { start(metadata: Metadata, listener: L): void },
  metadata: Metadata,
  listener: L,
  hint: RoutingHint,
): void {
  const own = metadata.getOptions();
  metadata.setOptions(withHintOption(own, hint));
  try {
    call.start(metadata, listener);
  } finally {
    metadata.setOptions(own);
  }
}

/** withKey(options, HINT_OPTION, hint), as a copy of its own (see withKey: one made on every attempt). */
function withHintOption(options: MetadataOptions, hint: RoutingHint): HintOptions {
  return Object.hasOwn(options, HINT_OPTION) ? { ...options, [HINT_OPTION]: hint } : { [HINT_OPTION]: hint, ...options };
}

/** Client side, for a client that rebuilds the metadata before grpc-js sees it: the hint in a private header. */
export function withRoutingHintHeader(metadata: Metadata, hint: RoutingHint): Metadata {
  const copy = metadata.clone();
  copy.set(ROUTING_HINT_HEADER, hint.token);
  return copy;
}

/** What the picker learns from a hint it took. */
export interface ReceivedHint {
  /** Whether the attempt stays away from any endpoint (a first attempt's, most often, does not). */
  readonly avoidsAny: boolean;
  /** Whether the attempt should stay away from `address`. */
  avoids(address: string): boolean;
  /** The picker sent the attempt to `address`. */
  report(address: string): void;
  /** The route and subset the client's route layer chose for the attempt, if it did. */
  destination(): HintDestination | undefined;
}

/**
 * Client side, as a call enters the layers: the caller's metadata without a hint header it
 * should not carry (forwarded from an upstream call, or forged), so that none reaches the
 * wire on a target the mesh's picker does not serve, and without a hint in its options (one
 * another stack's attempt carries). The same object when there is neither.
 */
export function withoutRoutingHint(metadata: Metadata): Metadata {
  const options = metadata.getOptions() as HintOptions;
  const carried = HINT_OPTION in options;
  if (!carried && metadata.get(ROUTING_HINT_HEADER).length === 0) return metadata;
  const copy = metadata.clone();
  copy.remove(ROUTING_HINT_HEADER);
  if (carried) {
    // An attempt's hint from a stack further out (two stacks in a row) is not this call's.
    const { [HINT_OPTION]: _outer, ...own } = options;
    copy.setOptions(own);
  }
  return copy;
}

/**
 * Picker side: the hint in `metadata`'s options, else the one its hint header refers to. The
 * header is removed (so it never goes on the wire); one that is not one of this process's
 * live hints gives undefined.
 */
export function takeRoutingHint(metadata: Metadata): ReceivedHint | undefined {
  const values = metadata.get(ROUTING_HINT_HEADER);
  if (values.length > 0) metadata.remove(ROUTING_HINT_HEADER);
  const carried = (metadata.getOptions() as HintOptions)[HINT_OPTION];
  if (carried !== undefined) return carried;
  // Released hints leave the table: a late or forged token finds nothing.
  return values.length === 0 ? undefined : live.get(String(values[0]));
}

type HintOptions = MetadataOptions & { [HINT_OPTION]?: RoutingHint };
