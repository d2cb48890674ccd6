// The mesh's admin server, after Envoy's admin interface: `/` a live status page, `/clusters`
// every service and endpoint as JSON, `/config` the config in force (secrets redacted),
// `/events` the mesh's events as server-sent events, `/metrics` when given a Prometheus
// exporter. 127.0.0.1 by default.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { BalancerSnapshot } from '../balancer/snapshot.js';
import type { MeshEvents } from '../observability/events.js';
import type { CallStats, EndpointStats } from '../observability/endpoint-stats.js';
import { KEPT_SECONDS } from '../observability/outcome-series.js';
import { RecentEvents, type AdminEvent, type EventEntry } from './recent-events.js';
import { STATUS_PAGE } from './status-page.js';

export interface AdminOptions {
  /** Default 9901 (Envoy's admin port); 0 picks a free one. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Serves `/metrics` too (`servePrometheus()`'s result, from grpc-meshlite/prometheus). */
  prometheus?: { handle(request: IncomingMessage, response: ServerResponse): void };
}

export interface AdminServer {
  /** "http://127.0.0.1:9901/". */
  readonly url: string;
  close(): Promise<void>;
}

/** What the admin server reads from the mesh: snapshots, recent attempts and calls, config, events. */
export interface AdminSource {
  snapshot(): BalancerSnapshot[];
  /** Each endpoint's recent attempts. */
  readonly stats: EndpointStats;
  /** Each service's recent calls, as the callers saw them. */
  readonly calls: CallStats;
  /** The config in force, secrets already redacted, and where it came from. */
  config(): { source: string; config: unknown };
  readonly events: MeshEvents;
  /** Breaker states and retry budgets of the mesh's clients. */
  clients(): unknown;
  now(): number;
}

/** The window of the figures in the tables (rates, success, latency). */
const WINDOW_MS = 10_000;
/** Entries kept for a page opened later (repeats coalesced): an operator who opens it after a failure sees what happened. */
const RECENT_EVENTS = 100;

export async function startAdminServer(source: AdminSource, options: AdminOptions = {}): Promise<AdminServer> {
  const host = options.host ?? '127.0.0.1';
  const streams = new Set<ServerResponse>();
  // Numbered, so a client that reconnects (EventSource sends Last-Event-ID) gets only what it
  // missed; the numbers carry this server's start, so a page that reconnects to a restarted
  // process gets everything this one has. An entry that coalesces a repeat is sent again
  // under a new number, with its count: the page replaces the line it showed.
  const recent = new RecentEvents({ capacity: RECENT_EVENTS });
  const epoch = Date.now().toString(36);
  const send = (event: AdminEvent) => {
    const line = eventLine(epoch, recent.add(event, source.now()));
    for (const stream of streams) stream.write(line);
  };
  const disposers = [
    source.events.onEndpoint((e) =>
      send({ type: 'endpoint', service: e.service, endpoint: e.endpoint, kind: e.kind, reason: e.reason, method: e.method }),
    ),
    source.events.onFailover((e) => send({ type: 'failover', service: e.service, reason: e.reason })),
    source.events.onRouting((e) =>
      send({ type: 'routing', service: e.service, route: e.route, subset: e.subset, kind: e.kind, reason: e.reason }),
    ),
    source.events.onConfigApplied((e) => send({ type: 'config', kind: 'applied', source: e.source })),
    source.events.onConfigRejected((e) => send({ type: 'config', kind: 'rejected', source: e.source, reason: e.error })),
    source.events.onDiscovery((e) => send({ type: 'discovery', service: e.service, kind: e.kind, reason: e.reason })),
    source.events.onBreaker((e) => send({ type: 'breaker', service: e.service, breaker: e.breaker, state: e.state, previous: e.previous })),
  ];

  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const path = (request.url ?? '/').split('?')[0];
    if (request.method !== 'GET') return reply(response, 405, 'text/plain', 'GET only\n');
    if (path === '/') return reply(response, 200, 'text/html; charset=utf-8', STATUS_PAGE);
    if (path === '/clusters') return reply(response, 200, 'application/json', JSON.stringify(clusters(source), null, 1));
    if (path === '/config') return reply(response, 200, 'application/json', JSON.stringify(source.config(), null, 1));
    if (path === '/metrics') {
      if (options.prometheus) return options.prometheus.handle(request, response);
      return reply(response, 404, 'text/plain', 'no Prometheus exporter: pass servePrometheus() to serveAdmin({ prometheus })\n');
    }
    if (path === '/events') {
      response.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
      const [seenEpoch, seenId] = String(request.headers['last-event-id'] ?? '').split('-');
      const seen = seenEpoch === epoch ? Number(seenId) || 0 : 0;
      const missed = recent.since(seen);
      response.write(`: grpc-meshlite events (the ${missed.length} recent ones first)\n\n`);
      for (const entry of missed) response.write(eventLine(epoch, entry));
      streams.add(response);
      request.on('close', () => streams.delete(response));
      return;
    }
    return reply(response, 404, 'text/plain', 'not found: try /, /clusters, /config, /events, /metrics\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 9901, host, () => resolve());
  });
  const { port } = server.address() as { port: number };
  return {
    url: `http://${host}:${port}/`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const dispose of disposers) dispose();
        for (const stream of streams) stream.end();
        streams.clear();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function reply(response: ServerResponse, status: number, type: string, body: string): void {
  response.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
  response.end(body);
}

/** One entry as a server-sent event: the latest event's fields, and how many there were since when. */
function eventLine(epoch: string, entry: EventEntry): string {
  const data = {
    at: entry.at,
    ...entry.event,
    entry: `${epoch}-${entry.entry}`,
    count: entry.count,
    firstAt: entry.firstAt,
    ...(entry.first && { first: entry.first }),
  };
  return `id: ${epoch}-${entry.id}\ndata: ${JSON.stringify(data)}\n\n`;
}

/**
 * Every service — its calls as the callers saw them over the last 10 s, and per second over
 * the last two minutes — and every endpoint, with its attempts over the same.
 */
function clusters(source: AdminSource) {
  const now = source.now();
  source.stats.prune(now);
  return {
    at: now,
    windowMs: WINDOW_MS,
    historySeconds: KEPT_SECONDS,
    services: source.snapshot().map((balancer) => {
      const history = source.calls.history(balancer.service, KEPT_SECONDS, now);
      return {
        ...balancer,
        calls: source.calls.window(balancer.service, WINDOW_MS, now),
        history: { end: history.end, calls: history.count, failed: history.failed },
        endpoints: balancer.endpoints.map((endpoint) => ({
          ...endpoint,
          recent: source.stats.window(balancer.service, endpoint.address, WINDOW_MS, now),
          history: source.stats.history(balancer.service, endpoint.address, KEPT_SECONDS, now).count,
        })),
      };
    }),
    clients: source.clients(),
  };
}
