/**
 * `{ ...source, [key]: value }`, written the way V8 keeps fast: an object literal with a
 * computed key *after* a spread leaves its fast path (about 1 µs a time on Node 20, against
 * tens of ns with the key first). The key first is the same object unless `source` has the
 * key already, which then takes the slow form so that `value` still wins.
 */
export function withKey<T extends object, K extends PropertyKey, V>(source: T, key: K, value: V): T & { [P in K]: V } {
  return (Object.hasOwn(source, key) ? { ...source, [key]: value } : { [key]: value, ...source }) as T & { [P in K]: V };
}
