// Runs backends (examples/service.ts) as child processes, restarts one that dies with
// backoff (self-healing at process level), and lets a runner pause, kill and steer them.
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { EventEmitter } from 'node:events';
import type { Disposer } from 'grpc-meshlite';
import type { BackendCommand, BackendReport } from './service.js';

const SERVICE_SCRIPT = fileURLToPath(new URL('./service.ts', import.meta.url));

export interface SupervisorOptions {
  /** Flags for every backend (e.g. --store-dir). */
  readonly args?: readonly string[];
  /** Flags for one backend, after the common ones (e.g. its --weight). */
  readonly argsFor?: (name: string) => readonly string[];
  /** Where the children's log lines go. Default: discarded. */
  readonly logTo?: 'inherit' | 'ignore';
  /** First restart delay after a crash; doubles per crash in a row, up to maxRestartMs. Default 250. */
  readonly restartMs?: number;
  readonly maxRestartMs?: number;
}

export type SupervisorEvent =
  | { kind: 'started'; name: string; pid: number; port: number }
  | { kind: 'exited'; name: string; code: number | null; signal: string | null }
  | { kind: 'restarting'; name: string; inMs: number };

interface Managed {
  name: string;
  port: number;
  child: ChildProcess | undefined;
  paused: boolean;
  crashes: number;
  holdUntil: number;
  restartTimer: ReturnType<typeof setTimeout> | undefined;
}

/**
 * @example
 *   const supervisor = new Supervisor({ args: ['--store-dir', dir] });
 *   await supervisor.start(['ServiceA', 'ServiceB']);
 *   supervisor.kill('ServiceA');   // comes back by itself after the backoff
 *   await supervisor.stop();
 */
export class Supervisor {
  readonly #options: SupervisorOptions;
  readonly #backends = new Map<string, Managed>();
  readonly #events = new EventEmitter<{ event: [SupervisorEvent] }>();
  #stopping = false;
  #statsId = 0;

  constructor(options: SupervisorOptions = {}) {
    this.#options = options;
  }

  onEvent(listener: (event: SupervisorEvent) => void): Disposer {
    this.#events.on('event', listener);
    return () => void this.#events.off('event', listener);
  }

  /** Starts each backend on a free port and waits until all of them listen. */
  async start(names: readonly string[]): Promise<void> {
    await Promise.all(
      names.map(async (name) => {
        const managed: Managed = { name, port: 0, child: undefined, paused: false, crashes: 0, holdUntil: 0, restartTimer: undefined };
        this.#backends.set(name, managed);
        await this.#launch(managed);
      }),
    );
  }

  /** Whether `name` was started (it may be down now). */
  has(name: string): boolean {
    return this.#backends.has(name);
  }

  port(name: string): number {
    return this.#get(name).port;
  }

  pid(name: string): number | undefined {
    return this.#get(name).child?.pid;
  }

  /** "running", "paused" (SIGSTOP), or "down" (dead, waiting for its restart). */
  state(name: string): 'running' | 'paused' | 'down' {
    const managed = this.#get(name);
    if (!managed.child) return 'down';
    return managed.paused ? 'paused' : 'running';
  }

  /** SIGKILL: the supervisor restarts it after its backoff, or not before `holdMs`. */
  kill(name: string, holdMs = 0): void {
    const managed = this.#get(name);
    managed.holdUntil = Date.now() + holdMs;
    managed.child?.kill('SIGKILL');
  }

  /** SIGSTOP: the process keeps its connections open and answers nothing. */
  pause(name: string): void {
    const managed = this.#get(name);
    if (managed.child?.kill('SIGSTOP')) managed.paused = true;
  }

  /** SIGCONT. */
  resume(name: string): void {
    const managed = this.#get(name);
    if (managed.child?.kill('SIGCONT')) managed.paused = false;
  }

  send(name: string, command: BackendCommand): void {
    const child = this.#get(name).child;
    if (child?.connected) child.send(command);
  }

  /** Calls that reached the backend per method since it (re)started; undefined if it does not answer in time. */
  stats(name: string, timeoutMs = 500): Promise<Record<string, number> | undefined> {
    const child = this.#get(name).child;
    if (!child?.connected) return Promise.resolve(undefined);
    const id = ++this.#statsId;
    return new Promise((resolve) => {
      const timer = setTimeout(() => done(undefined), timeoutMs);
      const onMessage = (report: BackendReport) => {
        if (report.type === 'stats' && report.id === id) done(report.received);
      };
      const done = (value: Record<string, number> | undefined) => {
        clearTimeout(timer);
        child.off('message', onMessage);
        resolve(value);
      };
      child.on('message', onMessage);
      child.send({ type: 'stats', id } satisfies BackendCommand);
    });
  }

  /** SIGTERM to every backend (graceful drain), no more restarts; resolves when all exited. */
  async stop(): Promise<void> {
    this.#stopping = true;
    await Promise.all(
      [...this.#backends.values()].map(async (managed) => {
        clearTimeout(managed.restartTimer);
        const child = managed.child;
        if (!child) return;
        if (managed.paused) child.kill('SIGCONT');
        await new Promise<void>((resolve) => {
          child.once('exit', () => resolve());
          child.kill('SIGTERM');
        });
      }),
    );
  }

  #get(name: string): Managed {
    const managed = this.#backends.get(name);
    if (!managed) throw new Error(`no backend named ${name}`);
    return managed;
  }

  #launch(managed: Managed): Promise<void> {
    const args = [
      '--name',
      managed.name,
      '--port',
      String(managed.port),
      ...(this.#options.args ?? []),
      ...(this.#options.argsFor?.(managed.name) ?? []),
    ];
    const child = fork(SERVICE_SCRIPT, args, {
      execArgv: process.execArgv,
      stdio: ['ignore', this.#options.logTo ?? 'ignore', 'inherit', 'ipc'],
    });
    managed.child = child;
    managed.paused = false;
    return new Promise((resolve, reject) => {
      let listening = false;
      child.on('message', (report: BackendReport) => {
        if (report.type !== 'listening' || listening) return;
        listening = true;
        managed.port = report.port;
        this.#events.emit('event', { kind: 'started', name: managed.name, pid: child.pid!, port: report.port });
        resolve();
      });
      child.once('exit', (code, signal) => {
        managed.child = undefined;
        managed.paused = false;
        this.#events.emit('event', { kind: 'exited', name: managed.name, code, signal });
        if (!listening) {
          if (managed.port === 0) reject(new Error(`${managed.name} exited with code ${code} before listening`));
          else resolve();
        }
        if (!this.#stopping) this.#scheduleRestart(managed);
      });
    });
  }

  #scheduleRestart(managed: Managed): void {
    managed.crashes++;
    const base = this.#options.restartMs ?? 250;
    const backoff = Math.min(this.#options.maxRestartMs ?? 5000, base * 2 ** (managed.crashes - 1));
    const inMs = Math.max(backoff, managed.holdUntil - Date.now());
    this.#events.emit('event', { kind: 'restarting', name: managed.name, inMs });
    managed.restartTimer = setTimeout(() => {
      if (this.#stopping) return;
      void this.#launch(managed).then(() => {
        // A backend that stays up for a while has its crash count forgiven.
        const forgive = setTimeout(() => {
          if (managed.child) managed.crashes = 0;
        }, 10_000);
        forgive.unref();
      });
    }, inMs);
  }
}
