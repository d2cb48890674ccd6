import type { ClientLayer, ClientNext } from './types.js';

/**
 * Composes layers outermost first: `composeClientLayers(a, b)(next)` is `a(b(next))`, so a
 * call passes a, then b, then `next`, and the result comes back through b, then a.
 */
export function composeClientLayers(...layers: ClientLayer[]): ClientLayer {
  return (next) => layers.reduceRight<ClientNext>((inner, layer) => layer(inner), next);
}
