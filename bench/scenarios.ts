// The fault scenarios: what is done to the backends, and how it is undone.
import * as grpc from '@grpc/grpc-js';
import { HealthClient } from 'grpc-meshlite/layers';
import type { Supervisor } from '../examples/supervisor.js';
import type { RotatingClientCertificates } from './rotating-certs.js';

export const SCENARIOS = [
  'kill',
  'hang',
  'drain',
  'errors',
  'slow',
  'silent',
  'outage',
  'late-start',
  'max-age',
  'cert-rotation',
  'tiers',
] as const;
/** The latency part's scenario is run by that part only, with its own stacks. */
export type ScenarioName = (typeof SCENARIOS)[number] | 'latency';

export interface Scenario {
  readonly name: ScenarioName;
  readonly description: string;
  /** Deadline of each call of the load, in ms. Default 2000. */
  readonly deadlineMs?: number;
  /** The load's calls wait for a ready backend (grpc-js waitForReady). Default false. */
  readonly waitForReady?: boolean;
  /** Calls per second of the load, when the scenario fixes it (else --rate). */
  readonly rate?: number;
  /** How long the fault lasts, when the scenario fixes it (else --fault-ms). */
  readonly faultMs?: number;
  /**
   * The fault starts before the client exists: the client is created (with no connection
   * yet) and the load starts while the backends are down.
   */
  readonly beforeClient?: boolean;
  /**
   * Window over which ServiceA's share counts as back to the split (default 250 ms): an
   * adaptive balancer's share moves call by call, so its scenario judges it per second.
   */
  readonly splitWindowMs?: number;
  /** Processes the fault kills (their call counters are read just before). */
  readonly kills?: readonly string[];
  /**
   * Backends of its own instead of the bench's ServiceA and ServiceB (which run with default
   * flags for every other scenario): started for each round of this scenario, used by both
   * stacks, stopped after.
   */
  readonly backends?: ScenarioBackends;
  /**
   * Starts the fault. `faultMs` is how long it will last; `certificates` are the client's
   * files when the backends serve mutual TLS.
   */
  apply(supervisor: Supervisor, faultMs: number, certificates?: RotatingClientCertificates): void;
  /** Ends it; resolves when the backends are back (a killed one restarted and listening). */
  heal(supervisor: Supervisor, certificates?: RotatingClientCertificates): Promise<void>;
}

export interface ScenarioBackends {
  /** The processes, named as the endpoints they are (served_by says which one answered). */
  readonly names: readonly string[];
  /** Flags for each of them, after the bench's own (--store-dir, --grace-ms). */
  readonly args?: readonly string[];
  /** They serve mutual TLS from throwaway certificates; both stacks read the client's files. */
  readonly tls?: boolean;
  /** Endpoints examples/mesh.json does not list, with the weight and priority the mesh gives them. */
  readonly added?: Readonly<Record<string, { readonly weight: number; readonly priority: number }>>;
}

/**
 * Connections closed on a timer, as servers behind a load balancer often set it (gRPC A9): a
 * GOAWAY after 2 s (grpc-js jitters it ±10 %), then 1 s for open calls before the connection
 * is cut — grpc-go's example sets 30 s and 5 s, scaled down here so that every connection is
 * replaced at least once within each phase of a run; the grace is still 200× a call here.
 */
const MAX_CONNECTION_AGE = ['--max-connection-age-ms', '2000', '--max-connection-age-grace-ms', '1000'];

function certificatesOf(certificates: RotatingClientCertificates | undefined): RotatingClientCertificates {
  if (!certificates) throw new Error('cert-rotation runs on backends serving mutual TLS: no client certificates to rotate');
  return certificates;
}

const restarted = (supervisor: Supervisor, names: readonly string[]) =>
  Promise.all(
    names.map(
      (name) =>
        new Promise<void>((resolve) => {
          if (supervisor.state(name) === 'running') return resolve();
          const dispose = supervisor.onEvent((event) => {
            if (event.kind === 'started' && event.name === name) {
              dispose();
              resolve();
            }
          });
        }),
    ),
  ).then(() => undefined);

