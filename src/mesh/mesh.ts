import { randomUUID } from 'node:crypto';
import type { ChannelCredentials, ChannelOptions, Client, ClientOptions, ServiceDefinition } from '@grpc/grpc-js';
import type { MeterProvider, TracerProvider } from '@opentelemetry/api';
import type { AdminOptions, AdminServer } from '../admin/admin-server.js';
import { MeshAdmin } from '../admin/mesh-admin.js';
import { registerBalancer } from '../balancer/balancer.js';
import { RouteTable } from '../balancer/routes.js';
import type { BalancerSnapshot } from '../balancer/snapshot.js';
import { systemClock, type Clock } from '../clock.js';
import { FileConfigSource, StaticConfigSource, type ConfigSource } from '../config/config-source.js';
import { parseServiceConfig, serviceConfigOption } from '../call/grpc-service-config.js';
import type { MeshConfig, MeshConfigInput, ServiceConfig } from '../config/mesh-config.js';
import { ServiceDiscovery } from '../discovery/discovery.js';
import { createClientStack, type ClientStack, type ClientStackOptions } from '../interceptors/client-stack.js';
import { logMeshEvents } from '../observability/event-log.js';
import { MeshEvents, type DiscoveryEvent, type MeshEventSink } from '../observability/events.js';
import { silentLogger, type Logger } from '../observability/logger.js';
import { observeMeshState } from '../observability/mesh-state-metrics.js';
import { recorderFor, type Recorder } from '../observability/metrics.js';
import { Signal } from '../observability/signal.js';
import { MESH_SCHEME, registerMeshResolver } from '../resolver/mesh-resolver.js';
import { ServiceCredentials } from '../security/service-credentials.js';
import { withStack } from './client-options.js';
import { checkMethodSettings } from './method-check.js';
import { ConfigError } from '../errors.js';
import { MESH_OPTION, registerMesh, type MeshRuntime } from '../resolver/registry.js';

export interface MeshOptions {
  /** The mesh config as an object (validated; defaults filled in). */
  config?: MeshConfigInput;
  /** Or a JSON file, watched and hot-reloaded; a bad version is refused and the last good one stays. */
  configFile?: string;
  /** Structured logs of endpoint, failover and config events. Default: none. */
  logger?: Logger;
  /** Time source for ejection, slow start, health probes and retries (tests inject one). */
  clock?: Clock;
  /** Random numbers in [0, 1) for the balancer (each picker's start phase, P2C's samples). Default Math.random; tests seed it. */
  random?: () => number;
  /**
   * The zone this client runs in, matched against endpoints' `zone` label: inside each
   * priority tier, calls stay in this zone while it has enough usable capacity and overflow to
   * the others by the share it lacks. Default: none (no zone-aware routing). From an
   * environment variable: `createMesh({ zone: process.env.MY_ZONE, … })` (unset or empty: none).
   */
  zone?: string | undefined;
  /**
   * Where the mesh's own metrics (per-endpoint attempts) and its clients' gRPC metrics go.
   * Default: OpenTelemetry's global meter provider; without one nothing is recorded.
   */
  meterProvider?: MeterProvider;
  /**
   * Where its clients' spans go (a span per call and per attempt, gRPC A72). Default:
   * OpenTelemetry's global tracer provider; without one nothing is traced.
   */
  tracerProvider?: TracerProvider;
}

/**
 * Reconnect backoff for mesh channels: retry a lost backend quickly, never wait more than
 * 300 ms, so calls waiting for a ready endpoint go out soon after a backend is back. A dead
 * endpoint costs about three connection attempts per second.
 */
export const RECONNECT_BACKOFF = Object.freeze({
  'grpc.initial_reconnect_backoff_ms': 100,
  'grpc.max_reconnect_backoff_ms': 300,
});

/** What `mesh.client()` takes besides the client class and the service. */
const CLIENT_OPTION_NAMES: ReadonlySet<string> = new Set(['credentials', 'clientOptions', 'stack']);

