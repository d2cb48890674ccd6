// The layers' callback form (ClientSend) beside their promise form (ClientNext): the toolkit's
// layers carry both, a stack of them runs on callbacks — no promise, closure pair and microtask
// per layer per call — and any layer with only the promise form (a user's) is bridged.
import { composeLayers } from '../call/compose.js';
import { layerFailure } from './call.js';
import type { ClientCall, ClientLayer, ClientNext, ClientResult, ClientSend, SendLayer } from './types.js';

/** `layer` with its callback form attached. */
export function withSend<L extends (next: ClientNext) => ClientNext>(layer: L, send: SendLayer): L & { readonly send: SendLayer } {
  return Object.assign(layer, { send });
}

/** The callback form of `layer`: its own, or its promise form over a bridge (one promise per call). */
export function sendForm(layer: ClientLayer): SendLayer {
  return layer.send ?? ((next) => fromNext(layer(toNext(next))));
}

/** A ClientSend as a ClientNext. */
export function toNext(send: ClientSend): ClientNext {
  return (call) => new Promise((resolve) => send(call, resolve));
}

/** A ClientNext as a ClientSend: its result, or a layer failure for a rejection or a throw. */
export function fromNext(next: ClientNext): ClientSend {
  return (call, settle) => {
    let result;
    try {
      result = next(call);
    } catch (error) {
      soon(() => settle(layerFailure(error)));
      return;
    }
    result.then(settle, (error: unknown) => settle(layerFailure(error)));
  };
}

/**
 * Runs `task` in a microtask: how a result known at once is handed on after the send has
 * returned (ClientSend's rule). Not queueMicrotask, which makes an AsyncResource and a bound
 * function per task (≈ 0.5 µs on Node 20).
 */
export function soon(task: () => void): void {
  void resolved.then(task);
}

const resolved = Promise.resolve();

/** composeLayers for client layers, keeping the callback form: the composed layer has one too, and knows its parts. */
export function composeClientLayers(...layers: readonly ClientLayer[]): ClientLayer {
  const parts = layers.flatMap(partsOf);
  const composed = withSend(composeLayers(...layers), composeSends(parts));
  return Object.assign(composed, { [PARTS]: { parts, send: composed.send } });
}

function composeSends(layers: readonly ClientLayer[]): SendLayer {
  const sends = layers.map(sendForm);
  return (next) => sends.reduceRight((inner, layer) => layer(inner), next);
}

/**
 * What a layer that only looks at how calls end does (the call stats, the logging layer), in a
 * form the maker of a call can run itself: the grpc-js adapter runs those at the top of its
 * stack from the call object it has anyway, instead of a continuation — a closure and its
 * context — per layer per call. `startedAt` is when the call went in (performance.now()); it
 * returns the result to hand on, the same or a failure, and may throw (a layer failure).
 * Internal: what a user composes are the layers' other forms, which behave the same.
 */
export type CallObserver = (call: ClientCall, result: ClientResult, startedAt: number) => ClientResult;

const OBSERVER = Symbol('grpc-meshlite call observer');
const PARTS = Symbol('grpc-meshlite composed parts');

/** The parts of a composition, and the callback form composed of them (withSend may replace that one). */
type Parts = { readonly [PARTS]?: { readonly parts: readonly ClientLayer[]; readonly send: SendLayer } };
/** A form a maker of calls may run in a layer's place, and the callback form it stands for (withSend may replace that one). */
type HeldForm<F> = { readonly form: F; readonly send: SendLayer | undefined };

/** `layer`, which also has `form` (under `key`) doing what its callback form does. */
function withForm<L extends ClientLayer, F>(layer: L, key: symbol, form: F): L {
  const held: HeldForm<F> = { form, send: layer.send };
  return Object.assign(layer, { [key]: held });
}

/** The form `layer` has under `key`, unless its callback form is no longer the one it stands for. */
function formOf<F>(layer: ClientLayer, key: symbol): F | undefined {
  const held = (layer as unknown as Readonly<Record<symbol, HeldForm<F> | undefined>>)[key];
  return held?.send === layer.send ? held?.form : undefined;
}

/** `layer`, which also has an observer form (CallObserver) doing what its callback form does. */
export function withObserver<L extends ClientLayer>(layer: L, observer: CallObserver): L {
  return withForm(layer, OBSERVER, observer);
}

/** The parts `layer` was composed of, or itself: a composition whose callback form was replaced is one part. */
function partsOf(layer: ClientLayer): readonly ClientLayer[] {
  const composed = (layer as Parts)[PARTS];
  return composed !== undefined && composed.send === layer.send ? composed.parts : [layer];
}

/** A call its maker made and still holds alone: a prelude may set its fields. */
export type OwnCall = { -readonly [K in keyof ClientCall]: ClientCall[K] };

