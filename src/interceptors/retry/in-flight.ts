// The attempts of one call still in flight: a list threaded through the attempts themselves,
// oldest first, whose head the call holds, rather than an array. V8 may pretenure an array
// literal's allocation site (allocate every later array from it in old space) once a few
// survived a scavenge, and an old array that points at young per-call objects keeps them alive
// through every scavenge (DESIGN.md's pitfall): then every call's attempts and records are
// promoted. A class instance has no allocation site to pretenure.
import { status as Status } from '@grpc/grpc-js';
import { Cancellation } from '../../call/cancellation.js';
import type { RoutingHint } from '../../call/routing-hint.js';
import { makeStatus } from '../../call/status.js';
import type { Clock } from '../../clock.js';
import { Outpaced } from '../outpaced.js';
import type { AttemptInfo, AttemptKind, AttemptRecord } from '../types.js';

/**
 * One attempt in flight, and the link to the next one; the attempt's call carries it
 * (ClientCall.attempt). It is its own cancel signal when the call may end it (one object per
 * attempt instead of two).
 */
export class Attempt extends Cancellation implements AttemptInfo {
  readonly index: number;
  readonly kind: AttemptKind;
  /** Where the attempt went, before grpc-js knows (mesh channels only): later attempts avoid it. */
  readonly hint: RoutingHint | undefined;
  readonly startedAt: number;
  /**
   * When its per-attempt timeout cuts it (undefined: never); later while it waits for an
   * endpoint. Only an attempt with its own `cancel` has one: the cut aborts that signal.
   */
  timeoutAt: number | undefined;
  /** Cut by its per-attempt timeout: its DEADLINE_EXCEEDED is worth another attempt. */
  timedOut = false;
  /** The attempt after it was granted when it was cut (budget taken): it goes when this one ends. */
  granted = false;
  /** The call ended while it ran (another attempt's answer won, or none did): it was cancelled. */
  lost = false;
  /** The next attempt in flight. */
  next: Attempt | undefined = undefined;
  /** Its result has been heard. */
  ended = false;
  readonly #ownSignal: boolean;

  constructor(index: number, kind: AttemptKind, ownSignal: boolean, hint: RoutingHint | undefined, startedAt: number, timeoutAt?: number) {
    super();
    this.index = index;
    this.kind = kind;
    this.#ownSignal = ownSignal;
    this.hint = hint;
    this.startedAt = startedAt;
    this.timeoutAt = timeoutAt;
  }

  /** Itself, when the call may end it (a hedge that lost, a cut); else none: its call carries the caller's signal. */
  get cancel(): Cancellation | undefined {
    return this.#ownSignal ? this : undefined;
  }

  /** Whether it went to an endpoint (always assumed without the mesh's picker to say). */
  sent(): boolean {
    return this.hint === undefined || this.hint.picked() !== undefined;
  }
}

/** The list `first` heads with `attempt` added at its end; returns the head. */
export function append(first: Attempt | undefined, attempt: Attempt): Attempt {
  if (first === undefined) return attempt;
  let last = first;
  while (last.next !== undefined) last = last.next;
  last.next = attempt;
  return first;
}

/** The list `first` heads without `attempt`; returns the head. */
export function without(first: Attempt | undefined, attempt: Attempt): Attempt | undefined {
  let head = first;
  if (head === attempt) {
    head = attempt.next;
  } else {
    let before = head;
    while (before !== undefined && before.next !== attempt) before = before.next;
    if (before !== undefined) before.next = attempt.next;
  }
  attempt.next = undefined;
  return head;
}

/** When the first timeout of an attempt not yet cut is due (Infinity: none). */
export function nextTimeout(first: Attempt | undefined): number {
  let due = Infinity;
  for (let attempt = first; attempt !== undefined; attempt = attempt.next) {
    if (!attempt.timedOut && attempt.timeoutAt !== undefined && attempt.timeoutAt < due) due = attempt.timeoutAt;
  }
  return due;
}

/** Whether no attempt but `attempt` is still running uncut: it is the call's last hope. */
export function aloneIn(first: Attempt | undefined, attempt: Attempt): boolean {
  for (let other = first; other !== undefined; other = other.next) if (other !== attempt && !other.timedOut) return false;
  return true;
}

/** Whether any attempt has reached an endpoint. */
export function anySent(first: Attempt | undefined): boolean {
  for (let attempt = first; attempt !== undefined; attempt = attempt.next) if (attempt.sent()) return true;
  return false;
}

/** What a later attempt stays away from: the endpoints that failed, and those its siblings are using. */
export function peersToAvoid(first: Attempt | undefined, failed: readonly string[] | undefined): readonly string[] | undefined {
  let avoid: string[] | undefined;
  for (let attempt = first; attempt !== undefined; attempt = attempt.next) {
    const peer = attempt.hint?.picked();
    if (peer !== undefined) (avoid ??= [...(failed ?? [])]).push(peer);
  }
  return avoid ?? failed;
}

/** Ends every attempt the call may end itself (the others carry the caller's own signal). */
export function abortAll(first: Attempt | undefined, reason: unknown): void {
  for (let attempt = first; attempt !== undefined; attempt = attempt.next) attempt.cancel?.abort(reason);
}

/**
 * The call ended (with `winner`'s answer, or without one): every attempt still running loses,
 * and leaves a record in `records` (it may have reached a server). A loser ends CANCELLED, as
 * gRPC's hedging cancels it (A6), whether it started before the winner or after: being
 * outpaced by a hedge says the endpoint is slower than another, not that it failed. Passive
 * ejection ignores a cancelled attempt, and an alert on attempt DEADLINE_EXCEEDED does not fire
 * on hedging. An endpoint too slow to keep is one whose attempts a per-attempt timeout cuts
 * (those end DEADLINE_EXCEEDED and count): an outpaced loser with such a timeout keeps its
 * stream until then (see Outpaced), so a backend that never answers a method is still found
 * out when hedges always win against it; p2c_ewma's latency sees a loser's time as a lower bound.
 */
export function loseAll(first: Attempt | undefined, winner: Attempt | undefined, clock: Clock, records: AttemptRecord[]): void {
  const now = clock.now();
  for (let loser = first; loser !== undefined; loser = loser.next) {
    const durationMs = now - loser.startedAt;
    const status = makeStatus(
      Status.CANCELLED,
      winner === undefined
        ? 'hedged attempt cancelled: its call ended'
        : `hedged attempt cancelled after ${Math.round(durationMs)} ms: attempt ${winner.index} answered first`,
    );
    loser.lost = true;
    const outpaced = winner !== undefined && loser.index < winner.index && loser.timeoutAt !== undefined && loser.timeoutAt > now;
    loser.cancel?.abort(outpaced ? new Outpaced(status, loser.timeoutAt! - now, clock) : status);
    records.push({
      code: status.code,
      peer: loser.hint?.picked(),
      mayHaveReachedServer: true,
      startedAt: performance.now() - durationMs,
      durationMs,
      hedge: true,
    });
  }
}
