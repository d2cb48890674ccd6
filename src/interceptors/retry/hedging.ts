import { status as Status } from '@grpc/grpc-js';
import { Cancellation } from '../../call/cancellation.js';
import { setTimer } from '../../clock.js';
import { RoutingHint } from '../../call/routing-hint.js';
import { makeStatus } from '../../call/status.js';
import { deriveCall, layerFailure } from '../call.js';
import type { AttemptRecord, ClientCall, ClientNext, ClientResult } from '../types.js';
import type { RetryContext } from './context.js';
import { attemptTimedOut } from './attempt-timeout.js';
import { finalStatus, pushback, retryDelay, whyNotRetry } from './outcome.js';

type LaunchKind = 'first' | 'hedge' | 'retry';

interface Running {
  readonly index: number;
  readonly cancel: Cancellation;
  /** Where the attempt went, before grpc-js knows (mesh channels only): later attempts avoid it. */
  readonly hint: RoutingHint | undefined;
  readonly startedAt: number;
  /** When its per-attempt timeout cuts it (Infinity: never); later while it waits for an endpoint. */
  timeoutAt: number;
  timedOut: boolean;
}

interface PendingLaunch {
  at: number;
  readonly kind: 'hedge' | 'retry';
  readonly afterFailure: ClientResult | undefined;
}

/**
 * Hedging for an idempotent unary call (gRPC A6): the first attempt goes out at once, another
 * after every `delayMs` without an answer, or right away when an attempt fails retryably, up
 * to `maxAttempts`. The first success wins and the others are cancelled; a non-retryable
 * failure ends the call. Each hedge is sent away from the endpoints already tried and counts
 * against the retry budget.
 */
export function hedge(next: ClientNext, call: ClientCall, context: RetryContext): Promise<ClientResult> {
  return new Promise<ClientResult>((resolve) => new HedgedCall(next, call, context, resolve).launch('first', undefined));
}

/**
 * One hedged call. It runs on every call of a hedged method, so the common case — the first
 * attempt answers before the hedge delay — allocates little: one timer (for whichever comes
 * first of the next hedge and an attempt's timeout), one attempt, no avoid list.
 */
class HedgedCall {
  readonly #next: ClientNext;
  readonly #call: ClientCall;
  readonly #context: RetryContext;
  readonly #resolve: (result: ClientResult) => void;
  readonly #maxAttempts: number;
  readonly #attempts: AttemptRecord[] = [];
  readonly #running: Running[] = [];
  #failedPeers: string[] | undefined;
  #started = 0;
  #settled = false;
  #pending: PendingLaunch | undefined;
  #timer: unknown;
  /** The due time the timer is set for (Infinity: no timer). */
  #armedFor = Infinity;

