// A route's fault, per attempt, with gRPC A33's semantics: first the delay (a fixed time for a
// share of the attempts), then the abort (a status for a share, the attempt never sent). The
// delay comes before the attempt is sent, so it runs on the call's deadline and ends at the
// caller's cancel; like an attempt waiting for an endpoint, it is not cut by a per-attempt
// timeout nor hedged. Unlike A33, which faults a call once, every attempt draws anew, and the
// attempts a fault sent to another destination meet it no more (CallRoute): a retry may hide
// an injected failure, which is what a fault is there to prove.
import { status as Status, type StatusObject } from '@grpc/grpc-js';
import { makeStatus, statusName } from '../../call/status.js';
import { setTimer, type Clock } from '../../clock.js';
import { abortStatus, failedResult } from '../call.js';
import type { ClientCall, ClientNext, ClientResult, RouteAction } from '../types.js';

type Fault = NonNullable<RouteAction['fault']>;

/** Whether this attempt is among `percent` of them; draws only when the answer is not certain. */
function hits(percent: number, random: () => number): boolean {
  return percent >= 100 || (percent > 0 && random() * 100 < percent);
}

/**
 * Sends `call` (an attempt of a routed call going to `subset`) through `next` after its
 * route's fault: delayed, aborted, both or neither, as the draws from `random` say (the delay's
 * first, then the abort's, each only when its percentage is strictly between 0 and 100).
 */
export function withFault(
  next: ClientNext,
  call: ClientCall,
  subset: string | undefined,
  fault: Fault,
  random: () => number,
  clock: Clock,
): Promise<ClientResult> {
  const { delay, abort } = fault;
  const delayed = delay !== undefined && hits(delay.percent, random);
  const aborted = abort !== undefined && hits(abort.percent, random);
  if (!delayed && !aborted) return next(call);
  const startedAt = performance.now();
  const abortNow = (): Promise<ClientResult> => {
    call.route?.faulted(subset);
    const name = call.route?.route.name;
    const where = subset === undefined ? '' : ` on its way to subset ${subset}`;
    const details = `${statusName(abort!.code)} injected by route "${name}"${where} (fault.abort, ${abort!.percent} % of its attempts); not sent`;
    return Promise.resolve(notSent(makeStatus(abort!.code, details), startedAt));
  };
  if (!delayed) return abortNow();
  return afterDelay(next, call, delay.ms, clock, startedAt, aborted ? abortNow : undefined);
}

/** The attempt once its delay is over: aborted (`abortNow`) or sent; or ended during the delay. */
async function afterDelay(
  next: ClientNext,
  call: ClientCall,
  ms: number,
  clock: Clock,
  startedAt: number,
  abortNow: (() => Promise<ClientResult>) | undefined,
): Promise<ClientResult> {
  const ended = await delayOf(call, ms, clock);
  if (ended !== undefined) return notSent(ended, startedAt);
  return abortNow ? abortNow() : next(call);
}

/** The result of an attempt the fault ended: it never left the client, so any method may repeat it. */
function notSent(status: StatusObject, startedAt: number): ClientResult {
  const durationMs = performance.now() - startedAt;
  return failedResult(status, [{ code: status.code, peer: undefined, mayHaveReachedServer: false, startedAt, durationMs }]);
}

/**
 * Waits `ms` on `clock` before the attempt goes on; resolves undefined then, or with the
 * status that ended the attempt first: the attempt's cancel (the caller's, a hedge won, …) or
 * its deadline (DEADLINE_EXCEEDED, when it comes before the delay is over). No timer outlives it.
 */
function delayOf(call: ClientCall, ms: number, clock: Clock): Promise<StatusObject | undefined> {
  return new Promise((resolve) => {
    const { signal } = call;
    if (signal.aborted) return resolve(abortStatus(signal));
    const now = clock.now();
    const deadlineFirst = call.deadline - now <= ms;
    const onAbort = () => {
      clock.clearTimeout(timer);
      resolve(abortStatus(signal));
    };
    const timer = setTimer(
      clock,
      () => {
        signal.removeEventListener('abort', onAbort);
        const route = call.route?.route.name;
        resolve(
          deadlineFirst
            ? makeStatus(Status.DEADLINE_EXCEEDED, `deadline exceeded during the ${ms} ms delay injected by route "${route}"; not sent`)
            : undefined,
        );
      },
      deadlineFirst ? call.deadline - now : ms,
    );
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
