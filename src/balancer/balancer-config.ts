import type { experimental } from '@grpc/grpc-js';
import * as z from 'zod/mini';
import { Signal, type Disposer } from '../observability/signal.js';
import { resolveWith } from '../schema/validate.js';

/** The name our policy is registered under in grpc-js. */
export const BALANCER_NAME = 'meshlite_weighted';

/**
 * The LB config the `mesh` resolver writes: which mesh and service the balancer serves. The
 * service's settings are not copied into it: the resolver hands the balancer the config the
 * mesh already parsed (runtime.ts), so there is one set of defaults and one validation.
 */
const balancerConfigSchema = z.strictObject({
  /** Id of the mesh that serves the channel (absent: the only mesh), which hears of a rejected config. */
  mesh: z.optional(z.string()),
  /** Service name, as in `mesh:///<service>`. */
  service: z.string().check(z.minLength(1)),
});

export type BalancerConfigJson = z.input<typeof balancerConfigSchema>;
export type ResolvedBalancerConfig = z.output<typeof balancerConfigSchema>;

/** A `meshlite_weighted` config that failed to parse: the mesh it names, and why. */
export interface BalancerConfigRejection {
  /** The `mesh` field as given, whatever its type (undefined: the only mesh). */
  readonly mesh: unknown;
  readonly error: string;
}

const rejections = new Signal<BalancerConfigRejection>();

/**
 * Hears of every `meshlite_weighted` config that fails to parse. grpc-js skips such a config
 * *silently* and falls back to another policy; the registry of meshes listens here and says it
 * in the named mesh's log.
 */
export function onBalancerConfigRejected(listener: (rejection: BalancerConfigRejection) => void): Disposer {
  return rejections.subscribe(listener);
}

/**
 * The LB config of the `meshlite_weighted` policy, in grpc-js's plugin shape. grpc-js skips
 * a config that fails to parse *silently*, so parse errors are also told to
 * onBalancerConfigRejected's listeners, naming the field, before they are thrown.
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
      rejections.emit({ mesh, error: (error as Error).message });
      throw error;
    }
  }
}
