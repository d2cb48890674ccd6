// The mesh's state as metrics, read from its snapshots when a reader collects (nothing is
// computed per call). Aggregated (servePrometheus, createMeshMetricProducer), a series whose
// subject is gone — an endpoint that left, a tier no longer planned — is gone from the next
// scrape; through the SDK's own observable instruments it stays (OpenTelemetry JS #4096).
import type { Attributes } from '@opentelemetry/api';
import { observableCounter, observableGauge, type ObservableDescription, type Observe } from './aggregation.js';
import type { Recorder } from './metrics.js';

/** What the mesh's state instruments read, each time a reader collects. */
export interface MeshStateSource {
  snapshot(): ReadonlyArray<{
    readonly service: string;
    readonly failovers: number;
    /** Calls failed at once because no endpoint was usable (or there was none). */
    readonly unavailable: number;
    readonly tiers: ReadonlyArray<{ readonly priority: number; readonly load: number; readonly panic: boolean }>;
    readonly endpoints: ReadonlyArray<{
      readonly name: string;
      readonly address: string;
      readonly priority: number;
      readonly connectivity: string;
      readonly effectiveWeight: number;
      readonly usable: boolean;
      readonly serving: boolean;
      readonly ejection: string;
      readonly ejections: number;
      readonly healthFailures: number;
      readonly inFlight: number;
    }>;
  }>;
  /** Breaker states, openings and refusals, retry budget balances and refusals of the mesh's clients, by the client's name. */
  clients(): ReadonlyArray<{
    readonly name: string;
    readonly breakers: Readonly<Record<string, { readonly state: string; readonly opened: number; readonly refused: number }>>;
    readonly budget: { readonly available: number; readonly refused: number } | null;
  }>;
  /** Config reloads applied and rejected, by what was reloaded ("mesh-config", "tls-files"). */
  configReloads(): ReadonlyArray<{ readonly subject: string; readonly result: 'applied' | 'rejected'; readonly count: number }>;
  /** Each discovery source's state: up after it listed its endpoints, down while it cannot. */
  discovery(): ReadonlyArray<{ readonly service: string; readonly source: string; readonly up: boolean; readonly outages: number }>;
}

/** The breaker's states, each its own 0/1 series (`meshlite.state`), so a query needs no enum. */
export const BREAKER_STATES = ['closed', 'half-open', 'open'] as const;

export const MESH_STATE_INSTRUMENTS = Object.freeze({
  inRotation: observableGauge('meshlite.endpoint.in_rotation', '', '1 when the endpoint takes regular calls, else 0.'),
  serving: observableGauge('meshlite.endpoint.serving', '', '1 when connected and passing its health check, else 0.'),
  ejected: observableGauge('meshlite.endpoint.ejected', '', '1 when ejected (or probing) for failures, else 0.'),
  weight: observableGauge('meshlite.endpoint.effective_weight', '', 'Weight in use now (slow start lowers it).'),
  inFlight: observableGauge('meshlite.endpoint.in_flight', '{call}', 'Calls sent to the endpoint that have not ended yet.'),
  ejections: observableCounter(
    'meshlite.endpoint.ejections',
    '{ejection}',
    'Times the endpoint (or one of its methods) was ejected for failures.',
  ),
  healthFailures: observableCounter(
    'meshlite.endpoint.health_failures',
    '{failure}',
    'Times its health check failed: a probe unanswered in time or failed, the Watch stream broken (NOT_SERVING is an answer, not a failure).',
  ),
  tierLoad: observableGauge('meshlite.service.tier.load', '1', 'Share of the service\u2019s traffic a priority tier takes, 0 to 1.'),
  panic: observableGauge(
    'meshlite.service.tier.panic',
    '',
    '1 when the tier is in panic mode (spreads over every connected endpoint), else 0.',
  ),
  failovers: observableCounter('meshlite.service.failovers', '{failover}', 'Times traffic moved to another priority tier (or to none).'),
  unavailable: observableCounter(
    'meshlite.service.unavailable',
    '{call}',
    'Calls failed at once (UNAVAILABLE) because no endpoint of the service was usable, or it had none; calls that wait for ready are not counted.',
  ),
  openConnections: observableGauge('grpc.subchannel.open_connections', '{connection}', 'Number of open connections (gRPC A94).'),
  breakerState: observableGauge(
    'meshlite.client.breaker.state',
    '',
    '1 for the state the breaker is in (meshlite.state: closed, half-open, open), 0 for the others.',
  ),
  breakerOpened: observableCounter('meshlite.client.breaker.opened', '{transition}', 'Times the breaker opened.'),
  breakerRefused: observableCounter(
    'meshlite.client.breaker.refused',
    '{call}',
    'Calls the breaker refused (failed at once, not sent) while open or probing.',
  ),
  budget: observableGauge('meshlite.client.retry_budget.available', '{retry}', 'Retries the budget would grant now.'),
  budgetRefused: observableCounter('meshlite.client.retry_budget.refused', '{retry}', 'Retries and hedges the budget refused.'),
  configReloads: observableCounter(
    'meshlite.config.reloads',
    '{reload}',
    'Config reloads by what was reloaded and whether it was applied or rejected.',
  ),
  discoveryUp: observableGauge(
    'meshlite.discovery.up',
    '',
    '1 while the discovery source (etcd, DNS) has listed its endpoints, 0 while it cannot reach them.',
  ),
  discoveryOutages: observableCounter('meshlite.discovery.outages', '{outage}', 'Times the discovery source became unavailable.'),
} satisfies Record<string, ObservableDescription>);

