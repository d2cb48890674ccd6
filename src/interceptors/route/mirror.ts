// A route's mirror: a copy of a share of its calls sent to another subset, its answer dropped.
// The copy goes straight to the call's transport, under every layer: no retry, breaker, budget
// or metrics of the caller's call see it, and the caller never waits for it.
import { status as Status } from '@grpc/grpc-js';
import { RoutingHint } from '../../call/routing-hint.js';
import type { CancelSignal } from '../../call/cancellation.js';
import { DROP_RESPONSES, deriveCall } from '../call.js';
import type { ClientCall, ClientResult, MatchedRoute } from '../types.js';

/**
 * Mirrors in flight per client stack; at the bound a mirror is dropped, never queued. A
 * mirror's answer is thrown away, so each one in flight buys nothing but load on the mirror
 * subset and a stream on its connection. By Little's law 64 slots let a subset that answers in
 * 10 ms take 6,400 mirrored calls a second, more than one client sends, while one that hangs
 * holds at most 64 requests (and their buffers) until their deadlines, not the whole traffic.
 */
export const MAX_MIRRORS_IN_FLIGHT = 64;

/**
 * How long a mirror of a call without any deadline (the caller set none, nor did the client's
 * or the route's config) may run. Without it, mirrors to a subset that never answers would
 * hold every slot for good and end mirroring for the life of the client.
 */
export const MIRROR_TIMEOUT_MS = 30_000;

/**
 * A mirror's signal: one nobody aborts. The caller's cancel must not end the copy (its answer
 * is the mirror subset's test, not the caller's), and its deadline bounds it. Shared, so a
 * mirror adds no long-lived listener list.
 */
const NEVER_CANCELLED: CancelSignal = Object.freeze({
  aborted: false,
  reason: undefined,
  addEventListener() {},
  removeEventListener() {},
});

/** What a stack's mirrors did, since it was made. */
export interface MirrorSnapshot {
  readonly inFlight: number;
  readonly sent: number;
  /** Selected for a mirror, but MAX_MIRRORS_IN_FLIGHT were in flight. */
  readonly dropped: number;
  /** A route's call not mirrored: not safe to repeat (neither idempotent nor carrying an idempotency key). */
  readonly unsafe: number;
  /** Mirrors that ended with a status other than OK (their answers are dropped all the same). */
  readonly failed: number;
}

/** The mirrors of one client stack: the smooth share of each route's calls, and the bound. */
export class Mirrors {
  #inFlight = 0;
  #sent = 0;
  #dropped = 0;
  #unsafe = 0;
  #failed = 0;
  /** Each route's credit towards its next mirror, in percent; a reload brings new routes. */
  readonly #credit = new WeakMap<MatchedRoute, { value: number }>();
  readonly #safeToRepeat: (call: ClientCall) => boolean;
  readonly #deadlineOf: (call: ClientCall, deadline: number) => number | undefined;

  /**
   * `safeToRepeat` says whether a call may be sent twice (the retry policy's `idempotent`, an
   * idempotency key); `deadlineOf` gives the deadline the caller's call runs to, from the one it
   * had as the route layer saw it, which bounds its copy (undefined: it has no time left, and
   * no copy goes).
   */
  constructor(safeToRepeat: (call: ClientCall) => boolean, deadlineOf: (call: ClientCall, deadline: number) => number | undefined) {
    this.#safeToRepeat = safeToRepeat;
    this.#deadlineOf = deadlineOf;
  }

  /**
   * Sends a copy of `call` (routed) to its route's mirror subset when the route's share says
   * so — smooth: exactly `percent` of every 100 of the route's calls that are safe to repeat,
   * never bunched — and does not wait for it. `deadline` is the call's as the route layer saw
   * it (the grpc-js adapter may have set a tighter one in the same call object since).
   */
  maybeSend(call: ClientCall, route: MatchedRoute, deadline: number = call.deadline): void {
    const mirror = route.config.mirror;
    if (mirror === undefined || mirror.percent <= 0 || call.signal.aborted) return;
    if (!this.#safeToRepeat(call)) {
      this.#unsafe++;
      return;
    }
    let credit = this.#credit.get(route);
    if (credit === undefined) this.#credit.set(route, (credit = { value: 0 }));
    credit.value += mirror.percent;
    if (credit.value < 100) return;
    credit.value -= 100;
    if (this.#inFlight >= MAX_MIRRORS_IN_FLIGHT) {
      this.#dropped++;
      return;
    }
    const bound = this.#deadlineOf(call, deadline);
    if (bound === undefined) return;
    const hint = RoutingHint.create();
    hint.routeTo({ route: route.name, subset: mirror.subset, fallback: 'none', mirror: true });
    const copy = deriveCall(call, { deadline: bound, signal: NEVER_CANCELLED, sink: DROP_RESPONSES, hint, route: undefined });
    this.#inFlight++;
    this.#sent++;
    let sent: Promise<ClientResult>;
    try {
      sent = call.transport(copy);
    } catch {
      // A transport of someone else's that throws: the copy is lost, never the caller's call.
      return this.#ended(hint, false);
    }
    sent.then(
      (result) => this.#ended(hint, result.status.code === Status.OK),
      () => this.#ended(hint, false),
    );
  }

  #ended(hint: RoutingHint, ok: boolean): void {
    hint.release();
    this.#inFlight--;
    if (!ok) this.#failed++;
  }

  snapshot(): MirrorSnapshot {
    return { inFlight: this.#inFlight, sent: this.#sent, dropped: this.#dropped, unsafe: this.#unsafe, failed: this.#failed };
  }
}
