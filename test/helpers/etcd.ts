// A real etcd server (Debian's etcd-server package) on 127.0.0.1, free ports, a temporary
// data directory; stopped (and its directory removed) by the test pool.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { requireBinary } from './system-package.js';
import type { TestPool } from './servers.js';

export interface EtcdServer {
  /** "127.0.0.1:PORT", the client endpoint. */
  readonly endpoint: string;
  /** A client of its own, for the test to write keys with (closed with the server). */
  readonly client: Etcd3;
  /** SIGKILL; the data directory stays, so start() brings the same data back on the same port. */
  kill(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
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

export async function startEtcd(pool: TestPool): Promise<EtcdServer> {
  const binary = requireBinary('etcd', 'etcd-server');
  const dir = mkdtempSync(join(tmpdir(), 'meshlite-etcd-'));
  const [clientPort, peerPort] = [await freePort(), await freePort()];
  const endpoint = `127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  const args = [
    '--name', 'test',
    '--data-dir', join(dir, 'data'),
    '--listen-client-urls', `http://${endpoint}`,
    '--advertise-client-urls', `http://${endpoint}`,
    '--listen-peer-urls', peer,
    '--initial-advertise-peer-urls', peer,
    '--initial-cluster', `test=${peer}`,
    '--log-level', 'error',
  ];
  let child: ChildProcess | undefined;
  let output = '';
  const client = new Etcd3({ hosts: `http://${endpoint}` });

  const server: EtcdServer = {
    endpoint,
    client,
    async start() {
      output = '';
      child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
      child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
      const started = child;
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
    async kill() {
      await stopChild('SIGKILL');
    },
    async stop() {
      await stopChild('SIGTERM');
    },
  };

  async function stopChild(signal: NodeJS.Signals): Promise<void> {
    const running = child;
    child = undefined;
    if (!running || running.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      running.once('exit', () => resolve());
      running.kill(signal);
    });
  }

  pool.defer(async () => {
    client.close();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  await server.start();
  return server;
}
