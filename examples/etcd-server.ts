// A real etcd server (Debian's etcd-server package) on 127.0.0.1 with free ports and its own
// data directory, for the demo, the benchmarks and the tests. The binary is installed through
// apt when missing and possible; otherwise the start fails with one line saying what to install.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requireBinary } from './system-package.js';

export interface EtcdProcess {
  /** "127.0.0.1:PORT", the client endpoint. */
  readonly endpoint: string;
  /** Starts it (again: same port, same data). Resolves once it reports healthy. */
  start(): Promise<void>;
  /** SIGKILL; the data stays, so start() brings it back as it was. */
  kill(): Promise<void>;
  /** SIGTERM. */
  stop(): Promise<void>;
  /** Stops it and removes its data directory. */
  dispose(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export async function startEtcdProcess(): Promise<EtcdProcess> {
  const binary = requireBinary('etcd', 'etcd-server');
  const dir = mkdtempSync(join(tmpdir(), 'meshlite-etcd-'));
  const [clientPort, peerPort] = [await freePort(), await freePort()];
  const endpoint = `127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  // prettier-ignore
  const args = [
    '--name', 'meshlite',
    '--data-dir', join(dir, 'data'),
    '--listen-client-urls', `http://${endpoint}`,
    '--advertise-client-urls', `http://${endpoint}`,
    '--listen-peer-urls', peer,
    '--initial-advertise-peer-urls', peer,
    '--initial-cluster', `meshlite=${peer}`,
    '--log-level', 'error',
  ];
  let child: ChildProcess | undefined;
  let output = '';

  async function stopChild(signal: NodeJS.Signals): Promise<void> {
    const running = child;
    child = undefined;
    if (!running || running.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      running.once('exit', () => resolve());
      running.kill(signal);
    });
  }

  const etcd: EtcdProcess = {
    endpoint,
    async start() {
      output = '';
      const started = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      child = started;
      started.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
      started.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
      // Poll its health endpoint: an external process has no event to wait for.
      const deadline = Date.now() + 20_000;
      for (;;) {
        if (started.exitCode !== null) throw new Error(`etcd exited with ${started.exitCode}: ${output.slice(-2000)}`);
        const healthy = await fetch(`http://${endpoint}/health`).then(
          async (response) => response.ok && ((await response.json()) as { health?: string }).health === 'true',
          () => false,
        );
        if (healthy) return;
        if (Date.now() > deadline) throw new Error(`etcd on ${endpoint} did not become healthy in 20 s: ${output.slice(-2000)}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
    kill: () => stopChild('SIGKILL'),
    stop: () => stopChild('SIGTERM'),
    async dispose() {
      await stopChild('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await etcd.start();
  return etcd;
}
