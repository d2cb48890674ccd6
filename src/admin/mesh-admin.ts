import type { Clock } from '../clock.js';
import type { CallRecorder } from '../interceptors/call-stats.js';
import { CallStats, EndpointStats } from '../observability/endpoint-stats.js';
import { startAdminServer, type AdminOptions, type AdminServer, type AdminSource } from './admin-server.js';

/** Where each attempt's outcome and duration per endpoint go while an admin page runs. */
export type AttemptRecorder = (service: string, address: string, code: number, durationMs: number) => void;

/**
 * The admin servers of one mesh, and the recent traffic they show: attempts per endpoint (the
 * balancers read `recorder` on each attempt) and calls per service (the client stacks ask
 * `callRecorder(service)` on each call), recorded only while at least one server runs, so one
 * started later takes effect at once and none costs nothing.
 */
export class MeshAdmin {
  readonly #servers = new Set<AdminServer>();
  readonly #clock: Clock;
  #recorder: AttemptRecorder | undefined;
  #calls: CallStats | undefined;
  /** One recorder per service while a server runs (a client stack asks on every call). */
  readonly #callRecorders = new Map<string, CallRecorder>();

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** The attempt recorder while a server runs, else undefined (nothing recorded). */
  get recorder(): AttemptRecorder | undefined {
    return this.#recorder;
  }

  /** Where the calls of `service` go while a server runs, else undefined (nothing recorded). */
  callRecorder(service: string): CallRecorder | undefined {
    const calls = this.#calls;
    if (!calls) return undefined;
    let recorder = this.#callRecorders.get(service);
    if (!recorder) {
      const clock = this.#clock;
      recorder = (failure, durationMs) => calls.record(service, failure, durationMs, clock.now());
      this.#callRecorders.set(service, recorder);
    }
    return recorder;
  }

  async serve(source: Omit<AdminSource, 'stats' | 'calls' | 'now'>, options: AdminOptions): Promise<AdminServer> {
    const clock = this.#clock;
    const since = clock.now();
    const stats = new EndpointStats(since);
    const calls = new CallStats(since);
    // Recording starts once the server listens: a port that is taken leaves nothing running.
    const admin = await startAdminServer({ ...source, stats, calls, now: () => clock.now() }, options);
    this.#recorder = (service, address, code, durationMs) => stats.record(service, address, code, durationMs, clock.now());
    this.#calls = calls;
    this.#callRecorders.clear();
    const server: AdminServer = {
      url: admin.url,
      close: async () => {
        this.#servers.delete(server);
        if (this.#servers.size === 0) {
          this.#recorder = undefined;
          this.#calls = undefined;
          this.#callRecorders.clear();
        }
        await admin.close();
      },
    };
    this.#servers.add(server);
    return server;
  }

  close(): void {
    for (const server of [...this.#servers]) void server.close();
  }
}
