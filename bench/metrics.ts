// What one benchmark run measured, computed from its call records.
import * as grpc from '@grpc/grpc-js';
import type { CallRecord } from '../examples/load.js';
import { quantile } from '../examples/report.js';

export interface RunTimes {
  /** Epoch ms of the load start, the fault, the heal and the end. */
  readonly start: number;
  readonly fault: number;
  readonly heal: number;
  readonly end: number;
}

export interface RunMetrics {
  readonly calls: number;
  readonly ok: number;
  /** Calls the caller saw fail. */
  readonly errors: number;
  /** The failed calls by status code name, with up to three different details of each. */
  readonly errorsByCode: Readonly<Record<string, { readonly count: number; readonly details: readonly string[] }>>;
  /** p50 / p99 latency of the calls started while the fault lasted, ms. */
  readonly p50Ms: number | null;
  readonly p99Ms: number | null;
  /** p99 latency before the fault, ms. */
  readonly steadyP99Ms: number | null;
  /**
   * Fault → the first moment after which, for as long as the fault lasted, throughput (over
   * 300 ms windows) stayed ≥ 90 % of before and no call failed. null: never during the fault.
   */
  readonly recoverMs: number | null;
  /** Fault → the last call sent to ServiceA. null: ServiceA kept getting calls to the end of the fault. */
  readonly shiftMs: number | null;
  /**
   * Fault → the first moment after which ServiceA's share of the calls (per 250 ms window)
   * stayed below 5 % until the heal. null: never.
   */
  readonly lowShareMs: number | null;
  /**
   * Probes: calls to ServiceA during the fault in a 250 ms window where it had under 5 % of the
   * calls, i.e. the calls a latency-aware balancer sends to test a backend it has otherwise
   * taken out (each one pays the slow answer that measures it).
   */
  readonly probes: number;
  /** p99 of the calls during the fault, the probes aside (issue 17: "plus the probe that measured it"). */
  readonly p99WithoutProbesMs: number | null;
  /**
   * Heal → the first call that succeeded after it, among calls started after the heal (after a
   * total outage: how soon the client uses a backend that answers again). null: none did.
   */
  readonly resumeMs: number | null;
  /** ServiceA's share of the calls started from 1 s into the fault to the heal, %. */
  readonly shareLateInFaultA: number;
  /**
   * Heal → the end of the first window (splitWindowMs, sliding by 100 ms) in which ServiceA's
   * share is within 5 points of before: when it first came back, whether or not it then stayed.
   */
  readonly firstBackToSplitMs: number | null;
  /** Heal → ServiceA's share back within 5 points of its share before the fault. null: not by the end. */
  readonly backToSplitMs: number | null;
  /** p99 latency of the calls that failed in the second half of the fault (total outage), ms. */
  readonly failFastP99Ms: number | null;
  /** Calls that reached a backend per call made (retries and hedges included). */
  readonly amplification: number | null;
  /** ServiceA's share of successful calls before the fault, %. */
  readonly shareBeforeA: number;
  /** Each backend's share of the successful calls started before the fault, and while it lasted, % (one decimal). */
  readonly sharesBefore: Readonly<Record<string, number>>;
  readonly sharesDuring: Readonly<Record<string, number>>;
  readonly duplicateOrders: number;
}

const BUCKET_MS = 100;

export function measure(
  records: readonly CallRecord[],
  times: RunTimes,
  received: number | null,
  duplicateOrders: number,
  /** Window over which ServiceA's share must be back within 5 points of before. */
  splitWindowMs = 250,
): RunMetrics {
  const ok = records.filter((r) => r.code === 0);
  const before = records.filter((r) => r.startedAt >= times.start + 500 && r.startedAt < times.fault);
  const during = records.filter((r) => r.startedAt >= times.fault && r.startedAt < times.heal);
  const latency = (rs: readonly CallRecord[]) => rs.map((r) => r.endedAt - r.startedAt).sort((a, b) => a - b);
  const beforeOk = before.filter((r) => r.code === 0);
  const shareA = (rs: readonly CallRecord[]) =>
    rs.length === 0 ? 0 : (100 * rs.filter((r) => r.servedBy === 'ServiceA').length) / rs.length;
  const lastToA = Math.max(-Infinity, ...during.filter((r) => r.servedBy === 'ServiceA').map((r) => r.startedAt));
  const probes = probesOf(during, times);
  const secondHalfFailures = during.filter((r) => r.code !== 0 && r.startedAt >= (times.fault + times.heal) / 2);
  return {
    calls: records.length,
    ok: ok.length,
    errors: records.length - ok.length,
    errorsByCode: byCode(records),
    p50Ms: quantile(latency(during), 0.5) ?? null,
    p99Ms: quantile(latency(during), 0.99) ?? null,
    steadyP99Ms: quantile(latency(before), 0.99) ?? null,
    recoverMs: recoverTime(records, times, beforeOk.length / ((times.fault - times.start - 500) / BUCKET_MS)),
    shiftMs: lastToA === -Infinity ? 0 : lastToA > times.heal - 200 ? null : Math.max(0, lastToA - times.fault),
    backToSplitMs: backToSplit(ok, times, shareA(beforeOk), splitWindowMs),
    firstBackToSplitMs: firstBack(ok, times, shareA(beforeOk), splitWindowMs),
    lowShareMs: lowShare(during, times),
    probes: probes.size,
    p99WithoutProbesMs: quantile(latency(during.filter((r) => !probes.has(r))), 0.99) ?? null,
    resumeMs: resume(ok, times),
    shareLateInFaultA: Math.round(shareA(during.filter((r) => r.startedAt >= times.fault + 1000)) * 10) / 10,
    failFastP99Ms: quantile(latency(secondHalfFailures), 0.99) ?? null,
    amplification: received === null || records.length === 0 ? null : received / records.length,
    shareBeforeA: Math.round(shareA(beforeOk) * 10) / 10,
    sharesBefore: shares(beforeOk),
    sharesDuring: shares(during.filter((r) => r.code === 0)),
    duplicateOrders,
  };
}

