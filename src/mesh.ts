import type { ChannelCredentials, ChannelOptions, Client, ClientOptions } from '@grpc/grpc-js';
import { credentials as grpcCredentials } from '@grpc/grpc-js';
import { randomUUID } from 'node:crypto';
import { registerBalancer } from './balancer/balancer.js';
import { registerBalancerContext } from './balancer/context.js';
import type { BalancerSnapshot } from './balancer/snapshot.js';
import { systemClock, type Clock } from './clock.js';
import type { MeshConfig, MeshConfigInput, ServiceConfig } from './config/mesh-config.js';
import { createClientStack, type ClientStack, type ClientStackOptions } from './interceptors/client-stack.js';
import { MeshEvents, type EndpointEventKind } from './observability/events.js';
import { silentLogger, type Logger } from './observability/logger.js';
import { Signal, type Disposer } from './observability/signal.js';
import { FileConfigSource, StaticConfigSource, type ConfigSource } from './resolver/config-source.js';
import { MESH_OPTION, registerDirectory, type MeshDirectory } from './resolver/directory.js';
import { MESH_SCHEME, registerMeshResolver } from './resolver/mesh-resolver.js';

export interface MeshOptions {
  /** The mesh config as an object (validated; defaults filled in). */
  config?: MeshConfigInput;
  /** Or a JSON file, watched and hot-reloaded; a bad version is refused and the last good one stays. */
  configFile?: string;
  /** Structured logs of endpoint, failover and config events. Default: none. */
  logger?: Logger;
  /** Time source for ejection, slow start and retries (tests inject one). */
  clock?: Clock;
}

/** Reconnect backoff for mesh channels: retry a lost backend quickly, never wait more than 1 s. */
export const RECONNECT_BACKOFF = Object.freeze({
  'grpc.initial_reconnect_backoff_ms': 100,
  'grpc.max_reconnect_backoff_ms': 1000,
});

/**
 * Registers the `mesh` resolver and the `meshlite_weighted` policy with grpc-js. createMesh
 * calls it; calling it again is harmless.
 */
export function setupMesh(): void {
  registerMeshResolver();
  registerBalancer();
}

/** Endpoint events after which an endpoint may be serving again. */
const BACK_KINDS: ReadonlySet<EndpointEventKind> = new Set(['connected', 'healthy', 'readmitted']);

/**
 * A service mesh inside grpc-js clients. Point any client at `mesh:///<service>` with
 * `mesh.channelOptions()` and it resolves the service's endpoints from the config, spreads
 * calls by weight and priority over the healthy ones, ejects failing ones and brings them
 * back through slow start.
 *
 * @example
 *   const mesh = createMesh({ configFile: 'mesh.json', logger });
 *   const orders = mesh.client(OrderClient, 'orders');
 *   mesh.events.onEndpoint((e) => console.log(e.endpoint, e.kind, e.reason));
 */
export class Mesh implements MeshDirectory {
  readonly id = `mesh-${randomUUID()}`;
  readonly events = new MeshEvents();
  readonly #source: ConfigSource;
  readonly #logger: Logger;
  readonly #configChanged = new Signal<void>();
  readonly #balancers = new Set<() => BalancerSnapshot>();
  readonly #cleanups: Array<() => void> = [];
  readonly #stacks = new Set<ClientStack>();

