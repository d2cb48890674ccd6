import { ConfigError, errorText } from '../errors.js';
import { formatPath } from './validate.js';

/** Items an array of config may hold: far above any real endpoint list, far below a hang. */
export const MAX_CONFIG_ITEMS = 100_000;
/** Nesting a config may have: the mesh config's deepest field is a few levels down. */
const MAX_CONFIG_DEPTH = 64;
/** Objects and arrays a config may hold in all: 10,000 endpoints are about 20,000. */
const MAX_CONFIG_NODES = 1_000_000;

/**
 * A copy of a config value given in code as plain data — what `JSON.parse` would have given
 * for the same document: own enumerable string keys, arrays, strings, numbers, booleans and
 * null. The schema then reads only the copy, so what would crash or hang it is refused here
 * with a ConfigError naming the field: a value that refers back to itself (zod recurses until
 * the stack overflows), a getter or a Proxy trap that throws, an array whose length runs to
 * billions (zod visits every hole), a function or a class instance where data belongs.
 * An object that inherits keys (a class instance, `Object.create(defaults)`) is refused too:
 * what it inherits would be silently lost, as JSON.stringify loses it.
 */
export function plainConfigData(input: unknown, what: string): unknown {
  const ancestors: object[] = [];
  // A value found at several places is copied once: walked once per path, a value shared
  // down a chain of objects would take exponential time.
  const copies = new WeakMap<object, unknown>();
  let nodes = 0;
  const copy = (value: unknown, path: PropertyKey[]): unknown => {
    const type = typeof value;
    if (value === null || value === undefined || type === 'string' || type === 'boolean' || type === 'number') return value;
    if (type !== 'object') return refuse(path, undefined, `expected plain data (JSON), got a ${type}`);
    const object = value;
    if (ancestors.includes(object)) return refuse(path, undefined, 'refers back to a value that contains it: a config is a tree');
    if (copies.has(object)) return copies.get(object);
    if (ancestors.length >= MAX_CONFIG_DEPTH) return refuse(path, undefined, `nests deeper than ${MAX_CONFIG_DEPTH} levels`);
    if (++nodes > MAX_CONFIG_NODES)
      return refuse(path, undefined, `makes the config hold more than ${MAX_CONFIG_NODES} objects and arrays`);
    ancestors.push(object);
    try {
      const made = read(() => Array.isArray(object), path) ? copyArray(object as unknown[], path) : copyObject(object, path);
      copies.set(object, made);
      return made;
    } finally {
      ancestors.pop();
    }
  };
  const copyArray = (array: unknown[], path: PropertyKey[]): unknown[] => {
    const length = read(() => array.length, path);
    if (length > MAX_CONFIG_ITEMS) return refuse(path, undefined, `has ${length} items; at most ${MAX_CONFIG_ITEMS}`);
    const out: unknown[] = [];
    for (let i = 0; i < length; i++)
      out.push(
        copy(
          read(() => array[i], [...path, i]),
          [...path, i],
        ),
      );
    return out;
  };
  const copyObject = (object: object, path: PropertyKey[]): Record<string, unknown> => {
    const prototype = read(() => Object.getPrototypeOf(object) as unknown, path);
    if (prototype !== Object.prototype && prototype !== null) {
      const kind = (prototype as { constructor?: { name?: unknown } }).constructor?.name;
      const got =
        kind === 'Object'
          ? 'one that inherits keys from another object'
          : typeof kind === 'string' && kind
            ? `a ${kind}`
            : 'an object with a prototype';
      return refuse(path, undefined, `expected a plain object, got ${got}`);
    }
    const out: Record<string, unknown> = {};
    for (const key of read(() => Object.keys(object), path)) {
      const value = read(() => (object as Record<string, unknown>)[key], [...path, key]);
      if (value !== undefined) out[key] = copy(value, [...path, key]);
    }
    return out;
  };
  const read = <T>(get: () => T, path: PropertyKey[]): T => {
    try {
      return get();
    } catch (error) {
      return refuse(path, undefined, `could not be read: ${errorText(error)}`);
    }
  };
  const refuse = (path: PropertyKey[], value: unknown, problem: string): never => {
    const field = formatPath(path);
    throw new ConfigError(field, value, `invalid ${what}: ${field === '' ? 'the value' : field} ${problem}`);
  };
  return copy(input, []);
}
