// The ranges every duration and count of the config and the options is held to. Durations
// stay far inside what Node's timers hold (2³¹−1 ms), with a floor where a smaller value
// would be an attack on a backend rather than a setting; weights stay where the scheduler's
// arithmetic is exact. The README's config tables give each field's range.
import * as z from 'zod/mini';

export const SECOND = 1000;
export const MINUTE = 60 * SECOND;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;

/** A duration in ms, from `min` to `max` (fractions of a ms allowed). */
export function durationMs(min: number, max: number) {
  return z.number().check(z.minimum(min), z.maximum(max));
}

/**
 * A whole number from `min` to `max`. Checked as a number, then for a fraction: z.int() fails
 * as a type, and inside a `false | {…}` union (a section that may be switched off) a type
 * failure fails the union as a whole, so the error would name the section, not the field.
 */
export function count(min: number, max: number) {
  return z.number().check(z.minimum(min), z.maximum(max), z.refine(Number.isInteger, { message: 'expected int' }));
}

/** A percentage, 0 to 100. */
export function percent() {
  return z.number().check(z.minimum(0), z.maximum(100));
}

/**
 * The largest endpoint weight. The smooth weighted scheduler adds weights to running credit
 * on every pick; with at most a million per endpoint, a thousand endpoints stay below 2³⁰,
 * far inside the integers a double holds exactly (Envoy caps weights too).
 */
export const MAX_WEIGHT = 1_000_000;

/**
 * A per-method table (deadline, retry, load shedding, authorization), keyed as the service
 * config names methods: "package.Service/Method", "package.Service" or "*" (where the table
 * has a fallback for every method; `wildcard: false` where it has none). A key that can match
 * no call — the path grpc-js and the logs write, "/package.Service/Method", an empty part, a
 * second "/" — is refused rather than ignored. Names are not held to protobuf's: a service
 * made with makeGenericClientConstructor may use any path.
 */
export function methodTable<T extends z.core.$ZodType>(value: T, options: { wildcard?: boolean } = {}) {
  const wildcard = options.wildcard !== false;
  return z.record(wildcard ? z.union([z.literal('*'), methodName(true)]) : methodName(), value);
}

/** A method or service name as the service config writes it: "package.Service/Method" or "package.Service". */
export function methodName(orWildcard = false) {
  const forms = orWildcard
    ? '"package.Service/Method" (no leading "/"), "package.Service" or "*"'
    : '"package.Service/Method" (no leading "/") or "package.Service"';
  return z.string().check(z.regex(/^(?!\*$)[^/\s]+(\/[^/\s]+)?$/, `is not a method name: write ${forms}`));
}

/** A gRPC service's name, "package.Service", where a list matches whole services only. */
export function serviceName() {
  return z.string().check(z.regex(/^[^/\s*]+$/, 'is not a service name: write "package.Service" (a whole service; no "/" or method)'));
}
