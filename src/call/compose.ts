/**
 * Composes layers outermost first — client or server ones alike, any `(next) => next'`:
 * `composeLayers(a, b)(next)` is `a(b(next))`, so a call passes a, then b, then `next`, and
 * its result comes back through b, then a (the connect-es interceptor shape).
 *
 * @example
 *   const layer = composeLayers(deadlineLayer(), retryLayer());
 */
export function composeLayers<Next>(...layers: ReadonlyArray<(next: Next) => Next>): (next: Next) => Next {
  return (next) => layers.reduceRight((inner, layer) => layer(inner), next);
}
