// The key and value layout of etcd's gRPC naming (etcd's Go `endpoints.Manager`, read by
// grpc-go's etcd resolver): one key per endpoint under the service's prefix,
// `<prefix>/<id>`, whose value is the JSON of
//
//   {"Op":0,"Addr":"10.0.0.7:50051","Metadata":{"labels":{"version":"v2"},"name":"ServiceA","priority":0,"weight":80,"zone":"a"}}
//
// `Op` 0 is Add (1, Delete, is only ever used in Go's in-memory updates); `Addr` is the
// endpoint; `Metadata` is free-form in Go — ours reads `name`, `weight`, `priority`, `zone`
// and `labels` from it when it is an object and ignores anything else, so values a Go service
// wrote are discovered, and ours are read by grpc-go clients (which ignore Metadata for
// dialing). `zone` is the endpoint's `zone` label.
//
// Read as leniently as Go reads it where the meaning is clear: field names match
// case-insensitively (Go's encoding/json does, so `{"addr":…}` works there), a number stands
// for a string (`"zone": 1`) and a numeric string for a number (`"weight": "5"`), null for
// nothing, and a bare "host:port" value (go-zero's registrar writes one) is that address.
// What has no clear meaning is skipped with the key and the reason: an Addr without a port
// above all, which grpc-go's resolver dials as written and no client can reach.
import { isIP } from 'node:net';
import * as z from 'zod/mini';
import { parseEndpointAddress } from '../config/address.js';
import { labelsSchema } from '../config/traffic.js';
import { MAX_WEIGHT, count } from '../schema/bounds.js';
import { PARSE_OPTIONS, describeIssue, formatValue } from '../schema/validate.js';

/** An endpoint as discovery found it: what the mesh config's endpoint entries hold. */
export interface DiscoveredEndpoint {
  readonly name: string;
  readonly address: string;
  readonly weight: number;
  readonly priority: number;
  /** What subsets select and zone-aware routing reads (`zone`). */
  readonly labels?: Readonly<Record<string, string>>;
}

/** A number written where text is meant ("zone": 1) is that text; null is nothing. */
const text = (schema: z.ZodMiniType<string>) =>
  z.pipe(
    z.transform((value: unknown): unknown =>
      value === null ? undefined : typeof value === 'number' && Number.isFinite(value) ? String(value) : value,
    ),
    z.optional(schema),
  );

const DECIMAL = /^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i;

/** A numeric string written where a number is meant ("weight": "5") is that number; null is nothing. */
const numeric = (schema: z.ZodMiniType<number>) =>
  z.pipe(
    z.transform((value: unknown): unknown =>
      value === null ? undefined : typeof value === 'string' && DECIMAL.test(value.trim()) ? Number(value.trim()) : value,
    ),
    z.optional(schema),
  );

const metadataSchema = z.object({
  name: text(z.string().check(z.minLength(1), z.maxLength(200))),
  weight: numeric(z.number().check(z.minimum(0), z.maximum(MAX_WEIGHT))),
  priority: numeric(count(0, 100)),
  zone: text(z.string().check(z.maxLength(63))),
  /** A number for a label's text is that text, as elsewhere. */
  labels: z.pipe(
    z.transform((value: unknown): unknown =>
      value === null
        ? undefined
        : isObject(value)
          ? Object.fromEntries(Object.entries(value).map(([k, v]) => [k, typeof v === 'number' && Number.isFinite(v) ? String(v) : v]))
          : value,
    ),
    z.optional(labelsSchema),
  ),
});

const ADD = 0;

/**
 * The endpoint a key/value of `prefix` describes, or why it cannot be used (a sentence naming
 * the key and the field). `prefix` has no trailing slash.
 */
export function parseEtcdEndpoint(prefix: string, key: string, value: string): DiscoveredEndpoint | string {
  const id = key.startsWith(`${prefix}/`) ? key.slice(prefix.length + 1) : '';
  if (id === '') return `key "${key}" is not "${prefix}/<id>"`;
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch (error) {
    const bare = parseEndpointAddress(value.trim());
    if (typeof bare !== 'string') return { name: id, address: bare.normalized, weight: 1, priority: 0 };
    return `key "${key}": value is not JSON (${(error as Error).message})`;
  }
  if (typeof parsed === 'string') parsed = { Addr: parsed };
  if (!isObject(parsed)) return `key "${key}": value is not a JSON object`;
  const update = goFields(parsed, ['Op', 'Addr', 'Metadata']);
  if (update.Op !== undefined && update.Op !== null && update.Op !== ADD)
    return `key "${key}": Op is ${JSON.stringify(update.Op)}, not 0 (Add)`;
  if (typeof update.Addr !== 'string' || update.Addr === '')
    return `key "${key}": Addr must be "host:port", got ${formatValue(update.Addr ?? undefined)}`;
  const portless = withoutPort(update.Addr);
  if (portless !== undefined)
    return `key "${key}": Addr ${JSON.stringify(update.Addr)} has no port (grpc-go's etcd resolver dials Addr as written, so no client can reach it): write "${portless}:<port>"`;
  const address = parseEndpointAddress(update.Addr);
  if (typeof address === 'string') return `key "${key}": Addr ${JSON.stringify(update.Addr)}: ${address}`;
  const metadata = isObject(update.Metadata) ? goFields(update.Metadata, ['name', 'weight', 'priority', 'zone', 'labels']) : {};
  const checked = metadataSchema.safeParse(metadata, PARSE_OPTIONS);
  if (!checked.success) return `key "${key}": Metadata.${describeIssue(checked.error.issues[0]!).text}`;
  const { name, weight, priority, zone, labels } = checked.data;
  const all = zone === undefined ? labels : { ...labels, zone };
  return {
    name: name ?? id,
    address: address.normalized,
    weight: weight ?? 1,
    priority: priority ?? 0,
    ...(all !== undefined && Object.keys(all).length > 0 && { labels: all }),
  };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The fields `names` of a JSON object, matched as Go's encoding/json matches a struct's
 * fields: case-insensitively, a later spelling of one field replacing an earlier one.
 */
function goFields<K extends string>(object: Record<string, unknown>, names: readonly K[]): Partial<Record<K, unknown>> {
  const fields: Partial<Record<K, unknown>> = {};
  for (const [key, value] of Object.entries(object)) {
    const name = names.find((candidate) => candidate.toLowerCase() === key.toLowerCase());
    if (name !== undefined) fields[name] = value;
  }
  return fields;
}

/** The host of an address written without a port ("10.0.0.7", "::1", "[::1]", "orders-a"), as it would be written with one. */
function withoutPort(address: string): string | undefined {
  const bracketed = /^\[([^\]]*)\]$/.exec(address)?.[1];
  const host = bracketed ?? address;
  if (isIP(host) === 6) return `[${host}]`;
  if (isIP(host) === 4 || /^[a-z0-9.-]+$/i.test(host)) return host;
  return undefined;
}

/**
 * The value for an endpoint, byte for byte as Go's `json.Marshal` of etcd's `Update` writes it
 * (fields in declaration order, map keys sorted).
 */
export function encodeEtcdEndpoint(endpoint: DiscoveredEndpoint): string {
  const { zone, ...others } = endpoint.labels ?? {};
  const labels = Object.fromEntries(Object.entries(others).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  const metadata: Record<string, unknown> = {
    ...(Object.keys(labels).length > 0 && { labels }),
    name: endpoint.name,
    priority: endpoint.priority,
    weight: endpoint.weight,
    ...(zone !== undefined && { zone }),
  };
  return JSON.stringify({ Op: ADD, Addr: endpoint.address, Metadata: metadata });
}
