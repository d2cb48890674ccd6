import { status as Status } from '@grpc/grpc-js';
import { makeStatus } from '../status.js';
import { Cancellation } from './cancellation.js';
import { deriveRequest } from './request.js';
import { finalStatus, whyNotRetry } from './retry-outcome.js';
import { retryDelay, type RetryContext } from './retry.js';
import type { AttemptHandle, AttemptRecord, MeshRequest, MeshResponse, Next } from './types.js';

interface Running {
  readonly cancel: Cancellation;
  readonly handle: AttemptHandle;
  readonly startedAt: number;
}

/**
 * Hedging for an idempotent unary call (gRPC A6): the first attempt goes out at once, another
 * after every `delayMs` without an answer, or right away when an attempt fails retryably, up
 * to `maxAttempts`. The first success wins and the others are cancelled; a non-retryable
 * failure ends the call. Each hedge is sent away from the endpoints already tried and counts
 * against the retry budget.
 *
 * This runs on every call of a hedged method, so the common case — the first attempt answers
 * before the hedge delay — allocates little: one timer, one attempt, no avoid list.
 */
export function hedge(next: Next, request: MeshRequest, context: RetryContext): Promise<MeshResponse> {
  const { policy, budget, clock, random } = context;
  const hedging = policy.hedging!;
  const maxAttempts = Math.min(hedging.maxAttempts, 1 + (budget?.retryAllowance(random) ?? Infinity));
  const attempts: AttemptRecord[] = [];
  const running: Running[] = [];
  const failedPeers: string[] = [];
  let started = 0;
  let timer: unknown;
  let settled = false;

  return new Promise<MeshResponse>((resolve) => {
    const settle = (response: MeshResponse, note?: string) => {
      if (settled) return;
      settled = true;
      clock.clearTimeout(timer);
      request.signal.removeEventListener('abort', onCallerAbort);
      // Losers are cancelled; they still count as attempts (they may have reached a server).
      const now = clock.now();
      for (const { cancel, handle, startedAt } of running) {
        cancel.abort(makeStatus(Status.CANCELLED, 'hedged attempt lost to another attempt'));
        attempts.push({ code: Status.CANCELLED, peer: handle.peer(), mayHaveReachedServer: true, durationMs: now - startedAt, hedge: true });
      }
      running.length = 0;
      resolve(finalStatus(response, attempts, now >= request.deadline, note));
    };
    const onCallerAbort = () => {
      for (const { cancel } of running) cancel.abort(request.signal.reason);
    };
    request.signal.addEventListener('abort', onCallerAbort, { once: true });

    const launch = (kind: 'first' | 'hedge' | 'retry', afterFailure?: MeshResponse) => {
      if (settled) return;
      const index = ++started;
      if (kind !== 'first') {
        context.retried.emit({
          method: request.method.path,
          attempt: index - 1,
          code: afterFailure?.status.code ?? Status.OK,
          peer: afterFailure?.peer,
          delayMs: 0,
          kind,
        });
      }
      const attempt: Running = { cancel: new Cancellation(), handle: { peer: () => undefined }, startedAt: clock.now() };
      const avoid = index === 1 ? request.avoid : avoidFor(request, failedPeers, running);
      running.push(attempt);
      const attemptDeadline = policy.perAttemptTimeoutMs
        ? Math.min(request.deadline, attempt.startedAt + policy.perAttemptTimeoutMs)
        : request.deadline;
      void next(deriveRequest(request, { signal: attempt.cancel, attempt: attempt.handle, avoid, attemptDeadline })).then((response) => {
        if (settled) return;
        running.splice(running.indexOf(attempt), 1);
        for (const record of response.attempts) attempts.push(index > 1 ? { ...record, hedge: true } : record);
        const ok = response.status.code === Status.OK;
        budget?.recordAttempt(ok);
        if (ok) return settle(response);
        const stop = whyNotRetry(response, request, policy, context.idempotencyKeyHeader, clock.now());
        if (stop !== undefined) return settle(response, stop);
        if (response.peer) failedPeers.push(response.peer);
        const wait = retryDelay(response, index, context);
        if (wait === 'stop') return settle(response, 'server pushback said not to retry');
        if (started < maxAttempts && (!budget || budget.tryRetry())) {
          // A failed hedge is replaced at once unless the server asked for a pause.
          schedule(wait > 0 && pushbackAsked(response) ? wait : 0, 'retry', response);
        } else if (running.length === 0) {
          settle(response, started < maxAttempts ? 'retry budget exhausted' : undefined);
        }
      });
      if (started < maxAttempts) schedule(hedging.delayMs, 'hedge');
    };

    const schedule = (delayMs: number, kind: 'hedge' | 'retry', afterFailure?: MeshResponse) => {
      clock.clearTimeout(timer);
      if (delayMs <= 0 && kind === 'retry') return launch(kind, afterFailure);
      timer = clock.setTimeout(() => {
        if (settled || started >= maxAttempts) return;
        if (kind === 'hedge' && budget && !budget.tryRetry()) return;
        launch(kind, afterFailure);
      }, delayMs);
    };

    launch('first');
  });
}

/** A later attempt stays away from endpoints that failed and from those its siblings are using. */
function avoidFor(request: MeshRequest, failedPeers: readonly string[], running: readonly Running[]): string[] {
  const avoid = [...(request.avoid ?? []), ...failedPeers];
  for (const { handle } of running) {
    const peer = handle.peer();
    if (peer !== undefined) avoid.push(peer);
  }
  return avoid;
}

function pushbackAsked(response: MeshResponse): boolean {
  return response.status.metadata?.get('grpc-retry-pushback-ms').length > 0;
}