export const scenarios: Record<ScenarioName, Scenario> = {
  kill: {
    name: 'kill',
    description: 'ServiceA killed (SIGKILL), restarted by the supervisor when the fault ends',
    kills: ['ServiceA'],
    apply: (s, faultMs) => s.kill('ServiceA', faultMs),
    heal: (s) => restarted(s, ['ServiceA']),
  },
  hang: {
    name: 'hang',
    description: 'ServiceA hung (SIGSTOP): connections open, nothing answered; SIGCONT to heal',
    apply: (s) => s.pause('ServiceA'),
    heal: async (s) => s.resume('ServiceA'),
  },
  drain: {
    name: 'drain',
    description: 'ServiceA reports NOT_SERVING (still answers calls); SERVING to heal',
    apply: (s) => s.send('ServiceA', { type: 'health', status: 'NOT_SERVING' }),
    heal: async (s) => s.send('ServiceA', { type: 'health', status: 'SERVING' }),
  },
  errors: {
    name: 'errors',
    description: 'ServiceA fails every call with UNAVAILABLE while its health says SERVING',
    apply: (s) => s.send('ServiceA', { type: 'faults', failRate: 1 }),
    heal: async (s) => s.send('ServiceA', { type: 'faults', failRate: 0 }),
  },
  slow: {
    name: 'slow',
    description: 'ServiceA answers every call 300 ms late; its health stays SERVING',
    apply: (s) => s.send('ServiceA', { type: 'faults', latencyMs: 300 }),
    heal: async (s) => s.send('ServiceA', { type: 'faults', latencyMs: 0 }),
  },
  silent: {
    name: 'silent',
    description: 'ServiceA never answers GetOrder while its health says SERVING and CreateOrder works; callers use a 300 ms deadline',
    deadlineMs: 300,
    apply: (s) => s.send('ServiceA', { type: 'faults', silentMethods: ['GetOrder'] }),
    heal: async (s) => s.send('ServiceA', { type: 'faults', silentMethods: [] }),
  },
  'late-start': {
    name: 'late-start',
    description:
      'the client starts while neither backend accepts connections; both listen again 1 s later; calls wait for ready, 2 s deadlines, 200 calls/s',
    waitForReady: true,
    // The rate the issue measured it at: the second's worth of waiting calls then fits the
    // backends' concurrency limit (256) when they come up, so the run measures the client.
    rate: 200,
    faultMs: 1000,
    beforeClient: true,
    apply: (s) => {
      for (const name of ['ServiceA', 'ServiceB']) s.send(name, { type: 'listen', listening: false });
    },
    heal: async (s) => {
      for (const name of ['ServiceA', 'ServiceB']) s.send(name, { type: 'listen', listening: true });
      // Commands are handled in order: once a stats answer comes back, the bind has started.
      await Promise.all(['ServiceA', 'ServiceB'].map((name) => s.stats(name, 2000)));
    },
  },
  latency: {
    name: 'latency',
    description: 'ServiceA answers every call 200 ms late (health SERVING), hedging off: does the balancer see it?',
    splitWindowMs: 1000,
    apply: (s) => s.send('ServiceA', { type: 'faults', latencyMs: 200 }),
    heal: async (s) => s.send('ServiceA', { type: 'faults', latencyMs: 0 }),
  },
  'max-age': {
    name: 'max-age',
    description:
      'both backends close every connection after 2 s (max_connection_age, ±10 % jitter, 1 s grace) for the whole run, so both often reconnect at once; no other fault (the fault window is where latency is measured)',
    backends: { names: ['ServiceA', 'ServiceB'], args: MAX_CONNECTION_AGE },
    apply: () => {},
    heal: async () => {},
  },
  'cert-rotation': {
    name: 'cert-rotation',
    description:
      "mutual TLS; during the fault the client's certificate and key files are rewritten in place with a newly issued pair, a third in its CA bundle gains a second CA, two thirds in another new pair; the backends close connections after 2 s as in max-age, so new handshakes use the files",
    backends: { names: ['ServiceA', 'ServiceB'], args: MAX_CONNECTION_AGE, tls: true },
    apply: (_s, faultMs, certificates) => certificatesOf(certificates).rotate(faultMs),
    heal: async (_s, certificates) => certificatesOf(certificates).stopRotating(),
  },
  tiers: {
    name: 'tiers',
    description:
      'ServiceA and ServiceB at priority 0 (80/20), ServiceC at priority 1; ServiceA and ServiceB killed together (SIGKILL), restarted when the fault ends; plain grpc-js balances over all three',
    backends: { names: ['ServiceA', 'ServiceB', 'ServiceC'], added: { ServiceC: { weight: 100, priority: 1 } } },
    kills: ['ServiceA', 'ServiceB'],
    apply: (s, faultMs) => {
      s.kill('ServiceA', faultMs);
      s.kill('ServiceB', faultMs);
    },
    heal: (s) => restarted(s, ['ServiceA', 'ServiceB']),
  },
  outage: {
    name: 'outage',
    description: 'both backends killed; restarted when the fault ends',
    kills: ['ServiceA', 'ServiceB'],
    apply: (s, faultMs) => {
      s.kill('ServiceA', faultMs);
      s.kill('ServiceB', faultMs);
    },
    // Healed once both answer a health check again: the resume time then measures the client,
    // not how long a restarted process takes to serve its first call.
    heal: async (s) => {
      await restarted(s, ['ServiceA', 'ServiceB']);
      await Promise.all(['ServiceA', 'ServiceB'].map((name) => answering(`127.0.0.1:${s.port(name)}`)));
    },
  },
};

/** Resolves once a fresh client gets SERVING from grpc.health.v1 Check at `address` (bounded: 10 s). */
async function answering(address: string): Promise<void> {
  const client = new HealthClient(address, grpc.credentials.createInsecure());
  try {
    for (const stopAt = Date.now() + 10_000; Date.now() < stopAt;) {
      const serving = await new Promise<boolean>((resolve) =>
        client.check({ service: '' }, { deadline: Date.now() + 200 }, (error, response) =>
          resolve(!error && response?.status === 'SERVING'),
        ),
      );
      if (serving) return;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  } finally {
    client.close();
  }
}
