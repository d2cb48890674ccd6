// A real etcd server (Debian's etcd-server package) on 127.0.0.1 with free ports and its own
// data directory, for the demo, the benchmarks and the tests. The binary is installed through
// apt when missing and possible; otherwise the start fails with one line saying what to install.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.js';
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

/** Whether etcd's /health says so (over TLS with a client certificate, when it serves TLS). */
function health(endpoint: string, tls: EtcdProcessOptions['tls']): Promise<boolean> {
  const [host, port] = endpoint.split(':');
  const request = tls ? httpsRequest : httpRequest;
  const credentials = tls ? { ca: readFileSync(tls.caFile), cert: readFileSync(tls.certFile), key: readFileSync(tls.keyFile) } : {};
  return new Promise((resolve) => {
    const req = request({ host, port: Number(port), path: '/health', timeout: 1000, ...credentials }, (response) => {
      let body = '';
      response.on('data', (chunk: Buffer) => (body += chunk.toString()));
      response.on('end', () => resolve(response.statusCode === 200 && body.includes('"health":"true"')));
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

export interface EtcdProcessOptions {
  /**
   * Serve clients over TLS with this certificate (which needs clientAuth as well as serverAuth:
   * etcd's gateway dials its own port with it, and so does the readiness check), and require
   * client certificates signed by `caFile`.
   */
  readonly tls?: { readonly certFile: string; readonly keyFile: string; readonly caFile: string };
}

export async function startEtcdProcess(options: EtcdProcessOptions = {}): Promise<EtcdProcess> {
  // A free port is free when asked, not when etcd binds it: another process (a parallel test
  // run, a backend) may take it in between. Etcd keeps its ports across restarts, so a taken
  // one is only retried at the first start, with new ports.
  for (let tries = 1; ; tries++) {
    const etcd = etcdProcess(options, await freePort(), await freePort());
    try {
      await etcd.start();
      return etcd;
    } catch (error) {
      await etcd.dispose();
      if (tries >= 3 || !/address already in use/.test((error as Error).message)) throw error;
    }
  }
}

function etcdProcess(options: EtcdProcessOptions, clientPort: number, peerPort: number): EtcdProcess {
  const { tls } = options;
  const scheme = tls ? 'https' : 'http';
  const binary = requireBinary('etcd', 'etcd-server');
  const dir = mkdtempSync(join(tmpdir(), 'meshlite-etcd-'));
  const endpoint = `127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  // prettier-ignore
  const args = [
    '--name', 'meshlite',
    '--data-dir', join(dir, 'data'),
    '--listen-client-urls', `${scheme}://${endpoint}`,
    '--advertise-client-urls', `${scheme}://${endpoint}`,
    ...(tls ? ['--cert-file', tls.certFile, '--key-file', tls.keyFile, '--trusted-ca-file', tls.caFile, '--client-cert-auth'] : []),
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
      started.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
      started.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
      // Poll its health endpoint: an external process has no event to wait for.
      const deadline = Date.now() + 20_000;
      for (;;) {
        if (started.exitCode !== null) throw new Error(`etcd exited with ${started.exitCode}: ${output.slice(-2000)}`);
        const healthy = await health(endpoint, tls);
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
  return etcd;
}
