// Runs backends (examples/service.ts) as child processes and talks to them over IPC.
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { BackendCommand, BackendReport } from './service.js';

const SERVICE_SCRIPT = fileURLToPath(new URL('./service.ts', import.meta.url));

export interface BackendProcessOptions {
  readonly name: string;
  /** 0 lets the OS pick; the bound port is reported back once listening. */
  readonly port?: number;
  readonly args?: readonly string[];
  /** Where the child's log lines go. Default: discarded. */
  readonly logTo?: 'inherit' | 'ignore';
}

/** One backend process: its pid, the port it listens on, and a way to steer and stop it. */
export interface BackendProcess {
  readonly name: string;
  readonly port: number;
  readonly child: ChildProcess;
  send(command: BackendCommand): void;
  /** SIGTERM (graceful drain) and wait for the exit. */
  stop(): Promise<void>;
}

/** Forks examples/service.ts with the same loader flags as this process and waits until it listens. */
export function spawnBackend(options: BackendProcessOptions): Promise<BackendProcess> {
  const args = ['--name', options.name, '--port', String(options.port ?? 0), ...(options.args ?? [])];
  const child = fork(SERVICE_SCRIPT, args, {
    execArgv: process.execArgv,
    stdio: ['ignore', options.logTo ?? 'ignore', 'inherit', 'ipc'],
  });
  return new Promise((resolve, reject) => {
    const onExit = (code: number | null) => reject(new Error(`${options.name} exited with code ${code} before listening`));
    child.once('exit', onExit);
    child.on('message', (report: BackendReport) => {
      if (report.type !== 'listening') return;
      child.off('exit', onExit);
      resolve({
        name: options.name,
        port: report.port,
        child,
        send: (command) => {
          if (child.connected) child.send(command);
        },
        stop: () =>
          new Promise<void>((done) => {
            if (child.exitCode !== null || child.signalCode !== null) return done();
            child.once('exit', () => done());
            child.kill('SIGTERM');
          }),
      });
    });
  });
}
