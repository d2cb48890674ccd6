import { AsyncResource } from 'node:async_hooks';
import { status as Status } from '@grpc/grpc-js';
import { RoutingHint } from '../../call/routing-hint.js';
import { listenForAbort, stopListening, type AbortHandler, type AbortListener } from '../../call/cancellation.js';
import type { Timed, TimerQueue } from '../../clock.js';
import { abortStatus, attemptCall, failedResult, layerFailure } from '../call.js';
import { fromNext, soon } from '../send.js';
import type { AttemptKind, AttemptRecord, ClientCall, ClientDone, ClientNext, ClientResult, ClientSend } from '../types.js';
import { afterFailure } from './after-failure.js';
import { HedgeDelay, type AdaptiveHedging } from './hedge-delay.js';
import type { RetryContext } from './context.js';
import { DeliveryNote } from './delivery-note.js';
import { attemptTimedOut, finalStatus, safeToRepeat } from './outcome.js';
import { endsCallAtOnce, type StopReason } from './stop-reason.js';
import { abortAll, aloneIn, anySent, append, Attempt, loseAll, nextTimeout, peersToAvoid, without } from './in-flight.js';

/**
 * One call's attempts, retried or hedged, as one state machine (grpc-js's RetryingCall is
 * one too): a retry is a hedge with no hedge timer whose next attempt waits for the one
 * before it to end, and for the backoff.
 *
 * - Hedged (idempotent unary methods with `hedging`, gRPC A6): the first attempt goes out at
 *   once, another after every `delayMs` without an answer, and a failed one is replaced at
 *   once (after the server's pushback, if it sent one). The first success wins; the others
 *   are cancelled.
 * - Otherwise attempts go one after another: after a retryable failure, a full-jitter pause
 *   (or the server's pushback), then the next attempt.
 *
 * Both spend the same budget, avoid the endpoints already tried, and cut an attempt at
 * `perAttemptTimeoutMs` only when another attempt carries on: the last hope of a call is never
 * cut (a slow answer beats a failure), and an attempt still waiting for an endpoint is neither
 * cut nor hedged (its time starts when it is sent).
 *
 * It runs on every call, so the common case — the first attempt answers — allocates little:
 * one attempt, one timer when something is due (the next hedge, the attempt's timeout), no
 * array (no record list, no avoid list), and nothing a long-lived structure holds afterwards.
 */
export class RetryingCall implements Timed, AbortHandler {
  readonly #next: ClientSend;
  readonly #call: ClientCall;
  readonly #context: RetryContext;
  readonly #resolve: ClientDone;
  readonly #hedgeDelayMs: number | undefined;
  /** The method's adaptive hedge delay, which hears how long its answers take. */
  readonly #hedgeDelay: HedgeDelay | undefined;
  readonly #maxAttempts: number;
  /** A server stream's sink, which notes when a message has reached the caller. */
  readonly #sink: DeliveryNote | undefined;
  /** The first of the attempts in flight (see in-flight.ts). */
  #running: Attempt | undefined;
  /** Every attempt's record, once there is more than the first one's (until then, its result has it). */
  #records: AttemptRecord[] | undefined;
  #failedPeers: string[] | undefined;
  #started = 0;
  #settled = false;
  /** When the next attempt goes out, if one waits: a hedge, or a retry after its backoff. */
  #pendingAt: number | undefined;
  #pendingHedge = false;
  /** The clock's timer queue, which this call is queued in while something is due (#arm). */
  readonly #timers: TimerQueue;
  /** How late it may fire, once queued (#arm), before that says the loop was held. */
  #lateAfterMs = Infinity;
  /** The timer queue's (Timed): this call is its own timer, queued for `dueAt` while linked. */
  dueAt = 0;
  timedPrev: Timed | undefined = undefined;
  timedNext: Timed | undefined = undefined;
  /** The caller's async context, for a call without the adapter's (see fire). */
  #scope: AsyncResource | undefined;
  /** Listening to the caller's signal (see handleEvent) with this, once it does. */
  #listener: AbortListener | undefined;

