// The key and value layout of etcd's gRPC naming (etcd's Go `endpoints.Manager`, read by
// grpc-go's etcd resolver): one key per endpoint under the service's prefix,
// `<prefix>/<id>`, whose value is the JSON of
//
//   {"Op":0,"Addr":"10.0.0.7:50051","Metadata":{"name":"ServiceA","priority":0,"weight":80,"zone":"a"}}
//
// `Op` 0 is Add (1, Delete, is only ever used in Go's in-memory updates); `Addr` is the
// endpoint; `Metadata` is free-form in Go — ours reads `name`, `weight`, `priority` and `zone`
// from it when it is an object and ignores anything else, so values a Go service wrote are
// discovered, and ours are read by grpc-go clients (which ignore Metadata for dialing).
import { z } from 'zod';
import { parseEndpointAddress } from '../config/address.js';
import { MAX_WEIGHT, count } from '../schema/bounds.js';
import { describeIssue } from '../schema/validate.js';

/** An endpoint as discovery found it: what the mesh config's endpoint entries hold, plus a zone. */
export interface DiscoveredEndpoint {
  readonly name: string;
  readonly address: string;
  readonly weight: number;
  readonly priority: number;
  readonly zone?: string;
}

const metadataSchema = z.looseObject({
  name: z.string().min(1).max(200).optional(),
  weight: z.number().finite().min(0).max(MAX_WEIGHT).optional(),
  priority: count(0, 100).optional(),
  zone: z.string().max(200).optional(),
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
    return `key "${key}": value is not JSON (${(error as Error).message})`;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return `key "${key}": value is not a JSON object`;
  const update = parsed as { Op?: unknown; Addr?: unknown; Metadata?: unknown };
  if (update.Op !== undefined && update.Op !== ADD) return `key "${key}": Op is ${JSON.stringify(update.Op)}, not 0 (Add)`;
  if (typeof update.Addr !== 'string') return `key "${key}": Addr must be "host:port", got ${JSON.stringify(update.Addr) ?? 'nothing'}`;
  const address = parseEndpointAddress(update.Addr);
  if (typeof address === 'string') return `key "${key}": Addr ${JSON.stringify(update.Addr)}: ${address}`;
  const metadata =
    typeof update.Metadata === 'object' && update.Metadata !== null && !Array.isArray(update.Metadata) ? update.Metadata : {};
  const checked = metadataSchema.safeParse(metadata, { reportInput: true });
  if (!checked.success) return `key "${key}": Metadata.${describeIssue(checked.error.issues[0]!).text}`;
  const { name, weight, priority, zone } = checked.data;
  return {
    name: name ?? id,
    address: address.normalized,
    weight: weight ?? 1,
    priority: priority ?? 0,
    ...(zone !== undefined && { zone }),
  };
}

/**
 * The value for an endpoint, byte for byte as Go's `json.Marshal` of etcd's `Update` writes it
 * (fields in declaration order, map keys sorted).
 */
export function encodeEtcdEndpoint(endpoint: DiscoveredEndpoint): string {
  const metadata: Record<string, unknown> = { name: endpoint.name, priority: endpoint.priority, weight: endpoint.weight };
  if (endpoint.zone !== undefined) metadata['zone'] = endpoint.zone;
  return JSON.stringify({ Op: ADD, Addr: endpoint.address, Metadata: metadata });
}
