import { status as Status } from '@grpc/grpc-js';
import { z } from 'zod';
import { ConfigError, isConfigError } from '../errors.js';
import { resolveCircuitBreakerOptions } from '../interceptors/circuit-breaker.js';
import { resolveDeadlineOptions } from '../interceptors/deadline.js';
import { resolveRetryBudgetOptions } from '../interceptors/retry-budget.js';
import { retryPolicyLookup } from '../interceptors/retry-policy.js';
import { statusCodeSchema, type StatusName } from '../status.js';
import { resolveWith } from './validate.js';

/** `host:port`, `[ipv6]:port`. */
const ADDRESS = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/;

export const endpointSchema = z.strictObject({
  name: z.string().min(1),
  address: z.string().refine((a) => Number(ADDRESS.exec(a)?.[2] ?? NaN) <= 65535, 'must be "host:port" with a port up to 65535'),
  weight: z.number().finite().min(0).default(1),
  priority: z.number().int().min(0).default(0),
});

export const HEALTH_CHECK_DEFAULTS = Object.freeze({
  enabled: true,
  serviceName: '',
  probeIntervalMs: 1000,
  probeTimeoutMs: 500,
});

export const healthCheckSchema = z.strictObject({
  enabled: z.boolean().default(HEALTH_CHECK_DEFAULTS.enabled),
  serviceName: z.string().default(HEALTH_CHECK_DEFAULTS.serviceName),
  probeIntervalMs: z.number().finite().min(0).default(HEALTH_CHECK_DEFAULTS.probeIntervalMs),
  probeTimeoutMs: z.number().finite().positive().default(HEALTH_CHECK_DEFAULTS.probeTimeoutMs),
});

export const EJECTION_DEFAULTS = Object.freeze({
  enabled: true,
  consecutiveFailures: 5,
  baseEjectionMs: 1000,
  maxEjectionMs: 10_000,
  failureCodes: ['UNAVAILABLE', 'DEADLINE_EXCEEDED', 'INTERNAL', 'UNKNOWN', 'DATA_LOSS'] as StatusName[],
});

const ejectionSchema = z
  .strictObject({
    enabled: z.boolean().default(EJECTION_DEFAULTS.enabled),
    consecutiveFailures: z.number().int().min(1).default(EJECTION_DEFAULTS.consecutiveFailures),
    baseEjectionMs: z.number().finite().positive().default(EJECTION_DEFAULTS.baseEjectionMs),
    maxEjectionMs: z.number().finite().positive().default(EJECTION_DEFAULTS.maxEjectionMs),
    failureCodes: z.array(statusCodeSchema).default(EJECTION_DEFAULTS.failureCodes.map((name) => Status[name])),
  })
  .refine((e) => e.baseEjectionMs <= e.maxEjectionMs, {
    message: 'baseEjectionMs must not exceed maxEjectionMs',
    path: ['baseEjectionMs'],
  });

export const SLOW_START_DEFAULTS = Object.freeze({ windowMs: 1000, minWeightPercent: 10 });

const slowStartSchema = z.strictObject({
  windowMs: z.number().finite().min(0).default(SLOW_START_DEFAULTS.windowMs),
  minWeightPercent: z.number().finite().min(1).max(100).default(SLOW_START_DEFAULTS.minWeightPercent),
});

export const BALANCER_DEFAULTS = Object.freeze({ overprovisioningFactor: 1.4, panicThresholdPercent: 0 });

export const balancerSchema = z.strictObject({
  ejection: ejectionSchema.default(() => ejectionSchema.parse({})),
  slowStart: slowStartSchema.default(() => slowStartSchema.parse({})),
  overprovisioningFactor: z.number().finite().min(1).default(BALANCER_DEFAULTS.overprovisioningFactor),
  panicThresholdPercent: z.number().finite().min(0).max(100).default(BALANCER_DEFAULTS.panicThresholdPercent),
});

/**
 * Options of the client layers, as JSON (see the layers' own option types). Each layer
 * validates its part with its own rules, so the config and the code API cannot disagree.
 */
const clientSchema = z
  .strictObject({
    deadline: z.record(z.string(), z.unknown()).optional(),
    retry: z.record(z.string(), z.unknown()).optional(),
    breaker: z.record(z.string(), z.unknown()).optional(),
  })
  .superRefine((client, context) => {
    const check = (layer: string, validate: () => void) => {
      try {
        validate();
      } catch (error) {
        if (!isConfigError(error)) throw error;
        // The layer's own message already names its field and value: keep it whole.
        context.addIssue({
          code: 'custom',
          path: [layer],
          message: error.message.replace(/^invalid [^:]+: /, ''),
          input: error.value,
          params: { nested: error.field },
        });
      }
    };
    if (client.deadline) check('deadline', () => resolveDeadlineOptions(client.deadline));
    if (client.breaker) check('breaker', () => resolveCircuitBreakerOptions(client.breaker));
    if (client.retry) {
      const { methods, budget, idempotencyKeyHeader, ...base } = client.retry as Record<string, unknown>;
      check('retry', () => retryPolicyLookup(base, methods as never, 'retry options'));
      if (budget !== undefined && budget !== false) check('retry', () => resolveRetryBudgetOptions(budget as never));
      if (idempotencyKeyHeader !== undefined && typeof idempotencyKeyHeader !== 'string') {
        check('retry', () => {
          throw new ConfigError('idempotencyKeyHeader', idempotencyKeyHeader, 'idempotencyKeyHeader must be a string');
        });
      }
    }
  });

const serviceSchema = z
  .strictObject({
    endpoints: z.array(endpointSchema).min(1, 'must list at least one endpoint'),
    healthCheck: healthCheckSchema.default(() => healthCheckSchema.parse({})),
    balancer: balancerSchema.default(() => balancerSchema.parse({})),
    client: clientSchema.optional(),
  })
  .superRefine((service, context) => {
    const seen = new Map<string, number>();
    service.endpoints.forEach((endpoint, index) => {
      const first = seen.get(endpoint.address);
      if (first !== undefined) {
        context.addIssue({
          code: 'custom',
          path: ['endpoints', index, 'address'],
          message: `duplicate address (also endpoints[${first}])`,
          input: endpoint.address,
        });
      } else {
        seen.set(endpoint.address, index);
      }
    });
  });

export const meshConfigSchema = z.strictObject({
  services: z.record(z.string().regex(/^[A-Za-z0-9._-]+$/, 'must be a plain service name'), serviceSchema),
});

export type MeshConfig = z.output<typeof meshConfigSchema>;
/** What a config file or object may contain: defaults fill everything left out. */
export type MeshConfigInput = z.input<typeof meshConfigSchema>;
export type ServiceConfig = MeshConfig['services'][string];
export type EndpointConfig = ServiceConfig['endpoints'][number];
export type HealthCheckConfig = ServiceConfig['healthCheck'];
export type BalancerConfig = ServiceConfig['balancer'];

/**
 * Validates a mesh config document and fills in defaults. Throws a ConfigError naming every
 * bad field and its value, e.g. `services.orders.endpoints[0].weight: too small: expected
 * number to be >=0, got -5`.
 */
export function parseMeshConfig(input: unknown, where = 'mesh config'): MeshConfig {
  return resolveWith(meshConfigSchema, input, where) as MeshConfig;
}