/** A grpc-js client made by `mesh.client()`, with the client stack it runs through. */
export type MeshClient<T extends Client> = T & { readonly stack: ClientStack };

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
export class Mesh {
  readonly id = `mesh-${randomUUID()}`;
  readonly events: MeshEvents;
  readonly #sink: MeshEventSink;
  readonly #source: ConfigSource;
  readonly #logger: Logger;
  /** Whether the app gave a logger (else warnings that must be seen go through process.emitWarning). */
  readonly #logging: boolean;
  readonly #clock: Clock;
  readonly #random: () => number;
  readonly #zone: string | undefined;
  readonly #configChanged = new Signal<void>();
  readonly #balancers = new Set<() => BalancerSnapshot>();
  readonly #cleanups: Array<() => void> = [];
  /** The client stacks made, with the service each serves. */
  readonly #stacks = new Map<ClientStack, string>();
  readonly #meterProvider: MeterProvider | undefined;
  readonly #tracerProvider: TracerProvider | undefined;
  readonly #metrics: Recorder | undefined;
  readonly #admin: MeshAdmin;
  readonly #discovery: ServiceDiscovery;
  readonly #credentials: ServiceCredentials;
  /** Config reloads applied and rejected so far, by "<subject> <result>". */
  readonly #reloads = new Map<string, { subject: string; result: 'applied' | 'rejected'; count: number }>();
  /** Each discovery source's state, by service and source. */
  readonly #sources = new Map<string, { service: string; source: string; up: boolean; outages: number }>();

  constructor(options: MeshOptions) {
    if ((options.config === undefined) === (options.configFile === undefined)) {
      throw new TypeError('createMesh needs exactly one of `config` and `configFile`');
    }
    registerMeshResolver();
    registerBalancer();
    ({ events: this.events, sink: this.#sink } = MeshEvents.create());
    this.#logger = options.logger ?? silentLogger;
    this.#logging = options.logger !== undefined;
    this.#cleanups.push(logMeshEvents(this.events, this.#logger));
    this.#clock = options.clock ?? systemClock;
    this.#random = options.random ?? Math.random;
    this.#zone = options.zone || undefined;
    this.#admin = new MeshAdmin(this.#clock);
    this.#credentials = new ServiceCredentials(this.#clock, (service, { kind, files, reason }) => {
      const event = { subject: 'tls-files' as const, source: `TLS files ${files}`, service };
      if (kind === 'loaded') this.#sink.configApplied(event);
      else this.#sink.configRejected({ ...event, error: reason ?? '' });
    });
    this.#meterProvider = options.meterProvider;
    this.#tracerProvider = options.tracerProvider;
    this.#metrics = recorderFor(options.meterProvider);
    this.#cleanups.push(
      this.events.onConfigApplied((event) => this.#countReload(event.subject, 'applied')),
      this.events.onConfigRejected((event) => this.#countReload(event.subject, 'rejected')),
      this.events.onDiscovery((event) => this.#noteDiscovery(event)),
    );
    const stopObserving = observeMeshState(this.#metrics, {
      snapshot: () => this.snapshot(),
      clients: () => this.#clientStates(),
      configReloads: () => [...this.#reloads.values()],
      discovery: () => [...this.#sources.values()],
    });
    if (stopObserving) this.#cleanups.push(stopObserving);
    this.#source = options.configFile
      ? new FileConfigSource(options.configFile, { clock: this.#clock })
      : new StaticConfigSource(options.config);
    this.#discovery = new ServiceDiscovery(
      {
        changed: () => this.#configChanged.emit(),
        event: (event) => this.#sink.discovery(event),
      },
      this.#clock,
    );
    this.#discovery.reconcile(this.config);
    let inForce = this.config;
    this.#cleanups.push(
      // A host name whose address lost its connection is looked up again (a pod replaced).
      this.events.onEndpoint((event) => event.kind === 'disconnected' && this.#discovery.connectionLost(event.service, event.address)),
      this.#source.onApplied((config) => {
        this.#warnFixedStacks(inForce, config);
        inForce = config;
        this.#sink.configApplied({ subject: 'mesh-config', source: this.#source.describe() });
        this.#discovery.reconcile(this.config);
        this.#configChanged.emit();
      }),
      this.#source.onRejected((error) => {
        this.#sink.configRejected({ subject: 'mesh-config', source: this.#source.describe(), error: error.message });
      }),
      registerMesh(this.#runtime()),
    );
  }

  /**
   * A client's stack (deadline, retry, breaker, logging) is made with the client: a reload of a
   * service's `client` section reaches only clients made after it. Said, so that a deadline
   * raised during an incident is not believed in force where it is not.
   */
  #warnFixedStacks(before: MeshConfig, after: MeshConfig): void {
    const withClients = new Set(this.#stacks.values());
    for (const service of withClients) {
      if (JSON.stringify(before.services[service]?.client) === JSON.stringify(after.services[service]?.client)) continue;
      this.#logger.warn(
        { service },
        "the service's client section changed: clients made before keep the stack they were made with; clients made from now on take the new one",
      );
    }
  }

