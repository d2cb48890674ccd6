import type { experimental } from '@grpc/grpc-js';
import { z } from 'zod';
import { balancerSchema, endpointSchema, healthCheckSchema } from '../config/mesh-config.js';
import { resolveWith } from '../config/validate.js';
import { balancerContext } from './context.js';

/** The name our policy is registered under in grpc-js. */
export const BALANCER_NAME = 'meshlite_weighted';

const balancerConfigSchema = z.strictObject({
  /** Id of the mesh whose events, logger and clock this balancer uses. */
  mesh: z.string().optional(),
  /** Service name, for messages and events. */
  service: z.string().default('(unnamed service)'),
  /** Weights, priorities and names by address; endpoints not listed get weight 1, priority 0. */
  endpoints: z.array(endpointSchema).default([]),
  healthCheck: healthCheckSchema.default(() => healthCheckSchema.parse({ enabled: false })),
  balancer: balancerSchema.default(() => balancerSchema.parse({})),
});

export type BalancerConfigJson = z.input<typeof balancerConfigSchema>;
export type ResolvedBalancerConfig = z.output<typeof balancerConfigSchema>;

/**
 * The LB config of the `meshlite_weighted` policy, in grpc-js's plugin shape. grpc-js skips
 * a config that fails to parse *silently* and falls back to pick_first, so parse errors are
 * also logged, naming the field, before they are thrown.
 */
export class MeshBalancerConfig implements experimental.TypedLoadBalancingConfig {
  constructor(readonly config: ResolvedBalancerConfig) {}

  getLoadBalancerName(): string {
    return BALANCER_NAME;
  }

  toJsonObject(): object {
    return { [BALANCER_NAME]: this.config };
  }

  static createFromJson(json: unknown): MeshBalancerConfig {
    try {
      return new MeshBalancerConfig(resolveWith(balancerConfigSchema, json, `${BALANCER_NAME} config`));
    } catch (error) {
      const mesh = typeof json === 'object' && json !== null ? (json as { mesh?: unknown }).mesh : undefined;
      balancerContext(typeof mesh === 'string' ? mesh : undefined).logger.error(
        { err: (error as Error).message },
        `${BALANCER_NAME} config rejected; grpc-js will fall back to another policy`,
      );
      throw error;
    }
  }
}
