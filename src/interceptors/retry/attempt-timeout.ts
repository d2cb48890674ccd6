import { status as Status } from '@grpc/grpc-js';
import { setTimer, type Clock } from '../../clock.js';
import { Cancellation, type CancelSignal } from '../../call/cancellation.js';
import { makeStatus } from '../../call/status.js';

/**
 * The per-attempt timeout of a retried call. The attempt runs with its own cancel signal,
 * aborted when the caller cancels or when the attempt has had `ms` — but only if `mayCut`
 * says another attempt will follow. The last hope of a call is never cut: it runs on to the
 * call's deadline, because a slow answer beats a failure. An attempt still waiting for an
 * endpoint (`sent` says no) is not cut either: its time counts from the moment it could be
 * sent. The attempt goes to grpc-js with the whole call's deadline, so the cut is the retry
 * layer's decision, made on its clock. No timer is set when the call's own deadline comes first.
 */
export class AttemptTimeout {
  readonly signal = new Cancellation();
  #timedOut = false;
  readonly #caller: CancelSignal;
  readonly #clock: Clock;
  #timer: unknown;

  constructor(caller: CancelSignal, ms: number, deadline: number, clock: Clock, mayCut: () => boolean, sent: () => boolean) {
    this.#caller = caller;
    this.#clock = clock;
    caller.addEventListener('abort', this.#forward, { once: true });
    if (caller.aborted) this.#forward();
    const arm = () => {
      this.#timer = clock.now() + ms < deadline ? setTimer(clock, () => (sent() ? mayCut() && this.#expire(ms) : arm()), ms) : undefined;
    };
    arm();
  }

  /** True once the attempt was cut by this timeout (a next attempt has been granted). */
  get timedOut(): boolean {
    return this.#timedOut;
  }

  /** The attempt ended: no cut will follow. */
  stop(): void {
    this.#clock.clearTimeout(this.#timer);
    this.#caller.removeEventListener('abort', this.#forward);
  }

  readonly #forward = (): void => this.signal.abort(this.#caller.reason);

  #expire(ms: number): void {
    this.#timedOut = true;
    this.signal.abort(attemptTimedOut(ms));
  }
}

/** The status of an attempt cut by its per-attempt timeout. */
export function attemptTimedOut(ms: number) {
  return makeStatus(Status.DEADLINE_EXCEEDED, `attempt timed out after ${ms} ms`);
}
