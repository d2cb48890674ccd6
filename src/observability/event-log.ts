// The one place where the mesh's events become log lines: the components emit events, and
// this subscriber writes them down, one line per event, at the level an operator would want.
import type { EndpointEvent, EndpointEventKind, MeshEvents } from './events.js';
import type { Logger } from './logger.js';
import type { Disposer } from './signal.js';

/** Endpoint events that mean less capacity: said as warnings, the others as info. */
const WARNING_KINDS: ReadonlySet<EndpointEventKind> = new Set(['ejected', 'unhealthy', 'disconnected']);

/**
 * Writes the mesh's events to `logger`: each endpoint event as `endpoint <kind>` (a warning
 * when the endpoint was ejected, turned unhealthy or lost its connection), each move of the
 * traffic to another priority tier as a `tier failover` warning. The event itself is the
 * line's fields. Returns the disposer that stops it.
 *
 * @example
 *   const stop = logMeshEvents(mesh.events, createLogger({ name: 'client' }));
 */
export function logMeshEvents(events: MeshEvents, logger: Logger): Disposer {
  const subscriptions: Disposer[] = [
    events.onEndpoint((event) => logger[endpointLevel(event)](event, `endpoint ${event.kind}`)),
    events.onFailover((event) => logger.warn(event, 'tier failover')),
  ];
  return () => {
    for (const unsubscribe of subscriptions.splice(0)) unsubscribe();
  };
}

function endpointLevel(event: EndpointEvent): 'warn' | 'info' {
  return WARNING_KINDS.has(event.kind) ? 'warn' : 'info';
}
