// Timing client layers in process, without grpc-js around them: each chain over an inner layer
// that answers at once, a fixed number of calls per round, rounds interleaved (the order
// reversed every other round), client CPU time per call. Bounded by count, never by time.
import type { ClientLayer } from 'grpc-meshlite/layers';

export type Next = Parameters<ClientLayer>[0];
export type Call = Parameters<Next>[0];

export interface InProcessRun<M extends string> {
  readonly mode: M;
  readonly round: number;
  /** Client CPU per call of the chain and its inner layer together. */
  readonly nsPerCall: number;
}

/** Runs `rounds` kept rounds (after one that warms the JIT) of `callsPerRound` calls through each chain. */
export async function timeChains<M extends string>(
  chains: Readonly<Record<M, Next>>,
  modes: readonly M[],
  call: () => Call,
  rounds: number,
  callsPerRound: number,
): Promise<InProcessRun<M>[]> {
  const runs: InProcessRun<M>[] = [];
  for (let round = 0; round <= rounds; round++) {
    for (const mode of round % 2 === 0 ? modes : [...modes].reverse()) {
      const next = chains[mode];
      const before = process.cpuUsage();
      for (let i = 0; i < callsPerRound; i++) await next(call());
      const used = process.cpuUsage(before);
      // Round 0 warms the JIT and is not kept.
      if (round > 0) runs.push({ mode, round, nsPerCall: ((used.user + used.system) * 1000) / callsPerRound });
    }
  }
  return runs;
}

/** Per round, what `mode` cost above the chain-less 'none' run of the same round, in ns per call. */
export function costOverNone<M extends string>(runs: readonly InProcessRun<M | 'none'>[], mode: M): number[] {
  const none = runs.filter((r) => r.mode === 'none');
  return runs.filter((r) => r.mode === mode).flatMap((r) => none.filter((n) => n.round === r.round).map((n) => r.nsPerCall - n.nsPerCall));
}
