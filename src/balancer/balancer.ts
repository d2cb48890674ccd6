import { connectivityState as ConnectivityState, experimental, status as Status, type ChannelOptions } from '@grpc/grpc-js';
import { fullMethodName } from '../call/method.js';
import { setTimer, unrefTimer, type Clock } from '../clock.js';
import type { ServiceConfig } from '../config/mesh-config.js';
import type { EndpointEvent, EndpointEventKind } from '../observability/events.js';
import { BALANCER_NAME, MeshBalancerConfig } from './balancer-config.js';
import { EndpointController, type EndpointOwner } from './endpoint-controller.js';
import { connectionCounters, endpointAttemptRecorder, routePickCounter, type EndpointAttemptRecorder } from './endpoint-metrics.js';
import { Membership } from './membership.js';
import { WeightedPriorityPicker, type PickerTier } from './picker.js';
import { P2cChooser } from './p2c.js';
import { ServiceRouting } from './routing.js';
import { balancerUpdateOf, withoutBalancerUpdate, type BalancerRuntime } from './runtime.js';
import { WeightedScheduler } from './scheduler.js';
import type { BalancerSnapshot } from './snapshot.js';
import { LEAVING_PRIORITY, methodRules, overrideEjections, planTiers, whyUnusable } from './tiers.js';

/** New connections opened per event-loop turn. */
const CONNECT_BATCH = 50;

/** How often the picker is rebuilt while an endpoint ramps up in slow start. */
const SLOW_START_STEPS = 10;

/**
 * The `meshlite_weighted` load-balancing policy: priority tiers; inside a tier, smooth
 * weighted picking P(i) = W(i) / Σ W(j) over endpoints that are connected, healthy (A17
 * health checking) and not ejected; passive ejection with single-call probes; slow start;
 * the retry layer's avoid-hint. Every state change is an event, emitted once the picker
 * reflects it. Which endpoints it has is the Membership's business.
 */
