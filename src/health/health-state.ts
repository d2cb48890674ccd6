import { Signal, type Disposer } from '../observability/signal.js';

/** The grpc.health.v1 serving states a service can be set to. */
export type ServingStatus = 'SERVING' | 'NOT_SERVING' | 'UNKNOWN';

/** What a watcher can observe: a set status, or SERVICE_UNKNOWN for a name never set. */
export type WatchedStatus = ServingStatus | 'SERVICE_UNKNOWN';

export interface HealthChange {
  readonly service: string;
  readonly status: WatchedStatus;
  readonly previous: WatchedStatus;
}

/** The name grpc.health.v1 uses for the health of the whole server. */
export const WHOLE_SERVER = '';

/**
 * Serving status per service name, `""` being the whole server, with change events.
 * The grpc.health.v1 service, drain and readiness all read and write this one object.
 *
 * @example
 *   const health = new HealthState({ '': 'SERVING', 'orders.v1.OrderService': 'SERVING' });
 *   health.onChange(({ service, status }) => log.info({ service, status }, 'health'));
 *   health.set('orders.v1.OrderService', 'NOT_SERVING');
 */
export class HealthState {
  readonly #statuses = new Map<string, ServingStatus>();
  readonly #changed = new Signal<HealthChange>();

  constructor(initial: Readonly<Record<string, ServingStatus>> = {}) {
    for (const [service, status] of Object.entries(initial)) {
      this.#statuses.set(service, checkStatus(service, status));
    }
  }

  /** Sets one service's status; emits only when it really changes. */
  set(service: string, status: ServingStatus): void {
    checkStatus(service, status);
    const previous = this.get(service);
    this.#statuses.set(service, status);
    if (previous !== status) this.#changed.emit({ service, status, previous });
  }

  /** Sets every known service, the whole server included, to one status (drain, readiness). */
  setAll(status: ServingStatus): void {
    if (!this.#statuses.has(WHOLE_SERVER)) this.set(WHOLE_SERVER, status);
    for (const service of [...this.#statuses.keys()]) this.set(service, status);
  }

  /** Forgets a service: watchers see SERVICE_UNKNOWN and Check answers NOT_FOUND again. */
  remove(service: string): void {
    const previous = this.get(service);
    if (this.#statuses.delete(service)) {
      this.#changed.emit({ service, status: 'SERVICE_UNKNOWN', previous });
    }
  }

  get(service: string): WatchedStatus {
    return this.#statuses.get(service) ?? 'SERVICE_UNKNOWN';
  }

  has(service: string): boolean {
    return this.#statuses.has(service);
  }

  /** Every registered service and its status, in registration order. */
  list(): ReadonlyMap<string, ServingStatus> {
    return new Map(this.#statuses);
  }

  onChange(listener: (change: HealthChange) => void): Disposer {
    return this.#changed.subscribe(listener);
  }
}

const SERVING_STATUSES: readonly string[] = ['SERVING', 'NOT_SERVING', 'UNKNOWN'];

function checkStatus(service: string, status: string): ServingStatus {
  if (!SERVING_STATUSES.includes(status)) {
    throw new TypeError(
      `health status for service "${service}" must be one of ${SERVING_STATUSES.join(', ')}, got ${JSON.stringify(status)}`,
    );
  }
  return status as ServingStatus;
}
