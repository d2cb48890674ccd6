// The caller's side of a status page (`linkerd viz stat`'s line): every call as the caller saw
// it end — retried, hedged, refused by the breaker or failed for want of an endpoint — with
// why it failed. Outermost in the stack, so the latency is what the caller waited.
import { statusName, UNHEALTHY_CODE_SET } from '../call/status.js';
import { meshCallInfo } from './call-info.js';
import { layerFailure } from './call.js';
import { withObserver, withSend } from './send.js';
import type { ClientLayer, ClientResult } from './types.js';

/** Where a call's outcome goes: `failure` says why it failed (undefined: it did not), `durationMs` how long the caller waited. */
export type CallRecorder = (failure: string | undefined, durationMs: number) => void;

// The words of the picker's refusals, for a service or a route's subset with nothing usable
// (balancer.ts, routing-picker.ts): they reach the layers as a grpc-js status, which carries
// no mesh account (the breaker's refusal does: its stoppedBecause). Anchored: a backend's own
// "no usable endpoint" (a mesh client itself), passed on, is not ours.
const NO_ENDPOINT = /^no usable endpoint for |^no endpoints for |^route "[^"]*": subset "[^"]*" has no usable endpoint/;

/**
 * Why a call failed, in a few stable words for a column: the code, and the mesh's reason when
 * it has one — "UNAVAILABLE: circuit breaker open", "UNAVAILABLE: no usable endpoint",
 * "DEADLINE_EXCEEDED: the call's deadline passed", "UNAVAILABLE: retry budget exhausted";
 * the code alone when the attempts ran out. Undefined when the call did not fail.
 */
export function callFailure(result: ClientResult): string | undefined {
  const { code, details } = result.status;
  if (!UNHEALTHY_CODE_SET.has(code)) return undefined;
  const name = statusName(code);
  if (NO_ENDPOINT.test(details)) return `${name}: no usable endpoint`;
  const stopped = meshCallInfo(result.status)?.stoppedBecause;
  return stopped === undefined ? name : `${name}: ${stopped}`;
}

/**
 * Hands each call's outcome to `recorder()`, asked per call: it steps aside (one function call)
 * while that gives nothing — the mesh's admin server gives one only while it runs.
 *
 * @example
 *   callStatsLayer(() => (failure, ms) => console.log(failure ?? 'ok', ms))
 */
export function callStatsLayer(recorder: () => CallRecorder | undefined): ClientLayer {
  const layer = withSend(
    (next) => (call) => {
      const record = recorder();
      if (!record) return next(call);
      const started = performance.now();
      return next(call).then((result) => recorded(record, result, started));
    },
    (next) => (call, done) => {
      const record = recorder();
      if (!record) return next(call, done);
      const started = performance.now();
      next(call, (result) => {
        let reported: ClientResult;
        try {
          reported = recorded(record, result, started);
        } catch (error) {
          // A recorder that throws fails the call as the promise form's rejection does.
          reported = layerFailure(error);
        }
        done(reported);
      });
    },
  );
  // Run by the grpc-js adapter: the recorder is asked as the call ends.
  return withObserver(layer, (_call, result, startedAt) => {
    const record = recorder();
    return record ? recorded(record, result, startedAt) : result;
  });
}

function recorded(record: CallRecorder, result: ClientResult, started: number): ClientResult {
  record(callFailure(result), performance.now() - started);
  return result;
}
