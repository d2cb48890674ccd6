// What the client layers cost by themselves, in process: each layer of the full client (as
// mesh.clientStack() builds them from examples/mesh.json), and all of them composed, over an
// inner layer that answers at once. Against the cost-per-layer table (whole calls through
// grpc-js), it tells the layers' own work from what running a call through them inside grpc-js
// costs. Timed as in-process.ts does.
//
//   node --import tsx --conditions=grpc-meshlite-source bench/layers-alone.ts [rounds] [--json]
//     this part alone, from the sources (default 5 rounds): the median CPU per call of each
//     chain, and what it costs above 'none' (--json: every run, as the bench reads them)
import { execFile } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { createLogger, createMesh } from 'grpc-meshlite';
import { describeMethod, type CancelSignal, type ClientSend } from 'grpc-meshlite/layers';
import { exampleConfig } from '../examples/client.js';
import { costOverNone, timeChains, type Call, type InProcessRun, type Next } from './in-process.js';

export type LayerAloneMode = 'none' | 'deadline' | 'circuit-breaker' | 'retry' | 'logging' | 'all';
export const LAYER_ALONE_MODES: readonly LayerAloneMode[] = ['none', 'deadline', 'circuit-breaker', 'retry', 'logging', 'all'];

export type LayerAloneRun = InProcessRun<LayerAloneMode>;

const CALLS_PER_ROUND = 100_000;

export async function measureLayersAlone(rounds: number): Promise<LayerAloneRun[]> {
  // The inner layer answers as the transport does: a new result and attempt record per call,
  // handed on in a microtask (ClientSend's rule: never before the send has returned).
  const result = () => ({
    status: { code: grpc.status.OK, details: '', metadata: new grpc.Metadata() },
    headers: undefined,
    message: {},
    peer: '127.0.0.1:1',
    attempts: [{ code: grpc.status.OK, peer: '127.0.0.1:1', mayHaveReachedServer: true, startedAt: 0, durationMs: 1.2 }],
  });
  const inner: ClientSend = (_call, hand) => queueMicrotask(() => hand(result()));
  const config = exampleConfig({});
  const mesh = createMesh({ config, logger: createLogger({ level: 'warn', destination: { write: () => {} } }) });
  const stack = mesh.clientStack('orders', { metrics: false });
  // The layers in the form the grpc-js adapter runs them (their callback form), each call
  // awaited by the timing loop: the one promise that costs is in 'none' too.
  const timed =
    (send: ClientSend): Next =>
    (call) =>
      new Promise((resolve) => send(call, resolve));
  const layerOf = (name: string) => stack.layers.find((entry) => entry.name === name)!.layer.send!;
  const chains: Record<LayerAloneMode, Next> = {
    none: timed(inner),
    deadline: timed(layerOf('deadline')(inner)),
    'circuit-breaker': timed(layerOf('circuit-breaker')(inner)),
    retry: timed(layerOf('retry')(inner)),
    logging: timed(layerOf('logging')(inner)),
    all: timed(stack.layer.send!(inner)),
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
    route: undefined,
    callOptions: {},
    transport: () => Promise.resolve(result()),
    via: undefined,
    trace: undefined,
    attempt: undefined,
  });
  try {
    return await timeChains(chains, LAYER_ALONE_MODES, call, rounds, CALLS_PER_ROUND);
  } finally {
    stack.close();
    mesh.close();
  }
}

/**
 * measureLayersAlone in a node process of its own (the built package, as the rest of the bench
 * uses it). Inside the bench's process, after its scenarios and a few hundred stacks, the same
 * chains read several times slower — its heap, and what V8 learned there about the code's
 * objects, are the bench's — and the layers' own work is what this part measures.
 */
export async function measureLayersAloneInChild(rounds: number): Promise<LayerAloneRun[]> {
  const script = fileURLToPath(import.meta.url);
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', script, String(rounds), '--json'], {
    maxBuffer: 16 * 1024 * 1024,
  });
  return JSON.parse(stdout) as LayerAloneRun[];
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const rounds = Number(process.argv[2] ?? 5);
  const runs = await measureLayersAlone(rounds);
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? NaN;
  if (process.argv.includes('--json')) console.log(JSON.stringify(runs));
  else
    for (const mode of LAYER_ALONE_MODES) {
      const own = median(runs.filter((run) => run.mode === mode).map((run) => run.nsPerCall));
      const above = mode === 'none' ? '' : `, ${Math.round(median(costOverNone(runs, mode)))} ns above none`;
      console.log(`${mode.padEnd(16)} ${Math.round(own)} ns per call${above}`);
    }
}
