import { systemClock, type Clock } from '../clock.js';
import { MeshEvents } from '../observability/events.js';
import { silentLogger, type Logger } from '../observability/logger.js';
import type { BalancerSnapshot } from './snapshot.js';

/**
 * What a balancer instance, created by grpc-js where we cannot pass arguments, needs from
 * the mesh that configured it: where to send events and logs, which clock to use, and where
 * to register for snapshots. Found through the mesh id in the LB config.
 */
export interface BalancerContext {
  readonly events: MeshEvents;
  readonly logger: Logger;
  readonly clock: Clock;
  /** Registers a live balancer for snapshots; returns the unregister function. */
  register(source: () => BalancerSnapshot): () => void;
}

const contexts = new Map<string, BalancerContext>();

const standalone: BalancerContext = {
  events: new MeshEvents(),
  logger: silentLogger,
  clock: systemClock,
  register: () => () => {},
};

export function registerBalancerContext(id: string, context: BalancerContext): () => void {
  contexts.set(id, context);
  return () => {
    if (contexts.get(id) === context) contexts.delete(id);
  };
}

/** The context of mesh `id`; a silent standalone one when the policy is used without a mesh. */
export function balancerContext(id: string | undefined): BalancerContext {
  return (id !== undefined && contexts.get(id)) || standalone;
}
