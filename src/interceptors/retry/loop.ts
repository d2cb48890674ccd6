import { status as Status } from '@grpc/grpc-js';
import { sleep } from '../../clock.js';
import { RoutingHint } from '../../call/routing-hint.js';
import { abortStatus, deriveCall, failedResult } from '../call.js';
import type { AttemptRecord, ClientCall, ClientNext, ClientResult, ResponseSink } from '../types.js';
import { AttemptTimeout } from './attempt-timeout.js';
import type { RetryContext } from './context.js';
import { finalStatus, NOT_SAFE_TO_REPEAT, retryDelay, safeToRepeat, whyNotRetry } from './outcome.js';

/**
 * Attempts one after another: after a retryable failure, a full-jitter pause (or the
 * server's pushback), then another attempt that avoids the endpoints that failed, while the
 * call has time, attempts and budget left.
 */
export async function retryLoop(next: ClientNext, call: ClientCall, context: RetryContext): Promise<ClientResult> {
  const { policy, budget, clock, random } = context;
  const attempts: AttemptRecord[] = [];
  const avoid: string[] = [];
  const maxAttempts = Math.min(policy.maxAttempts, 1 + (budget?.retryAllowance(random) ?? Infinity));
  // A server stream is committed once a message reached the caller: no retry after that.
  let delivered = false;
  const sink: ResponseSink =
    call.method.kind === 'server_stream'
      ? {
          headers: (metadata) => call.sink.headers(metadata),
          message: (message) => {
            delivered = true;
            call.sink.message(message);
          },
        }
      : call.sink;

  for (let attempt = 1; ; attempt++) {
    // With the mesh's picker, a timed attempt carries a hint too: it says whether it was sent.
    const hint =
      context.routingHints && (avoid.length > 0 || policy.perAttemptTimeoutMs !== undefined) ? RoutingHint.create(avoid) : undefined;
    // Cut at the per-attempt timeout only when another attempt is granted (its budget taken
    // now); otherwise this attempt is the call's last hope and runs on to the deadline.
    const mayCut = () =>
      attempt < maxAttempts &&
      !delivered &&
      safeToRepeat(call, policy, context.idempotencyKeyHeader) &&
      clock.now() < call.deadline &&
      (!budget || budget.tryRetry());
    const timeout =
      policy.perAttemptTimeoutMs === undefined
        ? undefined
        : new AttemptTimeout(
            call.signal,
            policy.perAttemptTimeoutMs,
            call.deadline,
            clock,
            mayCut,
            () => hint === undefined || hint.picked() !== undefined,
          );
    const result = await next(deriveCall(call, { hint, sink, signal: timeout?.signal ?? call.signal }));
    timeout?.stop();
    hint?.release();
    attempts.push(...result.attempts);
    budget?.recordAttempt(result.status.code === Status.OK);

    const now = clock.now();
    const granted = timeout?.timedOut ?? false;
    let stop = whyNotRetry(result, call, policy, context.idempotencyKeyHeader, granted);
    // A stream that delivered messages is committed, whatever else would have allowed a retry.
    if (delivered && (stop === undefined || stop === NOT_SAFE_TO_REPEAT)) stop = 'the stream already delivered messages';
    if (stop === undefined && attempt >= maxAttempts) stop = attempt < policy.maxAttempts ? 'retry allowance tapered' : '';
    const wait = stop === undefined ? (granted ? 0 : retryDelay(result, attempt, context)) : undefined;
    if (stop === undefined && wait === 'stop') stop = 'server pushback said not to retry';
    const delayMs = typeof wait === 'number' ? wait : 0;
    if (stop === undefined && now + delayMs >= call.deadline) stop = 'no time left before the deadline';
    if (stop === undefined && !granted && budget && !budget.tryRetry()) stop = 'retry budget exhausted';
    if (stop !== undefined) return finalStatus(result, attempts, stop || undefined);

    context.retried.emit({ method: call.method.path, attempt, code: result.status.code, peer: result.peer, delayMs, kind: 'retry' });
    if (result.peer && !avoid.includes(result.peer)) avoid.push(result.peer);
    try {
      await sleep(delayMs, call.signal, clock);
    } catch {
      return finalStatus(failedResult(abortStatus(call.signal), attempts), attempts, undefined);
    }
  }
}
