import type { Clock } from '../clock.js';
import { EndpointStats } from '../observability/endpoint-stats.js';
import { startAdminServer, type AdminOptions, type AdminServer, type AdminSource } from './admin-server.js';

/** Where each attempt's outcome and duration per endpoint go while an admin page runs. */
export type AttemptRecorder = (service: string, address: string, code: number, durationMs: number) => void;

/**
 * The admin servers of one mesh, and the recent-attempt statistics they show: attempts are
 * recorded per endpoint only while at least one server runs (the balancers read `recorder`
 * on each attempt, so one started later takes effect at once).
 */
export class MeshAdmin {
  readonly #servers = new Set<AdminServer>();
  readonly #clock: Clock;
  #recorder: AttemptRecorder | undefined;

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** The attempt recorder while a server runs, else undefined (nothing recorded). */
  get recorder(): AttemptRecorder | undefined {
    return this.#recorder;
  }

  async serve(source: Omit<AdminSource, 'stats' | 'now'>, options: AdminOptions): Promise<AdminServer> {
    const stats = new EndpointStats();
    const clock = this.#clock;
    // Recording starts once the server listens: a port that is taken leaves nothing running.
    const admin = await startAdminServer({ ...source, stats, now: () => clock.now() }, options);
    this.#recorder = (service, address, code, durationMs) => stats.record(service, address, code, durationMs, clock.now());
    const server: AdminServer = {
      url: admin.url,
      close: async () => {
        this.#servers.delete(server);
        if (this.#servers.size === 0) this.#recorder = undefined;
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
