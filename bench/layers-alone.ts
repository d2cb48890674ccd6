// What the client layers cost by themselves, in process: each layer of the full client (as
// mesh.clientStack() builds them from examples/mesh.json), and all of them composed, over an
// inner layer that answers at once. Against the cost-per-layer table (whole calls through
// grpc-js), it tells the layers' own work from what running a call through them inside grpc-js
// costs. Bounded: a fixed number of calls per round, rounds interleaved, CPU time per call.
import * as grpc from '@grpc/grpc-js';
import { createLogger, createMesh, describeMethod, type CancelSignal, type ClientLayer } from 'grpc-meshlite';
import { exampleConfig } from '../examples/client.js';

export type LayerAloneMode = 'none' | 'deadline' | 'circuit-breaker' | 'retry' | 'logging' | 'all';
export const LAYER_ALONE_MODES: readonly LayerAloneMode[] = ['none', 'deadline', 'circuit-breaker', 'retry', 'logging', 'all'];

export interface LayerAloneRun {
  readonly mode: LayerAloneMode;
  readonly round: number;
  /** Client CPU per call of the layer(s) and the inner layer together. */
  readonly nsPerCall: number;
}

type Next = Parameters<ClientLayer>[0];
type Call = Parameters<Next>[0];

const CALLS_PER_ROUND = 100_000;

export async function measureLayersAlone(rounds: number): Promise<LayerAloneRun[]> {
  // The inner layer answers as the transport does: a new result and attempt record per call.
  const inner: Next = () =>
    Promise.resolve({
      status: { code: grpc.status.OK, details: '', metadata: new grpc.Metadata() },
      headers: undefined,
      message: {},
      peer: '127.0.0.1:1',
      attempts: [{ code: grpc.status.OK, peer: '127.0.0.1:1', mayHaveReachedServer: true, startedAt: 0, durationMs: 1.2 }],
    });
  const config = exampleConfig({});
  const mesh = createMesh({ config, logger: createLogger({ level: 'warn', destination: { write: () => {} } }) });
  const stack = mesh.clientStack('orders', { metrics: false });
  const layerOf = (name: string) => stack.layers.find((entry) => entry.name === name)!.layer;
  const chains: Record<LayerAloneMode, Next> = {
    none: inner,
    deadline: layerOf('deadline')(inner),
    'circuit-breaker': layerOf('circuit-breaker')(inner),
    retry: layerOf('retry')(inner),
    logging: layerOf('logging')(inner),
    all: stack.layer(inner),
  };
  const method = describeMethod('/orders.v1.OrderService/GetOrder');
  const metadata = new grpc.Metadata();
  const noSink = { headers: () => {}, message: () => {} };
  // The caller never cancels: the adapter's own cancel signal is the adapter's cost, not the layers'.
  const signal: CancelSignal = { aborted: false, reason: undefined, addEventListener: () => {}, removeEventListener: () => {} };
  // What the grpc-js adapter hands the layers for a GetOrder call (hedged in examples/mesh.json).
  const call = (): Call => ({
    method,
    message: { id: 'o' },
    metadata,
    deadline: Date.now() + 2000,
    signal,
    sink: noSink,
    hint: undefined,
    callOptions: {},
    transport: inner,
  });
  const runs: LayerAloneRun[] = [];
  try {
    for (let round = 0; round <= rounds; round++) {
      for (const mode of round % 2 === 0 ? LAYER_ALONE_MODES : [...LAYER_ALONE_MODES].reverse()) {
        const next = chains[mode];
        const before = process.cpuUsage();
        for (let i = 0; i < CALLS_PER_ROUND; i++) await next(call());
        const used = process.cpuUsage(before);
        // Round 0 warms the JIT and is not kept.
        if (round > 0) runs.push({ mode, round, nsPerCall: ((used.user + used.system) * 1000) / CALLS_PER_ROUND });
      }
    }
  } finally {
    stack.close();
    mesh.close();
  }
  return runs;
}