  /**
   * Runs `call` through `next` with the attempts its policy allows; resolves with how it ended.
   * `now` is the context clock's time as the call comes in (read once for the call's start).
   */
  static start(next: ClientNext, call: ClientCall, context: RetryContext, now: number): Promise<ClientResult> {
    return new Promise<ClientResult>((resolve) => new RetryingCall(fromNext(next), call, context, resolve, now).#launch('first', now));
  }

  /** start's callback form: `done` hears how the call ended. */
  static send(next: ClientSend, call: ClientCall, context: RetryContext, done: ClientDone, now: number): void {
    new RetryingCall(next, call, context, done, now).#launch('first', now);
  }

  private constructor(next: ClientSend, call: ClientCall, context: RetryContext, resolve: ClientDone, now: number) {
    this.#next = next;
    this.#call = call;
    this.#context = context;
    this.#resolve = resolve;
    this.#timers = context.timers;
    const { policy, budget, random } = context;
    const hedging = policy.hedging && policy.idempotent && call.method.kind === 'unary' ? policy.hedging : undefined;
    this.#hedgeDelay = hedging?.adaptive && hedgeDelayOf(context, call.method.path, hedging.delayMs, hedging.adaptive, now);
    this.#hedgeDelayMs = this.#hedgeDelay ? this.#hedgeDelay.delayMs(now) : hedging?.delayMs;
    this.#maxAttempts = Math.min(this.#policyMaxAttempts(), 1 + (budget?.retryAllowance(random) ?? Infinity));
    this.#sink = call.method.kind === 'server_stream' ? new DeliveryNote(call.sink) : undefined;
    if (this.#mayEndAttempts()) this.#listenToCaller();
    context.hedgeLimit?.callStarted();
  }

  /** The policy's own limit (the budget's taper may allow fewer). */
  #policyMaxAttempts(): number {
    const { policy } = this.#context;
    return this.#hedgeDelayMs !== undefined ? policy.hedging!.maxAttempts : policy.maxAttempts;
  }

  /** Hedged or timed: the call may end an attempt itself, so each gets its own signal (and a hint). */
  #mayEndAttempts(): boolean {
    return this.#hedgeDelayMs !== undefined || this.#context.policy.perAttemptTimeoutMs !== undefined;
  }