  constructor(options: MeshOptions) {
    if ((options.config === undefined) === (options.configFile === undefined)) {
      throw new TypeError('createMesh needs exactly one of `config` and `configFile`');
    }
    setupMesh();
    this.#logger = options.logger ?? silentLogger;
    this.#source = options.configFile ? new FileConfigSource(options.configFile) : new StaticConfigSource(options.config);
    const clock = options.clock ?? systemClock;
    this.#cleanups.push(
      this.#source.onApplied(() => {
        this.#logger.info({ source: this.#source.describe() }, 'mesh config applied');
        this.events.configApplied.emit({ source: this.#source.describe() });
        this.#configChanged.emit();
      }),
      this.#source.onRejected((error) => {
        this.#logger.error({ source: this.#source.describe(), err: error.message }, 'mesh config rejected; the last good config keeps serving');
        this.events.configRejected.emit({ source: this.#source.describe(), error: error.message });
      }),
      registerDirectory(this),
      registerBalancerContext(this.id, {
        events: this.events,
        logger: this.#logger,
        clock,
        register: (snapshot) => {
          this.#balancers.add(snapshot);
          return () => this.#balancers.delete(snapshot);
        },
      }),
    );
  }

  /** The config in force. */
  get config(): MeshConfig {
    return this.#source.current();
  }

  service(name: string): ServiceConfig | undefined {
    return Object.hasOwn(this.config.services, name) ? this.config.services[name] : undefined;
  }

  serviceNames(): string[] {
    return Object.keys(this.config.services);
  }

  describeSource(): string {
    return this.#source.describe();
  }

  onConfigChange(listener: () => void): Disposer {
    return this.#configChanged.subscribe(listener);
  }

  /** `mesh:///<service>`, the target string for a client. */
  target(service: string): string {
    return `${MESH_SCHEME}:///${service}`;
  }

  /**
   * Channel options that tie a client to this mesh. Merge them into the client's options.
   * They also shorten grpc-js's reconnect backoff (default 1 s growing to 120 s): a backend
   * that restarts is reconnected within a second instead of after minutes of backoff.
   */
  channelOptions(): ChannelOptions {
    return { [MESH_OPTION]: this.id, ...RECONNECT_BACKOFF };
  }

  /**
   * Replaces an in-code config (validated first: an invalid one throws a ConfigError and the
   * current one stays), or re-reads the config file now.
   */
  update(config?: MeshConfigInput): void {
    if (this.#source instanceof StaticConfigSource) {
      if (config === undefined) throw new TypeError('update() needs the new config for an in-code mesh');
      this.#source.replace(config);
    } else if (this.#source instanceof FileConfigSource) {
      const error = this.#source.reload();
      if (error) throw error;
    }
  }

  /**
   * A client of `service` through the mesh, with the client stack (logging, deadline,
   * breaker, retry) configured from the service's `client` section, merged with `stack`.
   * The stack is fixed when the client is created.
   */
  client<T extends Client>(
    ClientClass: new (target: string, credentials: ChannelCredentials, options?: ClientOptions) => T,
    service: string,
    options: { credentials?: ChannelCredentials; clientOptions?: ClientOptions; stack?: ClientStackOptions } = {},
  ): T & { readonly stack: ClientStack } {
    const fromConfig = (this.service(service)?.client ?? {}) as ClientStackOptions;
    const stack = createClientStack({ logger: this.#logger, ...fromConfig, ...options.stack });
    this.#stacks.add(stack);
    const breaker = stack.breaker;
    if (breaker) {
      // The balancer hears first that an endpoint is back (its connection is up and its health
      // check passes); an open breaker need not wait out its reset timer to learn it.
      this.#cleanups.push(
        this.events.onEndpoint((event) => {
          if (event.service !== service || !BACK_KINDS.has(event.kind)) return;
          if (!this.snapshot(service).some((b) => b.endpoints.some((e) => e.serving))) return;
          breaker.reset(`${event.endpoint} ${event.kind}: ${event.reason}`);
        }),
      );
    }
    const client = new ClientClass(this.target(service), options.credentials ?? grpcCredentials.createInsecure(), {
      ...this.channelOptions(),
      ...options.clientOptions,
      [MESH_OPTION]: this.id,
      interceptors: stack.interceptors,
    });
    return Object.assign(client, { stack });
  }

  /** Every live balancer of this mesh (one per channel and service), with every endpoint's state. */
  snapshot(service?: string): BalancerSnapshot[] {
    const all = [...this.#balancers].map((take) => take());
    return service === undefined ? all : all.filter((snapshot) => snapshot.service === service);
  }

  /** Stops watching the config and the client stacks' timers. Close clients first. */
  close(): void {
    for (const cleanup of this.#cleanups.splice(0)) cleanup();
    for (const stack of this.#stacks) stack.close();
    this.#stacks.clear();
    this.#source.close();
  }
}

/** Creates a mesh (and registers the resolver and policy with grpc-js on first use). */
export function createMesh(options: MeshOptions): Mesh {
  return new Mesh(options);
}
