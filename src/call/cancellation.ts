/**
 * The part of AbortSignal the client layers use. A real AbortSignal is one, so a layer or a
 * test may pass one; the adapter and the hedging layer use the lighter Cancellation, since
 * creating an AbortSignal and adding a listener costs microseconds on every call.
 */
export interface CancelSignal {
  readonly aborted: boolean;
  readonly reason: unknown;
  addEventListener(type: 'abort', listener: () => void, options?: { once?: boolean }): void;
  removeEventListener(type: 'abort', listener: () => void): void;
}

/** addEventListener's `{ once: true }`, made once rather than on every call of every attempt. */
export const ONCE: { readonly once: true } = Object.freeze({ once: true });

/**
 * An abort listener that is an object, as EventTarget takes one (`handleEvent`): an object
 * that is already there per call (an attempt) listens without a closure of its own.
 */
export interface AbortHandler {
  handleEvent(): void;
}

/**
 * What listenForAbort registered, for stopListening: the handler itself on a signal that takes
 * listener objects (a Cancellation, an AbortSignal), else a function made for it (a layer's own
 * CancelSignal). Its holder keeps it rather than a table mapping handlers to functions: a
 * WeakMap entry per call made such a table cost about 13 µs a call (the retry engine in
 * bench/layers-alone.ts, whose caller's signal takes only functions).
 */
export type AbortListener = AbortHandler | (() => void);

/** `handler` hears `signal` abort, once; returns the listener to stop with. */
export function listenForAbort(signal: CancelSignal, handler: AbortHandler): AbortListener {
  const listener = signal instanceof Cancellation || signal instanceof AbortSignal ? handler : () => handler.handleEvent();
  (signal as ListenerSignal).addEventListener('abort', listener, ONCE);
  return listener;
}

/** Undoes listenForAbort (`listener` is what it returned). */
export function stopListening(signal: CancelSignal, listener: AbortListener): void {
  (signal as ListenerSignal).removeEventListener('abort', listener);
}

/** A CancelSignal as listenForAbort calls it: with the listener it made for the signal's kind. */
type ListenerSignal = {
  addEventListener(type: 'abort', listener: AbortListener, options?: { once?: boolean }): void;
  removeEventListener(type: 'abort', listener: AbortListener): void;
};

/**
 * A one-shot cancel signal with AbortSignal's semantics for the subset above: listeners run
 * once, in order, when `abort` is first called; a listener added after that never runs.
 */
export class Cancellation implements CancelSignal {
  #aborted = false;
  #reason: unknown;
  /**
   * The listeners: one held as itself (a call's signal usually has one or two — the attempt
   * and the retry engine — and an array for them was ~50 B a signal), more in an array.
   */
  #listeners: Listener | Listener[] | undefined;

  get aborted(): boolean {
    return this.#aborted;
  }

  get reason(): unknown {
    return this.#reason;
  }

  addEventListener(_type: 'abort', listener: Listener): void {
    if (this.#aborted) return;
    const listeners = this.#listeners;
    if (listeners === undefined) this.#listeners = listener;
    // [a, b], not [] and pushes: an empty array's first push makes room for 17.
    else if (Array.isArray(listeners)) listeners.push(listener);
    else this.#listeners = [listeners, listener];
  }

  removeEventListener(_type: 'abort', listener: Listener): void {
    const listeners = this.#listeners;
    if (listeners === listener) {
      this.#listeners = undefined;
      return;
    }
    if (!Array.isArray(listeners)) return;
    const index = listeners.indexOf(listener);
    if (index < 0) return;
    // Not splice, which makes an array of what it removed (on every call of every attempt).
    for (let i = index; i < listeners.length - 1; i++) listeners[i] = listeners[i + 1]!;
    listeners.pop();
  }

  abort(reason?: unknown): void {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#reason = reason ?? new DOMException('This operation was aborted', 'AbortError');
    const listeners = this.#listeners;
    this.#listeners = undefined;
    if (listeners === undefined) return;
    if (!Array.isArray(listeners)) return run(listeners);
    for (const listener of listeners) run(listener);
  }
}

type Listener = (() => void) | AbortHandler;

function run(listener: Listener): void {
  if (typeof listener === 'function') listener();
  else listener.handleEvent();
}