function recoverTime(records: readonly CallRecord[], times: RunTimes, baselinePerBucket: number): number | null {
  const first = Math.floor(times.fault / BUCKET_MS);
  const last = Math.floor(times.heal / BUCKET_MS);
  const okIn = new Map<number, number>();
  const failedIn = new Set<number>();
  for (const record of records) {
    const bucket = Math.floor(record.endedAt / BUCKET_MS);
    if (record.code === 0) okIn.set(bucket, (okIn.get(bucket) ?? 0) + 1);
    else failedIn.add(bucket);
  }
  // Throughput over 300 ms windows: a paced load completes ±20 % per 100 ms bucket by itself.
  const windowOk = (bucket: number) => ((okIn.get(bucket) ?? 0) + (okIn.get(bucket + 1) ?? 0) + (okIn.get(bucket + 2) ?? 0)) / 3;
  // Walk back from the end of the fault while the client looks healthy.
  let recovered: number | null = null;
  for (let bucket = last - 3; bucket >= first; bucket--) {
    if (windowOk(bucket) < 0.9 * baselinePerBucket || failedIn.has(bucket) || failedIn.has(bucket + 1) || failedIn.has(bucket + 2)) break;
    recovered = bucket;
  }
  return recovered === null ? null : Math.max(0, recovered * BUCKET_MS - times.fault);
}

function resume(ok: readonly CallRecord[], times: RunTimes): number | null {
  const after = ok.filter((r) => r.startedAt >= times.heal);
  return after.length === 0 ? null : Math.max(0, Math.min(...after.map((r) => r.endedAt)) - times.heal);
}

/** ServiceA's calls in the 250 ms windows of the fault where it had under 5 % of the calls. */
function probesOf(during: readonly CallRecord[], times: RunTimes): Set<CallRecord> {
  const windowMs = 250;
  const probes = new Set<CallRecord>();
  for (let begin = times.fault; begin < times.heal; begin += windowMs) {
    const inWindow = during.filter((r) => r.startedAt >= begin && r.startedAt < begin + windowMs);
    const toA = inWindow.filter((r) => r.servedBy === 'ServiceA');
    if (inWindow.length > 0 && toA.length / inWindow.length < 0.05) for (const r of toA) probes.add(r);
  }
  return probes;
}

function lowShare(during: readonly CallRecord[], times: RunTimes): number | null {
  const windowMs = 250;
  let low: number | null = null;
  for (let end = times.heal; end - windowMs >= times.fault; end -= windowMs) {
    const inWindow = during.filter((r) => r.startedAt >= end - windowMs && r.startedAt < end);
    if (inWindow.length === 0) continue;
    if (inWindow.filter((r) => r.servedBy === 'ServiceA').length / inWindow.length >= 0.05) break;
    low = end - windowMs;
  }
  return low === null ? null : Math.max(0, low - times.fault);
}

function firstBack(ok: readonly CallRecord[], times: RunTimes, shareBefore: number, windowMs: number): number | null {
  const after = ok.filter((r) => r.startedAt >= times.heal);
  for (let end = times.heal + windowMs; end <= times.end; end += BUCKET_MS) {
    const inWindow = after.filter((r) => r.startedAt >= end - windowMs && r.startedAt < end);
    if (inWindow.length < 10) continue;
    const share = (100 * inWindow.filter((r) => r.servedBy === 'ServiceA').length) / inWindow.length;
    if (Math.abs(share - shareBefore) <= 5) return end - times.heal;
  }
  return null;
}

function backToSplit(ok: readonly CallRecord[], times: RunTimes, shareBefore: number, windowMs: number): number | null {
  const after = ok.filter((r) => r.startedAt >= times.heal);
  let back: number | null = null;
  for (let end = times.end; end - windowMs >= times.heal; end -= windowMs) {
    const inWindow = after.filter((r) => r.startedAt >= end - windowMs && r.startedAt < end);
    if (inWindow.length < 10) continue;
    const share = (100 * inWindow.filter((r) => r.servedBy === 'ServiceA').length) / inWindow.length;
    if (Math.abs(share - shareBefore) > 5) break;
    back = end - windowMs;
  }
  return back === null ? null : Math.max(0, back - times.heal);
}

function shares(ok: readonly CallRecord[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const record of ok) counts[record.servedBy ?? '?'] = (counts[record.servedBy ?? '?'] ?? 0) + 1;
  return Object.fromEntries(Object.entries(counts).map(([name, n]) => [name, Math.round((1000 * n) / ok.length) / 10]));
}

function byCode(records: readonly CallRecord[]): Record<string, { count: number; details: string[] }> {
  const out: Record<string, { count: number; details: string[] }> = {};
  for (const record of records) {
    if (record.code === grpc.status.OK) continue;
    const entry = (out[grpc.status[record.code] ?? String(record.code)] ??= { count: 0, details: [] });
    entry.count++;
    const details = record.details ?? '';
    if (entry.details.length < 3 && !entry.details.includes(details)) entry.details.push(details);
  }
  return out;
}
