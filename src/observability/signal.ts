/** Removes the listener it was returned for. Calling it twice is harmless. */
export type Disposer = () => void;

/**
 * One typed event stream. Components expose `onX(listener)` methods backed by a Signal, so
 * logs and metrics subscribe to behaviour instead of being sprinkled through it.
 *
 * A listener that throws never breaks the component that emitted: the error is reported
 * to `onListenerError` (default: rethrown on a later tick, like an unhandled error).
 *
 * @example
 *   const changed = new Signal<{ service: string }>();
 *   const dispose = changed.subscribe((e) => console.log(e.service));
 *   changed.emit({ service: 'orders' });
 *   dispose();
 */
export class Signal<T> {
  readonly #listeners = new Set<(event: T) => void>();

  subscribe(listener: (event: T) => void): Disposer {
    // Wrap so the same function can subscribe twice and be disposed independently.
    const entry = (event: T) => listener(event);
    this.#listeners.add(entry);
    return () => {
      this.#listeners.delete(entry);
    };
  }

  emit(event: T): void {
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch (error) {
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  }

  get listenerCount(): number {
    return this.#listeners.size;
  }
}
