// The one place where events become log lines: the components emit events (the mesh's, a
// circuit breaker's transitions, a TLS file provider's rotations), and these subscribers write
// them down, one line per event, at the level an operator would want.
import type { ConfigEvent, DiscoveryEvent, EndpointEvent, EndpointEventKind, MeshEvents, RoutingEvent } from './events.js';
import type { Logger } from './logger.js';
import type { Disposer } from './signal.js';

/** A TLS file provider's event, as security/tls-files.ts emits it (written here by shape: it imports this folder). */
interface TlsFilesEvent {
  readonly kind: 'loaded' | 'refused';
  readonly files: string;
  readonly reason?: string;
}

/** A circuit breaker's transition, as the breaker layer emits it. */
interface BreakerChange {
  readonly key: string;
  readonly state: string;
  readonly previous: string;
}

/** Endpoint events that mean less capacity: said as warnings, the others as info. */
const WARNING_KINDS: ReadonlySet<EndpointEventKind> = new Set(['ejected', 'unhealthy', 'disconnected']);

/**
 * Writes the mesh's events to `logger`: each endpoint event as `endpoint <kind>` (a warning
 * when the endpoint was ejected, turned unhealthy or lost its connection), each move of the
 * traffic to another priority tier as a `tier failover` warning, each route whose subset has no
 * usable endpoint (`route fallback` or `route unavailable`, a warning; `route recovered`), what
 * discovery sources did, and each config or TLS reload applied or refused. The event itself is
 * the line's fields. Breaker transitions are not among them: a client's breaker logs its own
 * (logBreakerChanges), through its stack's logger. Returns the disposer that stops it.
 *
 * @example
 *   const stop = logMeshEvents(mesh.events, createLogger({ name: 'client' }));
 */
export function logMeshEvents(events: MeshEvents, logger: Logger): Disposer {
  const subscriptions: Disposer[] = [
    events.onEndpoint((event) => logger[endpointLevel(event)](event, `endpoint ${event.kind}`)),
    events.onFailover((event) => logger.warn(event, 'tier failover')),
    events.onRouting((event) => logRouting(logger, event)),
    events.onDiscovery((event) => logDiscovery(logger, event)),
    events.onConfigApplied((event) => logConfig(logger, event)),
    events.onConfigRejected((event) => logConfig(logger, event)),
  ];
  return () => {
    for (const unsubscribe of subscriptions.splice(0)) unsubscribe();
  };
}

function endpointLevel(event: EndpointEvent): 'warn' | 'info' {
  return WARNING_KINDS.has(event.kind) ? 'warn' : 'info';
}

function logRouting(logger: Logger, event: RoutingEvent): void {
  if (event.kind === 'fallback') logger.warn(event, 'route fallback: the whole service takes the calls meant for the subset');
  else if (event.kind === 'unavailable') logger.warn(event, 'route unavailable: calls meant for the subset fail (fallback "none")');
  else logger.info(event, 'route recovered: the subset takes its calls again');
}

function logDiscovery(logger: Logger, { service, source, endpoints, reason, kind }: DiscoveryEvent): void {
  const line = { service, source, endpoints, reason };
  if (kind === 'synced') logger.info(line, 'discovery: endpoints listed');
  else if (kind === 'unavailable') logger.warn(line, 'discovery: source unavailable (the reason says what serves meanwhile)');
  else logger.warn(line, 'discovery: skipped (the reason says what; the rest keeps serving)');
}

function logConfig(logger: Logger, { subject, source, service, error }: ConfigEvent): void {
  if (subject === 'tls-files') tlsLine(logger, error, { service, source });
  else if (error === undefined) logger.info({ source }, 'mesh config applied');
  else logger.error({ source, err: error }, 'mesh config rejected; the last good config keeps serving');
}

/**
 * One log line per rotation of TLS files: info when new files are in use, error when a bad
 * set is refused (with the reason, never the files' contents). `fields` go on each line.
 */
export function logTlsRotations(
  provider: { onEvent(listener: (event: TlsFilesEvent) => void): Disposer },
  logger: Logger,
  fields: Record<string, unknown> = {},
): Disposer {
  return provider.onEvent(({ kind, files, reason }) =>
    tlsLine(logger, kind === 'refused' ? (reason ?? '') : undefined, { ...fields, files }),
  );
}

/** A rotation's line: `refusal` is why the new files were refused, undefined when they are in use. */
function tlsLine(logger: Logger, refusal: string | undefined, fields: Record<string, unknown>): void {
  if (refusal === undefined) logger.info(fields, 'TLS files rotated: new connections use them');
  else logger.error({ ...fields, reason: refusal }, 'TLS files refused; the credentials in use stay');
}

/** One log line per transition of a circuit breaker: a warning when it opens, info otherwise. */
export function logBreakerChanges(
  breaker: { onStateChange(listener: (change: BreakerChange) => void): Disposer },
  logger: Logger,
): Disposer {
  return breaker.onStateChange(({ key, state, previous }) => {
    const line = { breaker: key, state, previous };
    if (state === 'open') logger.warn(line, 'circuit breaker opened');
    else logger.info(line, state === 'closed' ? 'circuit breaker closed' : 'circuit breaker half-open: probing');
  });
}