/**
 * What a layer that only readies a call does (the route layer matching the call's route, the
 * deadline layer setting its deadline), in a form the maker of a call can run as it makes the
 * call: `ready` sets the field `sets` of the call in place and returns undefined for it to go
 * on, or the result that ends it at once; `sent` runs after the call has gone on below, or
 * after a prelude under this one ended it (the route's mirror), as the layer's own code after
 * its `next` does. The grpc-js adapter runs them right under its observers on the one call
 * object it made, instead of each layer copying the call. Internal, as CallObserver is.
 */
export interface CallPrelude {
  readonly sets: keyof OwnCall;
  readonly ready: (call: OwnCall) => ClientResult | undefined;
  readonly sent?: (call: ClientCall) => void;
}

const PRELUDE = Symbol('grpc-meshlite call prelude');

/** `layer`, which also has a prelude form (CallPrelude) doing what its callback form does. */
export function withPrelude<L extends ClientLayer>(layer: L, prelude: CallPrelude): L {
  return withForm(layer, PRELUDE, prelude);
}

/**
 * What a layer that lets a call through and counts how it ended does (the closed circuit
 * breaker), in a form the maker of a call can run itself: `admit` lets the call go on below
 * and returns a token, which the maker hands back with the call's result to `ended` (which
 * returns the result to hand on) or, when a layer below threw instead of answering, to
 * `thrown`; undefined leaves the call to the layer's callback form (an open breaker refuses
 * it, a half-open one lets its probe go). The grpc-js adapter runs it right under its
 * preludes and keeps the token on the call object it has anyway, instead of a continuation
 * (a closure and its context) per call. Internal, as CallObserver is.
 */
export interface CallGuard<Token = unknown> {
  readonly admit: (call: ClientCall) => Token | undefined;
  readonly ended: (token: Token, result: ClientResult) => ClientResult;
  readonly thrown: (token: Token, error: unknown) => void;
}

const GUARD = Symbol('grpc-meshlite call guard');

/** `layer`, which also has a guard form (CallGuard) doing what its callback form does. */
export function withGuard<L extends ClientLayer, Token>(layer: L, guard: CallGuard<Token>): L {
  return withForm(layer, GUARD, guard);
}

/** The layers under the preludes, as one chain: `all` from the guard's layer on (when there is a guard), `admitted` below it. */
export interface BelowPreludes {
  readonly all: ClientSend;
  readonly admitted: ClientSend;
}

/**
 * `layer` split for a maker of calls that runs the first layers itself: the observer forms of
 * its outermost parts, as long as they have one (outermost first); then the prelude forms of
 * the parts after them, as long as they have one and set a field no earlier one sets; then the
 * guard form of the next part, if it has one; and `below`, which makes the chain of the rest
 * over `next` once (`admitted` starts under the guard's layer, for the calls it admits). The
 * observers see the call as it goes on below the preludes (the toolkit's observers read none
 * of the fields a prelude sets), and its result as the layers below handed it on.
 */
export function leadingForms(layer: ClientLayer): {
  readonly observers: readonly CallObserver[];
  readonly preludes: readonly CallPrelude[];
  readonly guard: CallGuard | undefined;
  readonly below: (next: ClientSend) => BelowPreludes;
} {
  const parts = partsOf(layer);
  const observers: CallObserver[] = [];
  const preludes: CallPrelude[] = [];
  let taken = 0;
  for (; taken < parts.length; taken++) {
    const observer = preludes.length === 0 ? formOf<CallObserver>(parts[taken]!, OBSERVER) : undefined;
    if (observer !== undefined) {
      observers.push(observer);
      continue;
    }
    const prelude = formOf<CallPrelude>(parts[taken]!, PRELUDE);
    if (prelude === undefined || preludes.some((earlier) => earlier.sets === prelude.sets)) break;
    preludes.push(prelude);
  }
  const guarded = taken < parts.length ? parts[taken] : undefined;
  const guard = guarded === undefined ? undefined : formOf<CallGuard>(guarded, GUARD);
  const below = (next: ClientSend): BelowPreludes => {
    if (guard === undefined) {
      const all = (taken === 0 ? sendForm(layer) : composeSends(parts.slice(taken)))(next);
      return { all, admitted: all };
    }
    // Each layer under the guard's is made once, for both ways in.
    const admitted = composeSends(parts.slice(taken + 1))(next);
    return { all: sendForm(guarded!)(admitted), admitted };
  };
  return { observers, preludes, guard, below };
}

/** The result `observers` (outermost first) hand on for `call`'s `result`: the innermost sees it first. */
export function observed(observers: readonly CallObserver[], call: ClientCall, result: ClientResult, startedAt: number): ClientResult {
  for (let i = observers.length - 1; i >= 0; i--) {
    try {
      result = observers[i]!(call, result, startedAt);
    } catch (error) {
      // An observer that throws fails the call, as the layer's rejection does.
      result = layerFailure(error);
    }
  }
  return result;
}
