import { status as Status } from '@grpc/grpc-js';
import { makeStatus } from '../status.js';
import { finalStatus, whyNotRetry } from './retry-outcome.js';
import { retryDelay, type RetryContext } from './retry.js';
import type { AttemptHandle, AttemptRecord, MeshRequest, MeshResponse, Next } from './types.js';

/**
 * Hedging for an idempotent unary call (gRPC A6): the first attempt goes out at once, another
 * after every `delayMs` without an answer, or right away when an attempt fails retryably, up
 * to `maxAttempts`. The first success wins and the others are cancelled; a non-retryable
 * failure ends the call. Each hedge is sent away from the endpoints already tried and counts
 * against the retry budget.
 */
export function hedge(next: Next, request: MeshRequest, context: RetryContext): Promise<MeshResponse> {
  const { policy, budget, clock, random } = context;
  const hedging = policy.hedging!;
  const maxAttempts = Math.min(hedging.maxAttempts, 1 + (budget?.retryAllowance(random) ?? Infinity));
  const attempts: AttemptRecord[] = [];
  const running = new Map<AbortController, { handle: AttemptHandle; startedAt: number }>();
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
      for (const [controller, { handle, startedAt }] of running) {
        controller.abort(makeStatus(Status.CANCELLED, 'hedged attempt lost to another attempt'));
        const peer = handle.peer();
        attempts.push({ code: Status.CANCELLED, peer, mayHaveReachedServer: true, durationMs: now - startedAt, hedge: true });
      }
      resolve(finalStatus(response, [...attempts], now >= request.deadline, note));
    };
    const onCallerAbort = () => {
      for (const controller of running.keys()) controller.abort(request.signal.reason);
    };
    request.signal.addEventListener('abort', onCallerAbort, { once: true });

    const launch = (kind: 'first' | 'hedge' | 'retry', afterFailure?: MeshResponse) => {
      if (settled) return;
      started++;
      const index = started;
      if (kind !== 'first') {
        context.retried.emit({
          method: request.method.path,
          attempt: index - 1,
          code: afterFailure?.status.code ?? Status.OK,
          peer: afterFailure?.peer,
          delayMs: 0,
          kind: kind === 'hedge' ? 'hedge' : 'retry',
        });
      }
      const controller = new AbortController();
      const handle: AttemptHandle = { peer: () => undefined };
      // Stay away from endpoints that failed and from those the other attempts are using.
      const avoid = [
        ...(request.avoid ?? []),
        ...failedPeers,
        ...[...running.values()].map((r) => r.handle.peer()).filter((p): p is string => p !== undefined),
      ];
      running.set(controller, { handle, startedAt: clock.now() });
      const attemptDeadline = policy.perAttemptTimeoutMs
        ? Math.min(request.deadline, clock.now() + policy.perAttemptTimeoutMs)
        : request.deadline;
      void next({ ...request, signal: controller.signal, attempt: handle, avoid, attemptDeadline }).then((response) => {
        running.delete(controller);
        if (settled) return;
        attempts.push(...response.attempts.map((a) => (index > 1 ? { ...a, hedge: true } : a)));
        budget?.recordAttempt(response.status.code === Status.OK);
        if (response.status.code === Status.OK) return settle(response);
        const stop = whyNotRetry(response, request, policy, context.idempotencyKeyHeader, clock.now());
        if (stop !== undefined) return settle(response, stop);
        if (response.peer) failedPeers.push(response.peer);
        const wait = retryDelay(response, index, context);
        if (wait === 'stop') return settle(response, 'server pushback said not to retry');
        if (started < maxAttempts && (!budget || budget.tryRetry())) {
          // A failed hedge is replaced at once unless the server asked for a pause.
          schedule(wait > 0 && pushbackAsked(response) ? wait : 0, 'retry', response);
        } else if (running.size === 0) {
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

function pushbackAsked(response: MeshResponse): boolean {
  return response.status.metadata?.get('grpc-retry-pushback-ms').length > 0;
}
