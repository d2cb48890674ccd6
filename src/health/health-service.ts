import * as grpc from '@grpc/grpc-js';
import { Signal, type Disposer } from '../observability/signal.js';
import { healthServiceDefinition, type HealthCheckRequest, type HealthCheckResponse, type HealthListResponse } from './health-proto.js';
import type { HealthState } from './health-state.js';

/** grpc.health.v1 caps List at 100 services and answers RESOURCE_EXHAUSTED above that. */
const LIST_LIMIT = 100;

/**
 * The grpc.health.v1 service (Check, Watch, List) over a {@link HealthState}.
 *
 * @example
 *   const health = new HealthState({ '': 'SERVING' });
 *   const service = new HealthService(health);
 *   service.addTo(server);
 *   // later, during drain: health.setAll('NOT_SERVING'); ... service.closeWatches();
 */
export class HealthService {
  readonly #state: HealthState;
  readonly #watches = new Set<() => void>();
  readonly #watchCountChanged = new Signal<number>();

  constructor(state: HealthState) {
    this.#state = state;
  }

  addTo(server: grpc.Server): void {
    server.addService(healthServiceDefinition, {
      Check: this.#check,
      Watch: this.#watch,
      List: this.#list,
    });
  }

  /** Open Watch streams right now. */
  get watchCount(): number {
    return this.#watches.size;
  }

  /** Fires with the new count whenever a Watch stream opens or goes away. */
  onWatchCountChange(listener: (count: number) => void): Disposer {
    return this.#watchCountChanged.subscribe(listener);
  }

  /**
   * Ends every open Watch stream with OK. A server with open Watch streams never finishes
   * `tryShutdown`, so drain calls this once clients have seen NOT_SERVING.
   */
  closeWatches(): void {
    for (const close of [...this.#watches]) close();
  }

  readonly #check = (
    call: grpc.ServerUnaryCall<HealthCheckRequest, HealthCheckResponse>,
    callback: grpc.sendUnaryData<HealthCheckResponse>,
  ): void => {
    const service = call.request.service;
    if (!this.#state.has(service)) {
      callback({ code: grpc.status.NOT_FOUND, details: `unknown service "${service}"` });
      return;
    }
    callback(null, { status: this.#state.get(service) });
  };

  readonly #list = (_call: grpc.ServerUnaryCall<unknown, HealthListResponse>, callback: grpc.sendUnaryData<HealthListResponse>): void => {
    const statuses = this.#state.list();
    if (statuses.size > LIST_LIMIT) {
      callback({
        code: grpc.status.RESOURCE_EXHAUSTED,
        details: `${statuses.size} services registered, List returns at most ${LIST_LIMIT}`,
      });
      return;
    }
    const response: HealthListResponse = { statuses: {} };
    for (const [service, status] of statuses) response.statuses[service] = { status };
    callback(null, response);
  };

  readonly #watch = (call: grpc.ServerWritableStream<HealthCheckRequest, HealthCheckResponse>): void => {
    const service = call.request.service;
    let lastSent = this.#state.get(service);
    call.write({ status: lastSent });

    let unsubscribe: Disposer | undefined = this.#state.onChange((change) => {
      if (change.service !== service || change.status === lastSent) return;
      lastSent = change.status;
      call.write({ status: lastSent });
    });
    const forget = () => {
      if (!unsubscribe) return;
      unsubscribe();
      unsubscribe = undefined;
      this.#watches.delete(close);
      this.#watchCountChanged.emit(this.#watches.size);
    };
    const close = () => {
      forget();
      call.end();
    };
    this.#watches.add(close);
    this.#watchCountChanged.emit(this.#watches.size);
    call.on('cancelled', forget);
    call.on('error', forget);
    call.on('close', forget);
  };
}