export class WeightedPriorityBalancer implements experimental.LoadBalancer, EndpointOwner {
  readonly #helper: experimental.ChannelControlHelper;
  readonly #members = new Membership<EndpointController>({
    emit: (endpoint, kind, reason) => this.#emit(endpoint, kind, reason),
    note: (level, fields, message) => this.#runtime!.logger[level]({ service: this.#service, ...fields }, message),
  });
  /** The service this balancer serves, as the resolver configured it. */
  #service = '';
  /** The service's settings, as the resolver handed them with the endpoints. */
  #settings!: ServiceConfig;
  /** The mesh's side, as the resolver handed it; set with the first endpoints. */
  #runtime: BalancerRuntime | undefined;
  /** The mesh's attempt recorder, read on every pick: the admin page may start after this balancer. */
  get attempts(): ((endpoint: EndpointController, code: Status, durationMs: number) => void) | undefined {
    return this.#counter || this.#runtime?.attemptRecorder() ? this.#recordAttempt : undefined;
  }
  readonly #recordAttempt = (endpoint: EndpointController, code: Status, durationMs: number): void => {
    this.#counter?.record(endpoint, code, durationMs);
    this.#runtime?.attemptRecorder()?.(this.#service, endpoint.address, code, durationMs);
  };
  #counter: EndpointAttemptRecorder | undefined;
  /** gRPC A94's subchannel counters for this channel's target. */
  #connections: Record<'succeeded' | 'failed' | 'disconnected', { add(value: number): void }> | undefined;
  #unregister: (() => void) | undefined;
  #picker: WeightedPriorityPicker | undefined;
  #state = ConnectivityState.IDLE;
  #activePriority: number | undefined;
  #loads: BalancerSnapshot['tiers'] = [];
  /** Routes and subsets: their pickers, pick counts and episodes without a usable endpoint. */
  readonly #routing = new ServiceRouting();
  #failovers = 0;
  /** Calls the unavailable picker failed at once (see #report). */
  #unavailable = 0;
  #timer: unknown;
  #rebuilding = false;
  #pickerBuilds = 0;
  /** Whether this event-loop turn already rebuilt the picker, and whether a change waits for its end. */
  #turn: 'quiet' | 'rebuilt' | 'pending' = 'quiet';
  #destroyed = false;
  /** New endpoints whose connection is not opened yet. */
  readonly #toConnect: EndpointController[] = [];
  #resolutionError: string | undefined;
  #overridingEjections = false;
  /** Events wait until the picker reflects them, so a listener never sees a stale snapshot. */
  readonly #pendingEvents: EndpointEvent[] = [];

  constructor(helper: experimental.ChannelControlHelper) {
    this.#helper = helper;
  }

  get service(): string {
    return this.#service;
  }

  get settings(): ServiceConfig {
    return this.#settings;
  }

  get clock(): Clock {
    return this.#runtime!.clock;
  }

  get random(): () => number {
    return this.#runtime!.random;
  }

  updateAddressList(
    endpoints: experimental.StatusOr<experimental.Endpoint[]>,
    lbConfig: experimental.TypedLoadBalancingConfig,
    options: ChannelOptions,
    resolutionNote = '',
  ): boolean {
    if (!(lbConfig instanceof MeshBalancerConfig)) return false;
    if (!endpoints.ok) {
      // The resolver's word: keep serving the endpoints we have, or fail calls saying why.
      this.#resolutionError = endpoints.error.details;
      if (this.#members.current.size === 0) this.#report(ConnectivityState.TRANSIENT_FAILURE, endpoints.error.details);
      return true;
    }
    const update = balancerUpdateOf(options);
    if (!update) {
      // A service config naming our policy on a channel that is not a mesh:/// one: no mesh
      // resolver hands it the service's settings.
      const details = `${BALANCER_NAME}: no settings for service "${lbConfig.config.service}": the policy serves mesh:/// targets only`;
      this.#report(ConnectivityState.TRANSIENT_FAILURE, details);
      return true;
    }
    this.#service = lbConfig.config.service;
    this.#settings = update.settings;
    this.#attach(update.runtime);
    // With an empty list, the resolver's note says why ("no endpoints under etcd …").
    this.#resolutionError = resolutionNote || undefined;
    const leafOptions = withoutBalancerUpdate(options);
    this.#rebuilding = true;
    const created = this.#members.apply(
      endpoints.value,
      update.settings,
      (endpoint, config) => new EndpointController(endpoint, config, this, this.#helper, leafOptions),
    );
    this.#toConnect.push(...created);
    this.#rebuilding = false;
    const { metrics } = this.#runtime!;
    this.#routing.update(
      update.settings,
      this.#members.current.values(),
      (fields, message) => this.#runtime!.logger.warn({ service: this.#service, ...fields }, message),
      metrics && ((route, subsets) => routePickCounter(metrics, this.#service, route, subsets)),
    );
    this.#rebuild();
    this.#connectSome();
    return true;
  }

  /**
   * Opens the new endpoints' connections, CONNECT_BATCH per event-loop turn: with 1,000 new
   * endpoints the first few connect and answer their health check while the rest are still
   * being opened, instead of every handshake queueing behind every other (the first call
   * would wait for the last handshake).
   */
  #connectSome = (): void => {
    if (this.#destroyed) return;
    for (const endpoint of this.#toConnect.splice(0, CONNECT_BATCH)) endpoint.connect();
    if (this.#toConnect.length > 0) setImmediate(this.#connectSome);
  };

  /**
   * grpc-js calls this on every call. It nudges the endpoints that are not connected (a
   * connection whose backoff ended waits for this to try again, so calls after an outage bring
   * the backends back as soon as they listen); connected ones are not walked, which at 1,000
   * endpoints cost more than the pick.
   */
  exitIdle(): void {
    const all = this.#state === ConnectivityState.IDLE ? this.#members.current.values() : this.#members.notConnected;
    for (const endpoint of all) endpoint.exitIdle();
  }

  resetBackoff(): void {}

  destroy(): void {
    this.#destroyed = true;
    this.#runtime?.clock.clearTimeout(this.#timer);
    this.#members.destroy();
    this.#unregister?.();
    this.#unregister = undefined;
  }

  getTypeName(): string {
    return BALANCER_NAME;
  }

  changed(endpoint: EndpointController, kind: EndpointEventKind | undefined, reason: string, method?: string): void {
    if (kind) this.#emit(endpoint, kind, reason, method);
    this.#members.noteConnectivity(endpoint);
    if (this.#rebuilding) return;
    // The first change of an event-loop turn rebuilds at once (a failure leaves the rotation
    // before the next pick); more in the same turn — 1,000 endpoints connecting — wait for
    // one rebuild at its end instead of one each, which made start-up O(N²).
    if (this.#turn === 'quiet') {
      this.#rebuild();
      this.#turn = 'rebuilt';
      setImmediate(this.#endTurn);
    } else {
      this.#turn = 'pending';
    }
  }

  readonly #endTurn = (): void => {
    const pending = this.#turn === 'pending';
    this.#turn = 'quiet';
    if (!pending || this.#destroyed) return;
    this.#rebuild();
    this.#turn = 'rebuilt';
    setImmediate(this.#endTurn);
  };

  connection(outcome: 'succeeded' | 'failed' | 'disconnected'): void {
    this.#connections?.[outcome].add(1);
  }

  /** An endpoint left (or the balancer went): its per-endpoint series go. */
  destroyed(endpoint: EndpointController): void {
    this.#counter?.forget(endpoint);
  }

  mayEject(endpoint: EndpointController, method?: string): boolean {
    for (const others of [this.#members.current, this.#members.leaving]) {
      for (const other of others.values()) {
        if (other !== endpoint && other.usable && (method === undefined || !other.methods.excluded(method))) return true;
      }
    }
    return false;
  }

  snapshot(): BalancerSnapshot {
    const now = this.clock.now();
    return {
      service: this.#service,
      state: ConnectivityState[this.#state],
      tiers: this.#loads,
      failovers: this.#failovers,
      pickerBuilds: this.#pickerBuilds,
      unavailable: this.#unavailable,
      endpoints: this.#withLeaving([...this.#members.current.values()]).map((endpoint) => endpoint.snapshot(now)),
      zone: this.#runtime?.zone,
      ...this.#routing.snapshot(),
    };
  }

  /** Ties the balancer to the mesh the resolver handed over (the same one each time, in practice). */
  #attach(runtime: BalancerRuntime): void {
    if (runtime === this.#runtime) return;
    this.#unregister?.();
    this.#runtime = runtime;
    this.#counter = runtime.metrics && endpointAttemptRecorder(runtime.metrics, () => this.#service);
    this.#connections = runtime.metrics && connectionCounters(runtime.metrics, this.#service);
    this.#unregister = runtime.registerBalancer(() => this.snapshot());
  }

  /** The p2c_ewma policy's cost (EndpointController.cost). */
  readonly #costOf = (endpoint: EndpointController): number => endpoint.cost(this.clock.now());

  /** Recomputes the picker from every endpoint's state; the only place the picker is built. */
  #rebuild(): void {
    this.#pickerBuilds++;
    this.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    const now = this.clock.now();
    const back: EndpointController[] = [];
    const all = [...this.#members.current.values()];
    for (const endpoint of this.#withLeaving(all)) {
      const change = endpoint.ejection.expire();
      if (change) this.#emit(endpoint, 'probing', 'ejection time is up: the next call probes it');
      for (const method of endpoint.methods.expire()) {
        this.#emit(endpoint, 'probing', `ejection time is up: the next call of ${fullMethodName(method)} probes it`, method);
      }
      if (endpoint.noteUsability(now)) back.push(endpoint);
    }
    const settings = this.#settings;
    const { balancer } = settings;
    const { random, events, zone } = this.#runtime!;
    const chooser =
      (credits: ReadonlyMap<EndpointController, number> | undefined) => (entries: Array<{ item: EndpointController; weight: number }>) =>
        balancer.policy === 'p2c_ewma'
          ? new P2cChooser(entries, this.#costOf, random, credits, balancer.ewma.toleranceMs)
          : new WeightedScheduler(entries, credits, random);
    const credits = this.#picker?.credits();
    const choose = chooser(credits);
    const routing = this.#routing;
    const planAll = (leaving: EndpointController[]) => {
      routing.plan(settings, all, leaving, now, zone, chooser);
      return planTiers(all, balancer, now, choose, leaving, zone);
    };
    let plan = planAll([...this.#members.leaving.values()]);
    // The leaving endpoints stay while the service or one of its subsets still needs them.
    if (this.#members.settle(Math.max(plan.leavingLoad, routing.leavingLoad), now)) plan = planAll([...this.#members.leaving.values()]);
    const { tiers, loads } = plan;
    const current = this.#withLeaving(all);
    this.#loads = loads;
    const probing = all.filter((e) => e.probing);
    this.#noteEjectionOverride(tiers.length === 0 && probing.length === 0 ? overrideEjections(all, credits) : undefined, tiers);

    if (tiers.length > 0 || probing.length > 0) {
      this.#picker = new WeightedPriorityPicker(tiers, probing, methodRules(current), plan.standby);
      this.#setState(ConnectivityState.READY, routing.picker(this.#picker), null);
    } else if (all.some((e) => e.isComing(now))) {
      this.#picker = undefined;
      this.#setState(ConnectivityState.CONNECTING, new experimental.QueuePicker(this), null);
    } else {
      this.#picker = undefined;
      this.#report(ConnectivityState.TRANSIENT_FAILURE, this.#whyNothingIsUsable(all));
    }
    this.#scheduleNextRebuild(current, now);
    const emitted = this.#pendingEvents.splice(0);
    for (const event of emitted) events.endpoint(event);
    if (this.#picker) routing.noteEpisodes(this.#service, (event) => events.routing(event));
    for (const endpoint of back) {
      const cause = emitted.findLast((e) => e.address === endpoint.address && e.kind !== 'probing' && e.method === undefined);
      const reason = cause ? `${cause.kind}: ${cause.reason}` : 'back in rotation';
      events.recovered({ service: this.#service, endpoint: endpoint.config.name, address: endpoint.address, reason });
    }
    // The leaving endpoints' tier is no failover: their traffic moves as the update asked.
    const configured = tiers.find(({ tier }) => tier.priority !== LEAVING_PRIORITY);
    if (configured || this.#members.leaving.size === 0) this.#noteFailover(configured?.tier.priority);
  }

  /** `all` and the leaving endpoints: what ejection, slow start and method rules look after. */
  #withLeaving(all: EndpointController[]): EndpointController[] {
    const { leaving } = this.#members;
    return leaving.size === 0 ? all : [...all, ...leaving.values()];
  }

  #whyNothingIsUsable(all: readonly EndpointController[]): string {
    const service = this.#service;
    if (all.length === 0) return `no endpoints for ${service}${this.#resolutionError ? `: ${this.#resolutionError}` : ''}`;
    return `no usable endpoint for ${service}: ${whyUnusable(all)}`;
  }

  /**
   * Ejection is a preference, not a verdict: when nothing else is usable (the other endpoints
   * died while these were ejected), endpoints that are connected and healthy serve although
   * ejected, rather than every call failing. Passive ejection never takes the last usable
   * endpoint out; this covers the last one going away while others are ejected.
   */
  #noteEjectionOverride(fallback: { tier: PickerTier; load: number } | undefined, tiers: Array<{ tier: PickerTier; load: number }>): void {
    if (fallback) tiers.push(fallback);
    if ((fallback !== undefined) === this.#overridingEjections) return;
    this.#overridingEjections = fallback !== undefined;
    const service = this.#service;
    const { logger } = this.#runtime!;
    if (fallback)
      logger.warn({ service }, 'no usable endpoint: ejected endpoints that are connected and healthy serve until another is usable');
    else logger.info({ service }, 'ejections apply again: another endpoint is usable');
  }

  /** Timers for what changes with time alone: an ejection running out, slow start ramping. */
  #scheduleNextRebuild(all: readonly EndpointController[], now: number): void {
    let next = Infinity;
    const { windowMs } = this.#settings.balancer.slowStart;
    const awaited = this.#routing.awaited();
    for (const endpoint of all) {
      const state = endpoint.ejection.state;
      if (state.kind === 'ejected') next = Math.min(next, state.until);
      next = Math.min(next, endpoint.methods.nextExpiry());
      if (endpoint.usable && endpoint.inSlowStart(now)) next = Math.min(next, now + Math.max(10, windowMs / SLOW_START_STEPS));
      // While calls wait for a reconnect: when it stops counting as on its way, they fail fast
      // (or, waiting for a subset's endpoint, take the route's fallback).
      const comingUntil = this.#picker === undefined || awaited?.has(endpoint) ? endpoint.comingUntil : undefined;
      if (comingUntil !== undefined && comingUntil > now) next = Math.min(next, comingUntil);
    }
    const { graceEnd } = this.#members;
    if (graceEnd !== undefined) next = Math.min(next, graceEnd);
    if (next === Infinity) return;
    this.#timer = unrefTimer(setTimer(this.clock, () => this.#rebuild(), next - now));
  }

  #noteFailover(active: number | undefined): void {
    if (active === this.#activePriority) return;
    const from = this.#activePriority;
    this.#activePriority = active;
    if (from === undefined && active === 0) return; // the normal start, not a failover
    const reason =
      active === undefined
        ? 'no tier has a usable endpoint'
        : from === undefined || active < from
          ? `priority ${active} usable again`
          : `priority ${from} has no usable endpoint`;
    this.#failovers++;
    this.#runtime!.events.failover({ service: this.#service, from, to: active, reason });
  }

  #report(state: ConnectivityState, details: string): void {
    const unavailable = new experimental.UnavailablePicker({ code: Status.UNAVAILABLE, details });
    // Counted as calls that fail for want of an endpoint: grpc-js fails a pick that meets
    // TRANSIENT_FAILURE at once, unless the call waits for ready (then it is picked again later).
    const counting: experimental.Picker = {
      pick: (args) => {
        if (!args.metadata.getOptions().waitForReady) this.#unavailable++;
        return unavailable.pick(args);
      },
    };
    this.#setState(state, counting, details);
  }

  #setState(state: ConnectivityState, picker: experimental.Picker, error: string | null): void {
    this.#state = state;
    this.#helper.updateState(state, picker, error);
  }

  /** Queues an event; the next rebuild (always right after) emits it. */
  #emit(endpoint: EndpointController, kind: EndpointEventKind, reason: string, method?: string): void {
    const event: EndpointEvent = {
      service: this.#service,
      endpoint: endpoint.config.name,
      address: endpoint.address,
      kind,
      reason,
    };
    this.#pendingEvents.push(method === undefined ? event : { ...event, method: fullMethodName(method) });
  }
}

/** Registers the `meshlite_weighted` policy with grpc-js. Safe to call more than once. */
export function registerBalancer(): void {
  if (experimental.isLoadBalancerNameRegistered(BALANCER_NAME)) return;
  experimental.registerLoadBalancerType(BALANCER_NAME, WeightedPriorityBalancer, MeshBalancerConfig);
}