  /** The config in force. */
  get config(): MeshConfig {
    return this.#source.current();
  }

  /** Where the config comes from: "in-code config", "file /etc/mesh.json". */
  describeSource(): string {
    return this.#source.describe();
  }

  /** `mesh:///<service>`, the target string for a client. */
  target(service: string): string {
    return `${MESH_SCHEME}:///${service}`;
  }

  /**
   * Channel options that tie a client to this mesh. Merge them into the client's options.
   * They also shorten grpc-js's reconnect backoff (default 1 s growing to 120 s): a backend
   * that restarts is reconnected within 300 ms instead of after minutes of backoff.
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
   * The client stack `mesh.client()` puts on a client of `service`, for a client the mesh
   * does not build (a nice-grpc client: `meshMiddleware(mesh.clientStack('orders'))`): the
   * service's `client` config merged with `stack`, routing hints on (the mesh's picker reads
   * them), the service's `routes` read on every call (a reload reaches the stack at once), and
   * the breaker closing as soon as the balancer sees an endpoint back.
   * `stack.close()` releases it (a client from `mesh.client()` does that itself).
   */
  clientStack(service: string, stack: ClientStackOptions = {}): ClientStack {
    const fromConfig: ClientStackOptions = this.#service(service)?.client ?? {};
    const stackOptions: ClientStackOptions = { logger: this.#logger, clock: this.#clock, ...fromConfig, ...stack };
    // A66's grpc.target label: the channel's target.
    if (stackOptions.metrics !== false) {
      stackOptions.metrics = {
        target: this.target(service),
        ...(this.#meterProvider && { meterProvider: this.#meterProvider }),
        ...stackOptions.metrics,
      };
    }
    if (stackOptions.tracing !== false && this.#tracerProvider) {
      stackOptions.tracing = { tracerProvider: this.#tracerProvider, ...stackOptions.tracing };
    }
    // Refuse now, naming the field, what the resolver would refuse on the first call.
    parseServiceConfig(stackOptions.serviceConfig, { mesh: true });
    // The channel's picker is the mesh's: attempts may carry routing hints.
    if (stackOptions.retry !== false) stackOptions.retry = { ...stackOptions.retry, routingHints: true };
    // Read per call, not fixed with the stack: a reload changes an existing client's routes at once.
    stackOptions.routes ??= this.#routes(service);
    if (stackOptions.breaker !== false) {
      // The balancer hears first that an endpoint is back (connected and healthy again); an
      // open breaker need not wait out its reset timer to learn it.
      stackOptions.breaker = {
        ...stackOptions.breaker,
        recoveredWhen: (recovered) => this.events.onRecovered((event) => recovered(`${event.endpoint} back (${event.reason})`), service),
      };
    }
    // The status page's caller-level line: each call as the caller saw it end, while a page runs.
    const admin = this.#admin;
    stackOptions.callStats ??= () => admin.callRecorder(service);
    const created = createClientStack(stackOptions);
    this.#stacks.set(created, service);
    const stopForwarding = created.breaker?.onStateChange((change) =>
      this.#sink.breaker({ service, breaker: change.key, state: change.state, previous: change.previous }),
    );
    return {
      ...created,
      close: () => {
        stopForwarding?.();
        created.close();
        this.#stacks.delete(created);
      },
    };
  }

  /**
   * A client of `service` through the mesh, with the client stack (logging, deadline,
   * breaker, retry) configured from the service's `client` section, merged with `stack`.
   * The stack is fixed when the client is created, but for the service's `routes`, which it
   * reads on every call; `client.close()` also closes it.
   *
   * `clientOptions` are grpc-js's: the user's interceptors (or providers) run first, once per
   * call, then the stack (so an auth interceptor's header goes out on every retry and hedge);
   * a call's own `interceptors` option replaces the user's client-level ones as in grpc-js,
   * never the stack. A `grpc.service_config` is honoured for method timeouts and waitForReady.
   */
  client<T extends Client>(
    ClientClass: new (target: string, credentials: ChannelCredentials, options?: ClientOptions) => T,
    service: string,
    options: { credentials?: ChannelCredentials; clientOptions?: ClientOptions; stack?: ClientStackOptions } = {},
  ): MeshClient<T> {
    this.#checkClientRequest(service, options);
    // A66: the client's own methods are its registered ones; any other path is "other".
    const registered = (ClientClass as { service?: ServiceDefinition }).service;
    if (registered) this.#checkMethodSettings(registered, service, options.stack);
    const metrics = options.stack?.metrics === false ? false : { ...(registered && { methods: registered }), ...options.stack?.metrics };
    const stack = this.clientStack(service, { serviceConfig: serviceConfigOption(options.clientOptions), ...options.stack, metrics });
    const client = new ClientClass(this.target(service), options.credentials ?? this.credentials(service), {
      ...this.channelOptions(),
      ...withStack(options.clientOptions, stack.interceptors),
      [MESH_OPTION]: this.id,
    });
    const closeChannel = client.close.bind(client);
    client.close = () => {
      closeChannel();
      stack.close();
    };
    return Object.assign(client, { stack });
  }

  /**
   * A typo refused where it is made, not when the first call fails: a service the config does
   * not have (named with the ones it has), and an option mesh.client() does not take — in plain
   * JavaScript a top-level `interceptors` would otherwise be dropped without a word.
   */
  #checkClientRequest(service: string, options: object): void {
    for (const key of Object.keys(options)) {
      if (CLIENT_OPTION_NAMES.has(key)) continue;
      const hint =
        key === 'interceptors' || key === 'interceptor_providers' ? ` (grpc-js client options such as ${key} go in clientOptions)` : '';
      throw new ConfigError(
        key,
        (options as Record<string, unknown>)[key],
        `mesh.client(…, "${service}"): unknown option "${key}"${hint}; the options are credentials, clientOptions and stack`,
      );
    }
    if (this.#service(service) !== undefined) return;
    const known = Object.keys(this.config.services);
    throw new ConfigError(
      'service',
      service,
      `mesh.client(…, "${service}"): service "${service}" is not in the mesh config (${this.#source.describe()}; services: ${known.length > 0 ? known.join(', ') : 'none'})`,
    );
  }

  /**
   * The channel credentials for `service`: TLS (or mTLS) from its `tls` section's files, kept
   * current as they rotate, or plaintext without one. `mesh.client()` uses them unless given
   * others. Throws when the files cannot be used at all.
   */
  credentials(service: string): ChannelCredentials {
    return this.#credentials.for(service, this.#service(service)?.tls);
  }

  /**
   * Starts the admin server (127.0.0.1:9901 by default, like Envoy's): `/` a live status page,
   * `/clusters` every service (its calls as callers saw them) and endpoint (its attempts) over
   * the last 10 s and per second over the last two minutes, `/config` the config in force
   * with secrets redacted, `/events` the mesh's events as server-sent events (repeats
   * coalesced). Recent calls and attempts are recorded while it runs.
   */
  serveAdmin(options: AdminOptions = {}): Promise<AdminServer> {
    return this.#admin.serve(
      {
        snapshot: () => this.snapshot(),
        config: () => ({ source: this.#source.describe(), config: redactSecrets(this.config) }),
        events: this.events,
        clients: () => this.#clientStates(),
      },
      options,
    );
  }

  /** Every live balancer of this mesh (one per channel and service), with every endpoint's state. */
  snapshot(service?: string): BalancerSnapshot[] {
    const all = [...this.#balancers].map((take) => take());
    return service === undefined ? all : all.filter((snapshot) => snapshot.service === service);
  }

  /** Stops watching the config, the client stacks' timers and any admin server. Close clients first. */
  close(): void {
    for (const cleanup of this.#cleanups.splice(0)) cleanup();
    for (const stack of this.#stacks.keys()) stack.close();
    this.#stacks.clear();
    this.#source.close();
    this.#discovery.close();
    this.#admin.close();
    this.#credentials.close();
  }

  /**
   * Breaker states and retry budgets of the clients made through this mesh, each named by its
   * service ("orders"; a second client of the same service "orders#2", in the order made).
   */
  #clientStates() {
    const seen = new Map<string, number>();
    return [...this.#stacks].map(([stack, service]) => {
      const nth = (seen.get(service) ?? 0) + 1;
      seen.set(service, nth);
      return {
        name: nth === 1 ? service : `${service}#${nth}`,
        service,
        breakers: stack.breaker?.snapshot() ?? {},
        budget: stack.retry?.budget?.snapshot() ?? null,
        hedgeLimit: stack.retry?.hedgeLimit?.snapshot() ?? null,
      };
    });
  }

  #countReload(subject: string, result: 'applied' | 'rejected'): void {
    const key = `${subject} ${result}`;
    const entry = this.#reloads.get(key);
    if (entry) entry.count++;
    else this.#reloads.set(key, { subject, result, count: 1 });
  }

  /** A source is up once it listed its endpoints, down from when it says it cannot (an outage). */
  #noteDiscovery({ service, source, kind }: DiscoveryEvent): void {
    const key = `${service}\u0000${source}`;
    let state = this.#sources.get(key);
    if (!state) this.#sources.set(key, (state = { service, source, up: kind !== 'unavailable', outages: 0 }));
    if (kind === 'unavailable' && (state.up || state.outages === 0)) state.outages++;
    if (kind !== 'skipped') state.up = kind === 'synced';
  }

  /**
   * A per-method setting naming a method this client lacks, or hedging one it cannot hedge,
   * would do nothing. Passed in code, it is refused; from the config (which a reload may change,
   * and which clients built from an older proto share) it is logged as a warning.
   */
  #checkMethodSettings(definition: ServiceDefinition, service: string, stack: ClientStackOptions | undefined): void {
    const fromConfig = this.#service(service)?.client;
    const inCode = (name: 'deadline' | 'retry') => stack?.[name] !== undefined;
    const at = (name: 'deadline' | 'retry') => (inCode(name) ? `stack.${name}` : `services.${service}.client.${name}`);
    const problems = checkMethodSettings(definition, { ...fromConfig, ...stack }, { deadline: at('deadline'), retry: at('retry') });
    for (const problem of problems) {
      if (!inCode(problem.section)) {
        const message = `mesh.client(…, "${service}"): ${problem.message}; the setting does nothing for this client`;
        this.#logger.warn({ service, field: problem.field }, message);
        // Without a logger the warning would be lost: a typo must be said somewhere.
        if (!this.#logging) process.emitWarning(message, { code: 'MESHLITE_SETTING_UNUSED' });
        continue;
      }
      // The stack's section replaces the config's whole (a shallow merge): say so, it may be why.
      const replaced =
        fromConfig?.[problem.section] !== undefined
          ? ` (stack.${problem.section} replaces services.${service}.client.${problem.section} entirely)`
          : '';
      throw new ConfigError(problem.field, problem.value, `mesh.client(…, "${service}"): ${problem.message}${replaced}`);
    }
  }

  /** The routes of `service` in the config in force (the table compiled once per config version). */
  #routes(service: string): () => RouteTable | undefined {
    let seen: MeshConfig | undefined;
    let table: RouteTable | undefined;
    return () => {
      const config = this.config;
      if (config !== seen) {
        seen = config;
        table = RouteTable.of(this.#service(service) ?? {});
      }
      return table;
    };
  }

  #service(name: string): ServiceConfig | undefined {
    const { services } = this.config;
    return Object.hasOwn(services, name) ? services[name] : undefined;
  }

  /** What the resolver sees of this mesh through the registry, and hands its balancers with each resolution. */
  #runtime(): MeshRuntime {
    return {
      id: this.id,
      service: (name) => {
        const settings = this.#service(name);
        return settings && this.#discovery.effective(name, settings);
      },
      whyNoEndpoints: (name) => this.#discovery.whyEmpty(name, this.#service(name)) ?? `no endpoints listed for ${name}`,
      resolving: (name) => {
        const settings = this.#service(name);
        return settings !== undefined && this.#discovery.pending(name, settings);
      },
      serviceNames: () => Object.keys(this.config.services),
      describeSource: () => this.#source.describe(),
      onConfigChange: (listener) => this.#configChanged.subscribe(listener),
      events: this.#sink,
      logger: this.#logger,
      clock: this.#clock,
      random: this.#random,
      zone: this.#zone,
      metrics: this.#metrics,
      attemptRecorder: () => this.#admin.recorder,
      registerBalancer: (snapshot) => {
        this.#balancers.add(snapshot);
        return () => this.#balancers.delete(snapshot);
      },
    };
  }
}

/** Creates a mesh (and registers the resolver and policy with grpc-js on first use). */
export function createMesh(options: MeshOptions): Mesh {
  return new Mesh(options);
}

/** A copy of the config without secrets: etcd passwords replaced (file paths stay: they are not secret). */
function redactSecrets(config: MeshConfig): unknown {
  return JSON.parse(JSON.stringify(config), (key, value: unknown) => (key === 'password' ? '[REDACTED]' : value));
}
