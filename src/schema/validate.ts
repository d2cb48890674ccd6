import type * as z from 'zod/mini';
import en from 'zod/v4/locales/en.js';
import { ConfigError, errorText } from '../errors.js';

/**
 * How every schema here is parsed: each issue keeps the value it got (for "got …"), and
 * zod's English messages are passed per parse rather than set with `z.config()`, whose
 * settings live on `globalThis` and are the app's own zod's too.
 */
export const PARSE_OPTIONS = Object.freeze({ reportInput: true, error: en().localeError });

/**
 * Validates `input` against `schema` (defaults included) and returns a deeply frozen copy;
 * the caller's object is never mutated. Throws a {@link ConfigError} whose message names
 * every bad field and the value it got, e.g.
 * `invalid retry options: maxAttempts must be >= 1, got -1`.
 */
export function resolveWith<S extends z.ZodMiniType>(schema: S, input: unknown, what: string): Readonly<z.output<S>> {
  let result: z.core.util.SafeParseResult<z.output<S>>;
  try {
    result = schema.safeParse(input ?? {}, PARSE_OPTIONS);
  } catch (error) {
    // A getter or a Proxy in the options that throws: the options cannot be read at all.
    throw new ConfigError('', undefined, `invalid ${what}: could not be read: ${errorText(error)}`);
  }
  if (result.success) return deepFreeze(result.data);
  const problems = result.error.issues.map(describeIssue);
  const first = problems[0]!;
  throw new ConfigError(first.field, first.value, `invalid ${what}: ${problems.map((p) => p.text).join('; ')}`);
}

interface Problem {
  field: string;
  value: unknown;
  text: string;
}

const SECRET_FIELD = /^(auth|password|secret|token|privateKey|apiKey)$/i;

/** One zod issue (parsed with `reportInput`) as "field: what is wrong, got value", secrets redacted. */
export function describeIssue(issue: z.core.$ZodIssue): Problem {
  const field = formatPath(issue.path);
  const value = (issue as { input?: unknown }).input;
  if (issue.code === 'unrecognized_keys') {
    const names = issue.keys.map((key) => formatPath([...issue.path, key]));
    return { field: names[0]!, value: undefined, text: `unknown field ${names.map((n) => `"${n}"`).join(', ')}` };
  }
  const label = field === '' ? 'value' : field;
  // A secret named in the config (etcd's password, say) is never repeated in an error.
  const secret = issue.path.some((key) => typeof key === 'string' && SECRET_FIELD.test(key));
  const shown = secret ? '[REDACTED]' : formatValue(value);
  // zod's own wording repeats what "got" says ("expected string, received undefined"), or hides
  // why a record's key is wrong behind "Invalid key in record".
  const message =
    issue.code === 'invalid_type'
      ? `expected ${issue.expected}`
      : issue.code === 'invalid_key'
        ? (issue.issues[0]?.message ?? issue.message)
        : issue.message;
  return {
    field: label,
    value: secret ? '[REDACTED]' : withoutUrlCredentials(value),
    text: `${label}: ${lowerFirst(message)}, got ${shown}`,
  };
}

/**
 * A field path as code would write it: `services.orders.endpoints[0].weight`, with keys that
 * are not plain names in brackets: `methods["orders.v1.OrderService/GetOrder"].maxAttempts`.
 */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else if (typeof key === 'string' && !/^[A-Za-z_$][\w$]*$/.test(key)) out += `[${JSON.stringify(key)}]`;
    else out += out === '' ? String(key) : `.${String(key)}`;
  }
  return out;
}

/** Credentials written into a URL ("https://user:secret@host") are not repeated, in an error's text or its value. */
function withoutUrlCredentials(value: unknown): unknown {
  if (typeof value === 'string') return value.replace(/\/\/[^/\s]*@/g, '//[REDACTED]@');
  if (Array.isArray(value)) return value.map(withoutUrlCredentials);
  return value;
}

export function formatValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  value = withoutUrlCredentials(value);
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean') return String(value);
  try {
    const text = JSON.stringify(value);
    return text.length > 80 ? `${text.slice(0, 77)}...` : text;
  } catch {
    return String(value);
  }
}

function lowerFirst(text: string): string {
  return text.charAt(0).toLowerCase() + text.slice(1);
}

/** Freezes plain objects and arrays only: a logger or clock passed in an option stays as it is. */
function deepFreeze<T>(value: T): T {
  if (typeof value !== 'object' || value === null || Object.isFrozen(value)) return value;
  const prototype = Object.getPrototypeOf(value);
  if (prototype === Object.prototype || prototype === null || Array.isArray(value)) {
    Object.freeze(value);
    for (const inner of Object.values(value)) deepFreeze(inner);
  }
  return value;
}
