import { status as Status } from '@grpc/grpc-js';
import { systemClock, sleep, type Clock } from '../clock.js';
import { Signal, type Disposer } from '../observability/signal.js';
import { abortStatus, failedResponse } from './adapter.js';
import { fullJitterDelay } from './backoff.js';
import { hedge } from './hedge.js';
import { deriveRequest } from './request.js';
import { finalStatus, pushback, whyNotRetry } from './retry-outcome.js';
import { RetryBudget, type RetryBudgetOptions } from './retry-budget.js';
import { retryPolicyLookup, type ResolvedRetryPolicy, type RetryPolicy } from './retry-policy.js';
import type { AttemptRecord, Interceptor, MeshRequest, MeshResponse, Next, ResponseSink } from './types.js';

export interface RetryOptions extends RetryPolicy {
  /** Per service or method overrides, e.g. { "orders.v1.OrderService/GetOrder": { idempotent: true } }. */
  methods?: Readonly<Record<string, RetryPolicy>>;
  /** A call carrying this metadata key is safe to repeat. Default "idempotency-key". */
  idempotencyKeyHeader?: string;
  /**
   * Retry budget shared by every call through this interceptor (one per client). Pass
   * options, a RetryBudget to share one wider, or false to turn budgeting off. Default on
   * with RETRY_BUDGET_DEFAULTS.
   */
  budget?: RetryBudget | RetryBudgetOptions | false;
  random?: () => number;
  clock?: Clock;
}

export interface RetryEvent {
  readonly method: string;
  /** The attempt that failed (1-based); the next one is attempt + 1. */
  readonly attempt: number;
  readonly code: Status;
  readonly peer: string | undefined;
  readonly delayMs: number;
  readonly kind: 'retry' | 'hedge';
}

export type RetryInterceptor = Interceptor & {
  /** Fires before each retry or hedge is sent. */
  onRetry(listener: (event: RetryEvent) => void): Disposer;
  readonly budget: RetryBudget | undefined;
};

/** Everything one retrying call needs besides the request. */
export interface RetryContext {
  readonly policy: ResolvedRetryPolicy;
  readonly budget: RetryBudget | undefined;
  readonly idempotencyKeyHeader: string;
  readonly random: () => number;
  readonly clock: Clock;
  readonly retried: Signal<RetryEvent>;
}

/**
 * Retries failed attempts with full-jitter backoff, within a per-client budget, and only
 * when a repeat is safe. Each attempt gets its own deadline (perAttemptTimeoutMs) and the
 * addresses of endpoints that already failed, so the mesh balancer can pick another.
 *
 * @example
 *   retryInterceptor({ maxAttempts: 3, perAttemptTimeoutMs: 200,
 *     methods: { 'orders.v1.OrderService/GetOrder': { idempotent: true, hedging: { delayMs: 50 } } } })
 */
export function retryInterceptor(options: RetryOptions = {}): RetryInterceptor {
  const { methods, idempotencyKeyHeader = 'idempotency-key', budget, random = Math.random, clock = systemClock, ...base } =
    options;
  const policyFor = retryPolicyLookup(base, methods, 'retry options');
  const sharedBudget =
    budget === false ? undefined : budget instanceof RetryBudget ? budget : new RetryBudget({ clock, ...budget });
  const retried = new Signal<RetryEvent>();

  const interceptor: Interceptor = (next) => (request) => {
    const context: RetryContext = {
      policy: policyFor(request.method),
      budget: sharedBudget,
      idempotencyKeyHeader,
      random,
      clock,
      retried,
    };
    sharedBudget?.recordRequest();
    const { policy } = context;
    if (policy.hedging && policy.idempotent && request.method.kind === 'unary') return hedge(next, request, context);
    return retryLoop(next, request, context);
  };
  return Object.assign(interceptor, {
    onRetry: (listener: (event: RetryEvent) => void) => retried.subscribe(listener),
    budget: sharedBudget,
  });
}

async function retryLoop(next: Next, request: MeshRequest, context: RetryContext): Promise<MeshResponse> {
  const { policy, budget, clock, random } = context;
  const attempts: AttemptRecord[] = [];
  const avoid = [...(request.avoid ?? [])];
  const maxAttempts = Math.min(policy.maxAttempts, 1 + (budget?.retryAllowance(random) ?? Infinity));
  // A server stream is committed once a message reached the caller: no retry after that.
  let delivered = false;
  const sink: ResponseSink =
    request.method.kind === 'server_stream'
      ? {
          headers: (metadata) => request.sink.headers(metadata),
          message: (message) => {
            delivered = true;
            request.sink.message(message);
          },
        }
      : request.sink;

  for (let attempt = 1; ; attempt++) {
    const attemptDeadline = policy.perAttemptTimeoutMs
      ? Math.min(request.deadline, clock.now() + policy.perAttemptTimeoutMs)
      : request.deadline;
    const response = await next(deriveRequest(request, { attemptDeadline, avoid, sink }));
    attempts.push(...response.attempts);
    budget?.recordAttempt(response.status.code === Status.OK);

    const now = clock.now();
    let stop = whyNotRetry(response, request, policy, context.idempotencyKeyHeader, now);
    if (stop === undefined && delivered) stop = 'the stream already delivered messages';
    if (stop === undefined && attempt >= maxAttempts) stop = attempt < policy.maxAttempts ? 'retry allowance tapered' : '';
    const wait = stop === undefined ? retryDelay(response, attempt, context) : undefined;
    if (stop === undefined && wait === 'stop') stop = 'server pushback said not to retry';
    const delayMs = typeof wait === 'number' ? wait : 0;
    if (stop === undefined && now + delayMs >= request.deadline) stop = 'no time left before the deadline';
    if (stop === undefined && budget && !budget.tryRetry()) stop = 'retry budget exhausted';
    if (stop !== undefined) return finalStatus(response, attempts, now >= request.deadline, stop || undefined);

    context.retried.emit({
      method: request.method.path,
      attempt,
      code: response.status.code,
      peer: response.peer,
      delayMs,
      kind: 'retry',
    });
    if (response.peer && !avoid.includes(response.peer)) avoid.push(response.peer);
    try {
      await sleep(delayMs, request.signal, clock);
    } catch {
      return finalStatus(failedResponse(abortStatus(request.signal), attempts), attempts, false, undefined);
    }
  }
}

/** Backoff before the next attempt: the server's pushback when it sent one, else full jitter. */
export function retryDelay(response: MeshResponse, attempt: number, context: RetryContext): number | 'stop' {
  const told = pushback(response.status);
  if (told !== undefined) return told;
  return fullJitterDelay(attempt, context.policy.backoff, context.random);
}
