// A grpc-js service config (the `grpc.service_config` channel option) as the mesh honours it.
// What does not conflict with the mesh applies as in grpc-js: per-method `timeout` and
// `waitForReady`, message size limits. What would fight the mesh is refused with the field
// named: a `retryPolicy` or `hedgingPolicy` (the mesh's retry layer already retries: attempts
// would multiply), `retryThrottling` (the mesh has its retry budget), and a load-balancing
// policy (the mesh's balancer is the policy of a mesh:/// channel).
import type { MethodConfig } from '@grpc/grpc-js';
import * as z from 'zod/mini';
import { ConfigError } from '../errors.js';
import { resolveWith } from '../schema/validate.js';

const DURATION = /^(\d+)(?:\.(\d{1,9}))?s$/;

const conflict = (why: string) => z.unknown().check(z.refine((v) => v === undefined, { message: why }));

const methodConfigSchema = z.strictObject({
  name: z._default(z.array(z.strictObject({ service: z.optional(z.string()), method: z.optional(z.string()) })), []),
  timeout: z.optional(
    z.union([
      z.string().check(z.regex(DURATION, 'must be a duration such as "1.5s"')),
      z.strictObject({ seconds: z.int().check(z.minimum(0)), nanos: z.int().check(z.minimum(0)) }),
    ]),
  ),
  waitForReady: z.optional(z.boolean()),
  maxRequestBytes: z.optional(z.int().check(z.positive())),
  maxResponseBytes: z.optional(z.int().check(z.positive())),
  retryPolicy: z.optional(
    conflict('conflicts with the mesh, whose retry layer retries these calls (attempts would multiply): configure `client.retry` instead'),
  ),
  hedgingPolicy: z.optional(
    conflict('conflicts with the mesh, whose retry layer hedges: configure `client.retry.methods[...].hedging` instead'),
  ),
});

const layerFields = {
  methodConfig: z._default(z.array(methodConfigSchema), []),
  retryThrottling: z.optional(
    conflict('conflicts with the mesh, which bounds retries with its retry budget: configure `client.retry.budget` instead'),
  ),
};

/** For the client layers on any channel: a channel's own load-balancing policy is its business. */
const layerServiceConfigSchema = z.looseObject(layerFields);

/** For a mesh:/// channel, whose policy is the mesh's balancer. */
const meshServiceConfigSchema = z.looseObject({
  ...layerFields,
  loadBalancingConfig: z.optional(
    conflict('a mesh:/// channel is balanced by the mesh: configure weights and priorities in the mesh config'),
  ),
  loadBalancingPolicy: z.optional(
    conflict('a mesh:/// channel is balanced by the mesh: configure weights and priorities in the mesh config'),
  ),
});

/** What the client layers take from a service config, keyed like their `methods` tables ("pkg.Service/Method", "pkg.Service", "*"). */
export interface MethodDefaults {
  /** The methods' `timeout`, in ms. */
  readonly timeoutsMs: Readonly<Record<string, number>>;
  /** The methods' `waitForReady`. */
  readonly waitForReady: Readonly<Record<string, boolean>>;
}

export interface HonouredServiceConfig extends MethodDefaults {
  /** The method configs in grpc-js's parsed form (timeouts as {seconds, nanos}). */
  readonly methodConfig: readonly MethodConfig[];
}

/**
 * Validates a `grpc.service_config` (JSON text or object): for a mesh:/// channel (`mesh`),
 * or for the client layers on any channel. Throws a ConfigError naming the field and the
 * value for what is invalid or conflicts with the mesh.
 *
 * @example
 *   parseServiceConfig('{"methodConfig":[{"name":[{"service":"orders.v1.OrderService"}],"timeout":"1s"}]}', { mesh: true })
 */
export function parseServiceConfig(
  input: string | object | undefined,
  { mesh, where = 'grpc.service_config' }: { mesh: boolean; where?: string },
): HonouredServiceConfig {
  if (input === undefined) return { methodConfig: [], timeoutsMs: {}, waitForReady: {} };
  let json: unknown = input;
  if (typeof input === 'string') {
    try {
      json = JSON.parse(input);
    } catch (error) {
      throw new ConfigError(where, input, `invalid ${where}: not valid JSON: ${(error as Error).message}`);
    }
  }
  const parsed = resolveWith(mesh ? meshServiceConfigSchema : layerServiceConfigSchema, json, where);
  const methodConfig: MethodConfig[] = [];
  const timeoutsMs: Record<string, number> = {};
  const waitForReady: Record<string, boolean> = {};
  for (const entry of parsed.methodConfig) {
    const timeout =
      entry.timeout === undefined ? undefined : typeof entry.timeout === 'string' ? parseDuration(entry.timeout) : entry.timeout;
    const config: MethodConfig = { name: entry.name.map((name) => ({ ...name })) };
    if (timeout !== undefined) config.timeout = timeout;
    if (entry.waitForReady !== undefined) config.waitForReady = entry.waitForReady;
    if (entry.maxRequestBytes !== undefined) config.maxRequestBytes = entry.maxRequestBytes;
    if (entry.maxResponseBytes !== undefined) config.maxResponseBytes = entry.maxResponseBytes;
    methodConfig.push(config);
    for (const name of entry.name) {
      const key = name.service ? (name.method ? `${name.service}/${name.method}` : name.service) : '*';
      if (timeout !== undefined) timeoutsMs[key] = timeout.seconds * 1000 + timeout.nanos / 1e6;
      if (entry.waitForReady !== undefined) waitForReady[key] = entry.waitForReady;
    }
  }
  return { methodConfig, timeoutsMs, waitForReady };
}

/** The `grpc.service_config` channel option of client options, if any. */
export function serviceConfigOption(options: Readonly<Record<string, unknown>> | undefined): string | object | undefined {
  const value = options?.['grpc.service_config'];
  return typeof value === 'string' || (typeof value === 'object' && value !== null) ? value : undefined;
}

function parseDuration(text: string): { seconds: number; nanos: number } {
  const [, seconds, fraction = ''] = DURATION.exec(text)!;
  return { seconds: Number(seconds), nanos: Number(fraction.padEnd(9, '0')) };
}