/**
 * Registers the mesh's state instruments with `recorder` (nothing without one): per endpoint
 * in rotation, serving, ejected, effective weight, calls in flight, ejections, health check
 * failures; per service and tier the share of traffic and panic mode, failovers, calls failed
 * for want of an endpoint, open connections; per client breaker state, openings and refusals,
 * retry budget; config reloads; discovery sources up or down. Returns the disposer.
 */
export function observeMeshState(recorder: Recorder | undefined, source: MeshStateSource): (() => void) | undefined {
  if (!recorder) return undefined;
  return recorder.observe(Object.values(MESH_STATE_INSTRUMENTS), (observe) => observeOnce(observe, source));
}

function observeOnce(observe: Observe, source: MeshStateSource): void {
  const m = MESH_STATE_INSTRUMENTS;
  // Several channels may balance one service: their counts add up, their states are each
  // channel's; connections are shared between them (grpc-js's subchannel pool), so counted once.
  const byService = new Map<string, { failovers: number; unavailable: number; open: Set<string> }>();
  for (const balancer of source.snapshot()) {
    const service = { 'meshlite.service': balancer.service };
    let totals = byService.get(balancer.service);
    if (!totals) byService.set(balancer.service, (totals = { failovers: 0, unavailable: 0, open: new Set() }));
    totals.failovers += balancer.failovers;
    totals.unavailable += balancer.unavailable;
    for (const tier of balancer.tiers) {
      const attributes = { ...service, 'meshlite.priority': tier.priority };
      observe(m.tierLoad, tier.load / 100, attributes);
      observe(m.panic, tier.panic ? 1 : 0, attributes);
    }
    for (const endpoint of balancer.endpoints) {
      if (endpoint.connectivity === 'READY') totals.open.add(endpoint.address);
      const attributes: Attributes = {
        ...service,
        'meshlite.endpoint': endpoint.name,
        'meshlite.address': endpoint.address,
        'meshlite.priority': endpoint.priority,
      };
      observe(m.inFlight, endpoint.inFlight, attributes);
      observe(m.inRotation, endpoint.usable ? 1 : 0, attributes);
      observe(m.serving, endpoint.serving ? 1 : 0, attributes);
      observe(m.ejected, endpoint.ejection === 'admitted' ? 0 : 1, attributes);
      observe(m.weight, endpoint.effectiveWeight, attributes);
      observe(m.ejections, endpoint.ejections, attributes);
      observe(m.healthFailures, endpoint.healthFailures, attributes);
    }
  }
  for (const [service, totals] of byService) {
    observe(m.failovers, totals.failovers, { 'meshlite.service': service });
    observe(m.unavailable, totals.unavailable, { 'meshlite.service': service });
    observe(m.openConnections, totals.open.size, { 'grpc.target': `mesh:///${service}` });
  }
  for (const client of source.clients()) {
    const named = { 'meshlite.client': client.name };
    for (const [key, snapshot] of Object.entries(client.breakers)) {
      const attributes = { ...named, 'meshlite.breaker': key };
      for (const state of BREAKER_STATES)
        observe(m.breakerState, snapshot.state === state ? 1 : 0, { ...attributes, 'meshlite.state': state });
      observe(m.breakerOpened, snapshot.opened, attributes);
      observe(m.breakerRefused, snapshot.refused, attributes);
    }
    if (client.budget) {
      observe(m.budget, client.budget.available, named);
      observe(m.budgetRefused, client.budget.refused, named);
    }
  }
  for (const { subject, result, count } of source.configReloads()) {
    observe(m.configReloads, count, { 'meshlite.config': subject, 'meshlite.result': result });
  }
  for (const { service, source: from, up, outages } of source.discovery()) {
    const attributes = { 'meshlite.service': service, 'meshlite.source': from };
    observe(m.discoveryUp, up ? 1 : 0, attributes);
    observe(m.discoveryOutages, outages, attributes);
  }
}
