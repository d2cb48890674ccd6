import { experimental, status as Status, type MethodConfig } from '@grpc/grpc-js';
import { METHOD_PICK_INFO } from '../balancer/picker.js';

/** Calls of methods beyond this many get a config made per call instead of a cached one. */
const MAX_CACHED_METHODS = 1000;

/**
 * The config selector the `mesh` resolver hands grpc-js (gRPC A31): per call, the method
 * config that matches the method (exact method, else its service, else the empty name, as
 * grpc-js's default selector does) and the method's path as pick info, so the picker can
 * keep per-method outlier state without any header. One config object per method, made once.
 */
export function meshConfigSelector(methodConfigs: readonly MethodConfig[]): experimental.ConfigSelector {
  const cache = new Map<string, ReturnType<experimental.ConfigSelector['invoke']>>();
  return {
    invoke(methodName) {
      let config = cache.get(methodName);
      if (config === undefined) {
        config = {
          methodConfig: matchMethodConfig(methodConfigs, methodName),
          pickInformation: { [METHOD_PICK_INFO]: methodName },
          status: Status.OK,
          dynamicFilterFactories: [],
        };
        if (cache.size < MAX_CACHED_METHODS) cache.set(methodName, config);
      }
      return config;
    },
    unref() {
      cache.clear();
    },
  };
}

/** The method config for "/pkg.Service/Method": exact name, else the service's, else the default. */
export function matchMethodConfig(methodConfigs: readonly MethodConfig[], methodName: string): MethodConfig {
  const [service = '', method = ''] = methodName.split('/').filter((part) => part.length > 0);
  const matches = (config: MethodConfig, level: 'method' | 'service' | 'default') =>
    config.name.some((name) =>
      level === 'method'
        ? name.service === service && name.method === method
        : level === 'service'
          ? name.service === service && !name.method
          : !name.service && !name.method,
    );
  for (const level of ['method', 'service', 'default'] as const) {
    const found = methodConfigs.find((config) => matches(config, level));
    if (found) return found;
  }
  return { name: [] };
}
