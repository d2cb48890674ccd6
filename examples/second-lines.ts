// The demo's line per second: calls ok and failed, where they went, each backend's state and
// what just happened — for the fault timeline, and for the canary (v2's shares).
import type { EndpointSnapshot, EndpointStatus } from 'grpc-meshlite';
import { shareToV2, splitView, type SplitView } from './canary.js';
import type { OrdersClient } from './client.js';
import type { CallRecord } from './load.js';
import type { Supervisor } from './supervisor.js';

/** What the per-second lines show: a header, then one line per second of calls that ended in it. */
export interface SecondView {
  readonly header: string;
  line(second: number, window: readonly CallRecord[], phase: string): string;
}

/** The fault timeline's lines: calls ok and failed, each backend's share and state, what happened. */
export function faultView(supervisor: Supervisor, orders: OrdersClient, notes: string[], names: readonly string[]): SecondView {
  const letters = names.map((name) => `to ${name.slice(-1)}`).join('  ');
  return {
    header: ` time  ok/s  fail/s  ${letters}  p99 ms  ${names.map((name) => name.padEnd(20)).join('  ')}  what happened`,
    line: (second, window) => {
      const ok = window.filter((r) => r.code === 0);
      const share = (name: string) =>
        ok.length === 0 ? '   -' : `${Math.round((100 * ok.filter((r) => r.servedBy === name).length) / ok.length)}%`.padStart(4);
      const shares = names.map(share).join('  ');
      return `${String(second).padStart(4)}s  ${String(ok.length).padStart(4)}  ${String(window.length - ok.length).padStart(6)}  ${shares}  ${p99Of(window).padStart(6)}  ${backendStates(supervisor, orders, names)}  ${[...new Set(notes.splice(0))].join(', ')}`;
    },
  };
}

/**
 * The canary's lines: v2's share of the calls without x-canary and of those with it, each
 * backend's state, what happened (reloads, routing events, the mirrors sent and failed). It
 * keeps the balancer's view of route "split" in each phase's last second for the summary.
 */
export function canaryView(supervisor: Supervisor, orders: OrdersClient, notes: string[], views: Map<string, SplitView>): SecondView {
  let mirrored = { sent: 0, failed: 0, dropped: 0 };
  const percent = (value: number | undefined) => (value === undefined ? '-' : `${Math.round(value)}%`);
  return {
    header: ` time  ok/s  fail/s  rest to v2  x-canary to v2  p99 ms  ${'ServiceA (v1)'.padEnd(20)}  ${'ServiceB (v2)'.padEnd(20)}  what happened`,
    line: (second, window, phase) => {
      views.set(phase, splitView(orders.mesh));
      const mirrors = orders.client.stack.route?.mirrors();
      if (mirrors && mirrors.sent > mirrored.sent) {
        const failed = mirrors.failed - mirrored.failed;
        const dropped = mirrors.dropped - mirrored.dropped;
        notes.push(`${mirrors.sent - mirrored.sent} mirrored (${failed} failed at v2${dropped > 0 ? `, ${dropped} dropped` : ''})`);
      }
      if (mirrors) mirrored = mirrors;
      const ok = window.filter((r) => r.code === 0).length;
      const rest = percent(shareToV2(window.filter((r) => !r.withHeader)));
      const tagged = percent(shareToV2(window.filter((r) => r.withHeader)));
      return `${String(second).padStart(4)}s  ${String(ok).padStart(4)}  ${String(window.length - ok).padStart(6)}  ${rest.padStart(10)}  ${tagged.padStart(14)}  ${p99Of(window).padStart(6)}  ${backendStates(supervisor, orders, ['ServiceA', 'ServiceB'])}  ${[...new Set(notes.splice(0))].join(', ')}`;
    },
  };
}

function p99Of(window: readonly CallRecord[]): string {
  const latencies = window.map((r) => r.endedAt - r.startedAt).sort((a, b) => a - b);
  return latencies.length === 0 ? '-' : String(latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * 0.99))]);
}

/** Each backend's state in a padded column: the process as the supervisor sees it, else the balancer's word. */
function backendStates(supervisor: Supervisor, orders: OrdersClient, names: readonly string[]): string {
  const endpoints = orders.mesh.snapshot('orders')[0]?.endpoints ?? [];
  const state = (name: string) =>
    (supervisor.has(name)
      ? describeEndpoint(
          endpoints.find((e) => e.name === name),
          supervisor.state(name),
        )
      : 'not started'
    ).padEnd(20);
  return names.map(state).join('  ');
}

/** How one backend stands: the process as the supervisor sees it, else the balancer's word. */
function describeEndpoint(endpoint: EndpointSnapshot | undefined, process: string): string {
  if (process === 'down') return 'process down';
  if (process === 'paused') return 'process hung';
  if (!endpoint) return 'not in the rotation';
  if (endpoint.status === 'slow-start') return `slow start ${Math.round((100 * endpoint.effectiveWeight) / endpoint.weight)}%`;
  return STATUS_WORDS[endpoint.status];
}

const STATUS_WORDS: Record<EndpointStatus, string> = {
  'in-rotation': 'in rotation',
  'slow-start': 'slow start',
  ejected: 'ejected',
  probing: 'probing',
  disconnected: 'not connected',
  starting: 'starting',
  'not-serving': 'NOT_SERVING',
  'health-failing': 'health check failing',
  drained: 'drained (weight 0)',
  leaving: 'removed, serving until its replacement is',
};