  /** Sends the next attempt; `now` is the clock's time (read by the caller, which has it). */
  #launch(kind: AttemptKind, now: number): void {
    const { policy, routingHints } = this.#context;
    const call = this.#call;
    const index = ++this.#started;
    this.#context.onAttempt?.(call.method);
    const mayEnd = this.#mayEndAttempts();
    // With the mesh's picker, an attempt the call may end carries a hint: it says whether it was
    // sent. So does a routed one: the layer below writes its destination into it.
    const hint =
      routingHints && (mayEnd || this.#failedPeers !== undefined || call.route !== undefined)
        ? RoutingHint.create(index === 1 ? undefined : peersToAvoid(this.#running, this.#failedPeers))
        : undefined;
    // A timed call always gives its attempts their own signal (#mayEndAttempts): the cut needs it.
    const timeoutMs = mayEnd ? policy.perAttemptTimeoutMs : undefined;
    const timeoutAt = timeoutMs === undefined || now + timeoutMs >= call.deadline ? undefined : now + timeoutMs;
    const attempt = new Attempt(index, kind, mayEnd, hint, now, timeoutAt);
    const cancel = attempt.cancel;
    if (cancel && call.signal.aborted) cancel.abort(call.signal.reason);
    this.#running = append(this.#running, attempt);
    // A first attempt that changes nothing about the call (no signal, hint or sink of its own:
    // a plain retry's) is the call itself; layers never mutate calls. Later ones say which
    // they are (the transport sends A6's grpc-previous-rpc-attempts, their spans say so).
    const sent =
      index === 1 && cancel === undefined && hint === call.hint && this.#sink === undefined
        ? call
        : attemptCall(call, cancel ?? call.signal, hint, this.#sink ?? call.sink, attempt);
    try {
      this.#next(sent, (result) => this.#ended(attempt, result));
    } catch (error) {
      // A layer below that throws fails the attempt, as one that rejects does.
      soon(() => this.#ended(attempt, layerFailure(error)));
    }
    if (this.#hedgeDelayMs !== undefined) {
      this.#pendingAt = this.#started < this.#maxAttempts ? now + this.#hedgeDelayMs : undefined;
      this.#pendingHedge = true;
    }
    this.#arm(now);
  }

  #ended(attempt: Attempt, result: ClientResult): void {
    // Once per attempt, whatever a layer below does wrong.
    if (attempt.ended) return;
    attempt.ended = true;
    if (attempt.kind === 'hedge') this.#context.hedgeLimit?.hedgeEnded();
    attempt.hint?.release();
    if (this.#settled) return;
    const { budget, clock } = this.#context;
    this.#running = without(this.#running, attempt);
    const ok = result.status.code === Status.OK;
    budget?.recordAttempt(ok);
    if (ok && this.#hedgeDelay) {
      const now = clock.now();
      this.#hedgeDelay.record(now - attempt.startedAt, now);
    }
    // The common case, the first attempt answered alone: its result is the call's, as it is.
    if (ok && this.#records === undefined && this.#running === undefined) return this.#settle(result, undefined, attempt);
    const records = (this.#records ??= []);
    const hedge = this.#hedgeDelayMs !== undefined && attempt.index > 1;
    for (const record of result.attempts) records.push(hedge ? { ...record, hedge: true } : record);
    if (ok) return this.#settle(result, undefined, attempt);
    // Cut by its timeout while a sibling or its replacement runs on: that one carries the call.
    if (attempt.timedOut && this.#running !== undefined) return this.#arm();
    const next = afterFailure(result, attempt, this.#call, this.#context, {
      started: this.#started,
      maxAttempts: this.#maxAttempts,
      policyMaxAttempts: this.#policyMaxAttempts(),
      hedged: this.#hedgeDelayMs !== undefined,
      delivered: this.#sink?.delivered === true,
      retryWaiting: this.#pendingAt !== undefined && !this.#pendingHedge,
    });
    if (typeof next === 'string') {
      // A hedge still running may yet answer, unless the failure itself is the answer.
      if (this.#running === undefined || endsCallAtOnce(next)) return this.#settle(result, next, undefined);
      return this.#arm();
    }
    if (result.peer !== undefined && !this.#failedPeers?.includes(result.peer)) (this.#failedPeers ??= []).push(result.peer);
    if (next === undefined) return this.#arm();
    this.#retried('retry', result.status.code, result.peer, next);
    if (next > 0) {
      this.#pendingAt = clock.now() + next;
      this.#pendingHedge = false;
      this.#listenToCaller();
      this.#arm();
    } else {
      this.#launch('retry', clock.now());
    }
  }

  /**
   * Whether another attempt may go out now, before the one running has ended (a hedge, or the
   * replacement of an attempt cut by its timeout), its budget taken: attempts left, the call
   * not committed (a server stream that delivered), safe to repeat (the running attempt may
   * have reached the server), time left.
   */
  #mayRepeat(now: number): boolean {
    const { policy, budget, idempotencyKeyHeader } = this.#context;
    return (
      this.#started < this.#maxAttempts &&
      !this.#sink?.delivered &&
      safeToRepeat(this.#call, policy, idempotencyKeyHeader) &&
      now < this.#call.deadline &&
      (!budget || budget.tryRetry())
    );
  }

  /** Ends the call with `result`; attempts still running lose (see loseAll). */
  #settle(result: ClientResult, reason: StopReason | undefined, winner: Attempt | undefined): void {
    if (this.#settled) return;
    this.#settled = true;
    const { clock, hedgeLimit } = this.#context;
    hedgeLimit?.callEnded();
    this.#timers.cancel(this);
    if (this.#listener) stopListening(this.#call.signal, this.#listener);
    if (this.#running !== undefined) loseAll(this.#running, winner, clock, (this.#records ??= []));
    this.#running = undefined;
    this.#resolve(finalStatus(result, this.#records ?? result.attempts, reason));
  }

  /** Listens to the caller's signal (handleEvent), once. */
  #listenToCaller(): void {
    this.#listener ??= listenForAbort(this.#call.signal, this);
  }

  /**
   * AbortHandler, the caller cancelled: passes it on to attempts with signals of their own;
   * ends a wait at once.
   */
  handleEvent(): void {
    const { signal } = this.#call;
    if (this.#running === undefined) return this.#settle(failedResult(abortStatus(signal), this.#records), undefined, undefined);
    abortAll(this.#running, signal.reason);
  }

  /**
   * Queued (TimerQueue) for whatever is due first: the next attempt or a running attempt's
   * timeout. `now`: the clock's time, when the caller has just read it.
   */
  #arm(now?: number): void {
    const timeout = nextTimeout(this.#running);
    const due = this.#pendingAt === undefined || timeout < this.#pendingAt ? timeout : this.#pendingAt;
    // Already queued for it (the queue links a queued item: timedNext).
    if (due === (this.timedNext === undefined ? Infinity : this.dueAt)) return;
    if (due === Infinity) return this.#timers.cancel(this);
    now ??= this.#context.clock.now();
    // A timer for what is already due is a turn of the event loop, not a wait: never late.
    this.#lateAfterMs = due > now ? Math.min(due - now, LATE_MS) : Infinity;
    // Armed first from the caller's turn (the first attempt) or from the end of an attempt it
    // sent, which that turn's context reaches.
    if (this.#call.via === undefined) this.#scope ??= new AsyncResource('grpc-meshlite.retry');
    this.#timers.schedule(this, due);
  }

  /**
   * The timer queue's call: what #arm queued for is due. The queue's timer was set by
   * whichever call came first: this call acts in its caller's async context (ClientCall.via's,
   * or its own for a call that came another way, nice-grpc's).
   */
  fire(): void {
    const via = this.#call.via;
    if (via !== undefined) via.inCallerContext(RetryingCall.#runDue, this);
    else if (this.#scope !== undefined) this.#scope.runInAsyncScope(RetryingCall.#runDue, null, this);
    else this.#due();
  }

  static readonly #runDue = (call: RetryingCall): void => call.#due();

  /**
   * What is due now. After the event loop was held (the app's own work, a long GC, a client
   * busy with many calls), Node runs expired timers before the I/O callbacks already waiting
   * (DESIGN.md's pitfall): a timer that fired late is no evidence that an answer is missing,
   * since one that came while the loop was busy is still unread. While an attempt runs, it gets
   * one more turn first: a 0 ms timer set in the timers phase runs after this turn's poll
   * phase, which reads an answer waiting in the socket.
   */
  #due(): void {
    if (this.#settled) return;
    const { policy, clock } = this.#context;
    const now = clock.now();
    // What the queue fired it for (it is out of the queue now, its due time still set).
    const armedFor = this.dueAt;
    if (now - armedFor > this.#lateAfterMs && this.#running !== undefined) {
      this.#lateAfterMs = Infinity; // the second look is never late
      this.#timers.schedule(this, now); // due now: the queue's next turn
      return;
    }
    // Everything due by the time the timer was set for is due now, even if the clock reads a
    // hair earlier.
    const horizon = Math.max(now, armedFor);
    for (let attempt = this.#running; attempt !== undefined; attempt = attempt.next) {
      if (attempt.timedOut || attempt.timeoutAt === undefined || attempt.timeoutAt > horizon) continue;
      const timeoutMs = policy.perAttemptTimeoutMs!;
      // Still waiting for an endpoint (no connection is ready): its time has not started.
      if (!attempt.sent()) {
        attempt.timeoutAt = now + timeoutMs < this.#call.deadline ? now + timeoutMs : undefined;
        continue;
      }
      // Never cut the last hope: an attempt is cut only while a sibling runs on, or when the
      // attempt after it is granted now; else it runs on to the call's deadline.
      const alone = aloneIn(this.#running, attempt);
      if (alone && !this.#mayRepeat(now)) {
        attempt.timeoutAt = undefined;
        continue;
      }
      attempt.timedOut = true;
      attempt.cancel!.abort(attemptTimedOut(timeoutMs)); // a timeout comes with a signal (#launch)
      if (!alone) continue;
      // Hedged, its replacement goes now; otherwise once the cut attempt has ended.
      if (this.#hedgeDelayMs === undefined) {
        attempt.granted = true;
        continue;
      }
      this.#retried('retry', Status.DEADLINE_EXCEEDED, attempt.hint?.picked(), 0);
      return this.#launch('retry', now);
    }
    if (this.#pendingAt !== undefined && this.#pendingAt <= horizon) {
      if (!this.#pendingHedge) {
        this.#pendingAt = undefined;
        return this.#launch('retry', now);
      }
      if (!anySent(this.#running)) {
        // No attempt has reached an endpoint yet: a hedge would only wait beside them.
        this.#pendingAt = now + this.#hedgeDelayMs!;
      } else if (this.#context.hedgeLimit?.admits() === false) {
        // As many hedges in flight as the client allows (a burst): this one waits a delay more.
        this.#pendingAt = now + this.#hedgeDelayMs!;
      } else {
        this.#pendingAt = undefined;
        if (this.#mayRepeat(now)) {
          this.#context.hedgeLimit?.hedgeStarted();
          this.#retried('hedge', Status.OK, undefined, 0);
          return this.#launch('hedge', now);
        }
      }
    }
    this.#arm(now);
  }

  #retried(kind: 'retry' | 'hedge', code: Status, peer: string | undefined, delayMs: number): void {
    this.#context.retried.emit({ method: this.#call.method.path, attempt: this.#started, code, peer, delayMs, kind });
  }
}

/**
 * How late a timer may fire before the lateness says the event loop was held (the answer may
 * be waiting unread): more than the timer's own granularity and the clocks' skew (Date.now()
 * and the loop's clock differ by up to a millisecond), or the timer's length if shorter.
 */
const LATE_MS = 2;

/** The method's adaptive hedge delay under the context's policy, made on its first hedged call. */
function hedgeDelayOf(context: RetryContext, path: string, floorMs: number, adaptive: AdaptiveHedging, now: number): HedgeDelay {
  let delay = context.hedgeDelays.get(path);
  if (delay === undefined) {
    delay = new HedgeDelay(floorMs, context.policy.perAttemptTimeoutMs, adaptive, now);
    context.hedgeDelays.set(path, delay);
  }
  return delay;
}
