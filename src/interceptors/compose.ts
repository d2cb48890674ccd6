import type { Interceptor, Next } from './types.js';

/**
 * Composes layers outermost first: `composeInterceptors(a, b)(next)` is `a(b(next))`, so a
 * request passes a, then b, then `next`, and the response comes back through b, then a.
 */
export function composeInterceptors(...layers: Interceptor[]): Interceptor {
  return (next) => layers.reduceRight<Next>((inner, layer) => layer(inner), next);
}
