// What the balancer needs from the mesh it serves, and how it gets it: grpc-js makes the
// balancer itself, with no way to pass it arguments, so the resolver hands this over with each
// resolution, in its attributes (which grpc-js merges into the options of updateAddressList).
import { experimental, type ChannelOptions } from '@grpc/grpc-js';
import type { Clock } from '../clock.js';
import type { ServiceConfig } from '../config/mesh-config.js';
import type { MeshEventSink } from '../observability/events.js';
import type { Logger } from '../observability/logger.js';
import type { Recorder } from '../observability/metrics.js';
import type { Disposer } from '../observability/signal.js';
import type { BalancerSnapshot } from './snapshot.js';

/** Where each attempt's outcome and duration per endpoint go (the admin page's recent attempts). */
export type AttemptRecorder = (service: string, address: string, code: number, durationMs: number) => void;

/** The mesh as its balancers see it: where their events, logs, metrics and snapshots go. */
export interface BalancerRuntime {
  readonly events: Pick<MeshEventSink, 'endpoint' | 'recovered' | 'failover' | 'routing'>;
  /** For notes that are no endpoint event (the make-before-break bridge, ejections overridden). */
  readonly logger: Logger;
  readonly clock: Clock;
  /**
   * The client's zone (`createMesh({ zone })`), matched against endpoints' `zone` label:
   * zone-aware routing keeps calls there while it has the capacity. Undefined: none.
   */
  readonly zone: string | undefined;
  /** Where the balancer's random choices come from (start phases; P2C samples). */
  readonly random: () => number;
  /** The mesh's own instruments (per-endpoint attempts), when a meter provider records them. */
  readonly metrics: Recorder | undefined;
  /** The recorder now, asked on every pick: an admin page may start (or stop) after the balancer. */
  attemptRecorder(): AttemptRecorder | undefined;
  /** Registers a live balancer for the mesh's snapshots; returns the unregister function. */
  registerBalancer(snapshot: () => BalancerSnapshot): Disposer;
}

/** What a resolution brings the balancer besides the endpoints. */
export interface BalancerUpdate {
  readonly runtime: BalancerRuntime;
  /** The service's settings, discovery applied, computed once for this resolution. */
  readonly settings: ServiceConfig;
}

/**
 * The resolution attribute that carries a BalancerUpdate. Its prefix keeps it out of the
 * subchannel args: grpc-js's subchannel pool compares those with ===, and an object made anew
 * with every resolution would otherwise open new connections every time.
 */
const UPDATE_ATTRIBUTE = `${experimental.SUBCHANNEL_ARGS_EXCLUDE_KEY_PREFIX}.meshlite.balancer_update`;

/** The resolution attributes that hand `update` to the balancer. */
export function balancerUpdateAttributes(update: BalancerUpdate): ChannelOptions {
  return { [UPDATE_ATTRIBUTE]: update };
}

/** The update the resolver handed over in `options` (updateAddressList's), if any. */
export function balancerUpdateOf(options: ChannelOptions): BalancerUpdate | undefined {
  return options[UPDATE_ATTRIBUTE] as BalancerUpdate | undefined;
}

/**
 * `options` without what belongs to one channel: what the endpoints' connections are made
 * with. Besides the update, the resolver's config selector goes: it is an object per channel,
 * and grpc-js's subchannel pool, which compares args with ===, would otherwise give every
 * client of a mesh its own connection to each backend instead of sharing one as grpc-js does.
 */
export function withoutBalancerUpdate(options: ChannelOptions): ChannelOptions {
  if (!(UPDATE_ATTRIBUTE in options) && !(experimental.CHANNEL_ARGS_CONFIG_SELECTOR_KEY in options)) return options;
  const { [UPDATE_ATTRIBUTE]: _update, [experimental.CHANNEL_ARGS_CONFIG_SELECTOR_KEY]: _selector, ...rest } = options;
  return rest;
}
