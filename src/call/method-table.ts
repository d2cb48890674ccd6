import type { MethodInfo } from './method.js';

/**
 * Per-method settings keyed like the gRPC service config's method names:
 * "orders.v1.OrderService/GetOrder" (one method), "orders.v1.OrderService" (every method of
 * the service) or "*" (everything). The most specific key wins.
 */
export type MethodTable<T> = Readonly<Record<string, T>>;

/**
 * Returns a lookup that resolves a method's value once and caches it by path, so the cost
 * per call is one Map read.
 */
export function methodLookup<T>(table: MethodTable<T> | undefined, fallback: T): (method: MethodInfo) => T;
export function methodLookup<T, R>(
  table: MethodTable<T> | undefined,
  fallback: R,
  merge: (fallback: R, specific: T[]) => R,
): (method: MethodInfo) => R;
export function methodLookup<T, R>(
  table: MethodTable<T> | undefined,
  fallback: R,
  merge?: (fallback: R, specific: T[]) => R,
): (method: MethodInfo) => R {
  const cache = new Map<string, R>();
  return (method) => {
    let value = cache.get(method.path);
    if (value === undefined && !cache.has(method.path)) {
      // Least specific first, so a merge lets the method override the service and "*".
      const matches = ['*', method.service, `${method.service}/${method.name}`]
        .map((key) => table?.[key])
        .filter((entry): entry is T => entry !== undefined);
      value = merge ? merge(fallback, matches) : ((matches.at(-1) as unknown as R | undefined) ?? fallback);
      cache.set(method.path, value);
    }
    return value as R;
  };
}