  constructor(next: ClientNext, call: ClientCall, context: RetryContext, resolve: (result: ClientResult) => void) {
    this.#next = next;
    this.#call = call;
    this.#context = context;
    this.#resolve = resolve;
    const { policy, budget, random } = context;
    this.#maxAttempts = Math.min(policy.hedging!.maxAttempts, 1 + (budget?.retryAllowance(random) ?? Infinity));
    call.signal.addEventListener('abort', this.#onCallerAbort, { once: true });
  }

  launch(kind: LaunchKind, afterFailure: ClientResult | undefined): void {
    if (this.#settled) return;
    const { policy, clock, retried } = this.#context;
    const index = ++this.#started;
    if (kind !== 'first') {
      const code = afterFailure?.status.code ?? Status.OK;
      retried.emit({ method: this.#call.method.path, attempt: index - 1, code, peer: afterFailure?.peer, delayMs: 0, kind });
    }
    const now = clock.now();
    const timeoutMs = policy.perAttemptTimeoutMs;
    const attempt: Running = {
      index,
      cancel: new Cancellation(),
      hint: !this.#context.routingHints ? undefined : index === 1 ? RoutingHint.create() : RoutingHint.create(this.#avoidList()),
      startedAt: now,
      timeoutAt: timeoutMs === undefined || now + timeoutMs >= this.#call.deadline ? Infinity : now + timeoutMs,
      timedOut: false,
    };
    this.#running.push(attempt);
    this.#next(deriveCall(this.#call, { signal: attempt.cancel, hint: attempt.hint })).then(
      (result) => this.#ended(attempt, result),
      (error: unknown) => this.#ended(attempt, layerFailure(error)),
    );
    this.#pending =
      this.#started < this.#maxAttempts ? { at: now + policy.hedging!.delayMs, kind: 'hedge', afterFailure: undefined } : undefined;
    this.#arm();
  }

  #ended(attempt: Running, result: ClientResult): void {
    attempt.hint?.release();
    if (this.#settled) return;
    const { policy, budget, clock, idempotencyKeyHeader } = this.#context;
    this.#running.splice(this.#running.indexOf(attempt), 1);
    for (const record of result.attempts) this.#attempts.push(attempt.index > 1 ? { ...record, hedge: true } : record);
    const ok = result.status.code === Status.OK;
    budget?.recordAttempt(ok);
    if (ok) return this.#settle(result, undefined, attempt);
    // Cut by its timeout: its sibling or replacement is already running.
    if (attempt.timedOut && this.#running.length > 0) return this.#arm();
    const stop = whyNotRetry(result, this.#call, policy, idempotencyKeyHeader, attempt.timedOut);
    if (stop !== undefined) return this.#settle(result, stop, undefined);
    if (result.peer) (this.#failedPeers ??= []).push(result.peer);
    const wait = retryDelay(result, attempt.index, this.#context);
    if (wait === 'stop') return this.#settle(result, 'server pushback said not to retry', undefined);
    if (this.#started < this.#maxAttempts && (!budget || budget.tryRetry())) {
      // A failed hedge is replaced at once unless the server asked for a pause.
      if (wait > 0 && pushback(result.status) !== undefined) {
        this.#pending = { at: clock.now() + wait, kind: 'retry', afterFailure: result };
        this.#arm();
      } else {
        this.launch('retry', result);
      }
    } else if (this.#running.length === 0) {
      this.#settle(result, this.#started < this.#maxAttempts ? 'retry budget exhausted' : undefined, undefined);
    } else {
      this.#arm();
    }
  }

  /**
   * Ends the call with `result`. Attempts still running lose: one that started before the
   * winner was outpaced by a hedge sent because it had not answered, which says its endpoint
   * is slow, so it ends as DEADLINE_EXCEEDED (passive ejection counts it); one that started
   * after the winner says nothing about its endpoint and ends CANCELLED.
   */
  #settle(result: ClientResult, note: string | undefined, winner: Running | undefined): void {
    if (this.#settled) return;
    this.#settled = true;
    const { clock } = this.#context;
    clock.clearTimeout(this.#timer);
    this.#call.signal.removeEventListener('abort', this.#onCallerAbort);
    // Losers are cancelled; they still count as attempts (they may have reached a server).
    const now = clock.now();
    for (const { index, cancel, hint, startedAt } of this.#running) {
      const peer = hint?.picked();
      const outpaced = winner !== undefined && index < winner.index;
      const status = outpaced
        ? makeStatus(Status.DEADLINE_EXCEEDED, `outpaced by hedged attempt ${winner.index} after ${Math.round(now - startedAt)} ms`)
        : makeStatus(Status.CANCELLED, 'hedged attempt lost to another attempt');
      cancel.abort(status);
      const durationMs = now - startedAt;
      this.#attempts.push({
        code: status.code,
        peer,
        mayHaveReachedServer: true,
        startedAt: performance.now() - durationMs,
        durationMs,
        hedge: true,
      });
    }
    this.#running.length = 0;
    this.#resolve(finalStatus(result, this.#attempts, note));
  }

  readonly #onCallerAbort = (): void => {
    for (const { cancel } of this.#running) cancel.abort(this.#call.signal.reason);
  };

  /** One timer for whatever is due first: the pending launch or a running attempt's timeout. */
  #arm(): void {
    let due = this.#pending?.at ?? Infinity;
    for (const attempt of this.#running) if (!attempt.timedOut && attempt.timeoutAt < due) due = attempt.timeoutAt;
    if (due === this.#armedFor) return;
    const { clock } = this.#context;
    clock.clearTimeout(this.#timer);
    this.#armedFor = due;
    this.#timer = due === Infinity ? undefined : setTimer(clock, this.#onTimer, due - clock.now());
  }

  readonly #onTimer = (): void => {
    if (this.#settled) return;
    const { policy, budget, clock } = this.#context;
    // Everything due by the time the timer was set for is due now, even if the clock reads a
    // hair earlier.
    const now = clock.now();
    const horizon = Math.max(now, this.#armedFor);
    this.#timer = undefined;
    this.#armedFor = Infinity;
    for (const attempt of [...this.#running]) {
      if (attempt.timedOut || attempt.timeoutAt > horizon) continue;
      // Still waiting for an endpoint (no connection is ready): its time has not started.
      if (!this.#sent(attempt)) {
        attempt.timeoutAt = now + policy.perAttemptTimeoutMs!;
        continue;
      }
      // Never cut the last hope: an attempt that timed out is cut only when a sibling is still
      // running or a replacement is granted now; else it runs on to the call's deadline.
      const replace = this.#running.length === 1;
      if (replace && !(this.#started < this.#maxAttempts && (!budget || budget.tryRetry()))) {
        attempt.timeoutAt = Infinity;
        continue;
      }
      attempt.timedOut = true;
      attempt.cancel.abort(attemptTimedOut(policy.perAttemptTimeoutMs!));
      if (replace) {
        this.#pending = undefined;
        this.launch('retry', undefined);
        return;
      }
    }
    const pending = this.#pending;
    if (pending?.kind === 'hedge' && pending.at <= horizon && !this.#running.some((attempt) => this.#sent(attempt))) {
      // No attempt has reached an endpoint yet: a hedge would only wait beside them.
      pending.at = now + policy.hedging!.delayMs;
    } else if (pending && pending.at <= horizon) {
      this.#pending = undefined;
      if (this.#started < this.#maxAttempts && (pending.kind === 'retry' || !budget || budget.tryRetry())) {
        this.launch(pending.kind, pending.afterFailure);
        return;
      }
    }
    this.#arm();
  };

  /** Whether the attempt went to an endpoint (always assumed without the mesh's picker to say). */
  #sent(attempt: Running): boolean {
    return attempt.hint === undefined || attempt.hint.picked() !== undefined;
  }

  /** A later attempt stays away from endpoints that failed and from those its siblings are using. */
  #avoidList(): string[] {
    const avoid = [...(this.#failedPeers ?? [])];
    for (const { hint } of this.#running) {
      const peer = hint?.picked();
      if (peer !== undefined) avoid.push(peer);
    }
    return avoid;
  }
}
