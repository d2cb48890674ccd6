// Small summaries of recorded calls, shared by the demo and the benchmark.
import { status } from '@grpc/grpc-js';
import type { CallRecord } from './load.js';

export interface PhaseSummary {
  readonly phase: string;
  readonly calls: number;
  readonly failed: number;
  /** Share of successful calls served by each backend, 0..100. */
  readonly shares: Readonly<Record<string, number>>;
  readonly p50Ms: number | undefined;
  readonly p99Ms: number | undefined;
}

/** The q-quantile (0..1) of already sorted values; nearest rank. */
export function quantile(sorted: readonly number[], q: number): number | undefined {
  if (sorted.length === 0) return undefined;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

export function summarize(phase: string, records: readonly CallRecord[]): PhaseSummary {
  const ok = records.filter((r) => r.code === 0);
  const shares: Record<string, number> = {};
  for (const record of ok) if (record.servedBy) shares[record.servedBy] = (shares[record.servedBy] ?? 0) + 1;
  for (const name of Object.keys(shares)) shares[name] = Math.round((1000 * shares[name]!) / ok.length) / 10;
  const latencies = records.map((r) => r.endedAt - r.startedAt).sort((a, b) => a - b);
  return {
    phase,
    calls: records.length,
    failed: records.length - ok.length,
    shares,
    p50Ms: quantile(latencies, 0.5),
    p99Ms: quantile(latencies, 0.99),
  };
}

/** A plain-text table of phase summaries. */
export function formatTable(rows: readonly PhaseSummary[]): string {
  const header = ['phase', 'calls', 'failed', 'ServiceA', 'ServiceB', 'p50 ms', 'p99 ms'];
  const lines = rows.map((row) => [
    row.phase,
    String(row.calls),
    String(row.failed),
    `${row.shares['ServiceA'] ?? 0} %`,
    `${row.shares['ServiceB'] ?? 0} %`,
    row.p50Ms === undefined ? '-' : String(row.p50Ms),
    row.p99Ms === undefined ? '-' : String(row.p99Ms),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const format = (cells: string[]) => cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ');
  return [format(header), widths.map((w) => '-'.repeat(w)).join('  '), ...lines.map(format)].join('\n');
}

/** Failed calls grouped by phase, code and details, most frequent first: what a reader needs to see why. */
export function whyTheyFailed(failed: readonly CallRecord[], phaseOf: ReadonlyMap<CallRecord, string>): string[] {
  const counts = new Map<string, number>();
  for (const record of failed) {
    const key = `${phaseOf.get(record) ?? '?'}: ${status[record.code] ?? record.code} ${record.method} — ${record.details ?? '(no details)'}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return [...counts].sort(([, a], [, b]) => b - a).map(([key, count]) => `${String(count).padStart(5)} × ${key}`);
}
