/**
 * Composes layers outermost first — client or server ones alike, any `(next) => next'`:
 * `composeLayers(a, b)(next)` is `a(b(next))`, so a call passes a, then b, then `next`, and
 * its result comes back through b, then a (the connect-es interceptor shape).
 *
 * @example
 *   const layer = composeLayers(deadlineLayer(), retryLayer());
 */
export function composeLayers<Next>(...layers: ReadonlyArray<(next: Next) => Next>): (next: Next) => Next {
  const composed = (next: Next) => layers.reduceRight((inner, layer) => layer(inner), next);
  // Client layers may carry a callback form too (`send`): composed when every layer has one.
  const sends = layers.map((layer) => (layer as { send?: unknown }).send);
  if (sends.length === 0 || !sends.every((send) => typeof send === 'function')) return composed;
  const forms = sends as Array<(next: unknown) => unknown>;
  return Object.assign(composed, { send: (next: unknown) => forms.reduceRight((inner, send) => send(inner), next) });
}
