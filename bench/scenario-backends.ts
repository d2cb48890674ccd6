// The backends a scenario runs against, and the two stacks the scenario table compares on
// them: the bench's ServiceA and ServiceB (started once, default flags), or a set a scenario
// brings (other flags, a third backend, mutual TLS) started for one round of it and stopped after.
import * as grpc from '@grpc/grpc-js';
import { callUnary } from '../examples/orders.js';
import { Supervisor } from '../examples/supervisor.js';
import { CLIENT_IDENTITY, RotatingClientCertificates, SERVER_IDENTITY } from './rotating-certs.js';
import type { ScenarioBackends } from './scenarios.js';
import { meshliteStack, plainStack, plainTlsCredentials, type Stack } from './stacks.js';

export type ComparedStack = 'grpc-meshlite' | 'plain grpc-js';

export interface Backends {
  readonly supervisor: Supervisor;
  readonly names: readonly string[];
  readonly addresses: Record<string, string>;
  /** With mutual TLS: the client's files, which the cert-rotation fault rewrites. */
  readonly certificates?: RotatingClientCertificates;
  /** The stacks the scenario table compares, as they reach these backends. */
  readonly stacks: Readonly<Record<ComparedStack, (addresses: Record<string, string>) => Stack>>;
}

const addressesOf = (supervisor: Supervisor, names: readonly string[]) =>
  Object.fromEntries(names.map((name) => [name, `127.0.0.1:${supervisor.port(name)}`]));

/** The bench's own ServiceA and ServiceB, already started. */
export function sharedBackends(supervisor: Supervisor): Backends {
  const names = ['ServiceA', 'ServiceB'];
  return {
    supervisor,
    names,
    addresses: addressesOf(supervisor, names),
    stacks: { 'grpc-meshlite': meshliteStack, 'plain grpc-js': plainStack },
  };
}

/**
 * A scenario's own backends, started now with the bench's flags (`common`) and the scenario's;
 * `close()` stops them and removes their certificates.
 */
export async function startScenarioBackends(
  spec: ScenarioBackends,
  common: readonly string[],
): Promise<Backends & { close(): Promise<void> }> {
  const certificates = spec.tls ? new RotatingClientCertificates() : undefined;
  const tlsArgs = certificates ? ['--tls-dir', certificates.serverDir, '--allow', CLIENT_IDENTITY] : [];
  const supervisor = new Supervisor({ args: [...common, ...(spec.args ?? []), ...tlsArgs] });
  try {
    await supervisor.start(spec.names);
  } catch (error) {
    await supervisor.stop();
    certificates?.dispose();
    throw error;
  }
  const added = spec.added ?? {};
  // Over mutual TLS both stacks read the same client files: the mesh through its own
  // re-reading provider, plain grpc-js through grpc-js's file-watching one (stacks.ts).
  const tls = certificates && { ...certificates.files, identities: [SERVER_IDENTITY] };
  const backends = {
    supervisor,
    names: spec.names,
    addresses: addressesOf(supervisor, spec.names),
    ...(certificates && { certificates }),
    stacks: {
      'grpc-meshlite': (addresses: Record<string, string>) =>
        meshliteStack(addresses, { added, ...(tls && { tls, name: 'grpc-meshlite' }) }),
      'plain grpc-js': (addresses: Record<string, string>) =>
        plainStack(addresses, certificates && plainTlsCredentials(certificates.files)),
    },
    close: async () => {
      await supervisor.stop();
      certificates?.dispose();
    },
  };
  try {
    await warmUp(backends);
  } catch (error) {
    await backends.close();
    throw error;
  }
  return backends;
}

/** Calls that warm fresh backend processes up before the first measured run (whichever stack it is). */
const WARM_UP_CALLS = 1000;

/**
 * Fresh backend processes would make the stack that goes first meet cold processes (V8 still
 * compiling their hot paths): every backend serves calls first, through a throwaway client of
 * the plain stack — the shared pair once at the start of the bench, a scenario's own for each
 * of its rounds.
 */
export async function warmUp(backends: Backends): Promise<void> {
  const stack = backends.stacks['plain grpc-js'](backends.addresses);
  try {
    const ready = () => new grpc.Metadata({ waitForReady: true });
    const key = ready();
    key.set('idempotency-key', `warm-up-${process.pid}-${Date.now()}`);
    const order = await callUnary(stack.client.CreateOrder, stack.client, { idempotency_key: 'warm-up', item: 'book', quantity: 1 }, key, {
      deadline: Date.now() + 10_000,
    });
    let sent = 0;
    const worker = async () => {
      while (sent++ < WARM_UP_CALLS) {
        await callUnary(stack.client.GetOrder, stack.client, { id: order.id }, ready(), { deadline: Date.now() + 5000 });
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
  } finally {
    stack.close();
  }
}
