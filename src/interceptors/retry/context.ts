import type { status as Status } from '@grpc/grpc-js';
import type { MethodInfo } from '../../call/method.js';
import type { Clock, TimerQueue } from '../../clock.js';
import type { Signal } from '../../observability/signal.js';
import type { RetryBudget } from './budget.js';
import type { HedgeDelay } from './hedge-delay.js';
import type { HedgeLimit } from './hedge-limit.js';
import type { ResolvedRetryPolicy } from './policy.js';

export interface RetryEvent {
  readonly method: string;
  /** Attempts sent before this retry or hedge (for a plain retry, the one that failed): it is attempt + 1. */
  readonly attempt: number;
  /** The failure that asked for a retry (DEADLINE_EXCEEDED after a cut); OK for a hedge. */
  readonly code: Status;
  readonly peer: string | undefined;
  /** How long the retry waits before it is sent (0: at once). */
  readonly delayMs: number;
  readonly kind: 'retry' | 'hedge';
}

/** Everything one retrying or hedged call needs besides the call itself. */
export interface RetryContext {
  readonly policy: ResolvedRetryPolicy;
  readonly budget: RetryBudget | undefined;
  /** The client's bound on hedges in flight (undefined: none). */
  readonly hedgeLimit: HedgeLimit | undefined;
  readonly idempotencyKeyHeader: string;
  readonly random: () => number;
  readonly clock: Clock;
  /** The clock's timer queue (timerQueue(clock)), where each call waits for what is due next. */
  readonly timers: TimerQueue;
  readonly retried: Signal<RetryEvent>;
  /** Attempts carry routing hints to the mesh picker (see RetryOptions.routingHints). */
  readonly routingHints: boolean;
  /** Hears of each attempt as it starts (RetryOptions.onAttempt). */
  readonly onAttempt: ((method: MethodInfo) => void) | undefined;
  /** The adaptive hedge delay of each hedged method under this policy, by method path. */
  readonly hedgeDelays: Map<string, HedgeDelay>;
}
