import type { experimental } from '@grpc/grpc-js';
import { z } from 'zod';
import { resolveWith } from '../schema/validate.js';
import { findMesh } from '../mesh/registry.js';

/** The name our policy is registered under in grpc-js. */
export const BALANCER_NAME = 'meshlite_weighted';

/**
 * The LB config the `mesh` resolver writes: which mesh and service the balancer serves. The
 * service's settings are not copied into it: the balancer reads the config the mesh already
 * parsed, so there is one set of defaults and one validation.
 */
const balancerConfigSchema = z.strictObject({
  /** Id of the mesh whose config, events, logger and clock this balancer uses (absent: the only mesh). */
  mesh: z.string().optional(),
  /** Service name, as in `mesh:///<service>`. */
  service: z.string().min(1),
});

export type BalancerConfigJson = z.input<typeof balancerConfigSchema>;
export type ResolvedBalancerConfig = z.output<typeof balancerConfigSchema>;

/**
 * The LB config of the `meshlite_weighted` policy, in grpc-js's plugin shape. grpc-js skips
 * a config that fails to parse *silently*, so parse errors are also logged, naming the
 * field, before they are thrown.
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
      const mesh = findMesh(typeof json === 'object' && json !== null ? (json as { mesh?: unknown }).mesh : undefined);
      if (typeof mesh !== 'string') {
        mesh.logger.error({ err: (error as Error).message }, `${BALANCER_NAME} config rejected; grpc-js will fall back to another policy`);
      }
      throw error;
    }
  }
}
