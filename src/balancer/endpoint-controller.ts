import { connectivityState as ConnectivityState, experimental, status as Status, type ChannelOptions, type Metadata } from '@grpc/grpc-js';
import { fullMethodName } from '../call/method.js';
import { PUSHBACK_HEADER } from '../call/wire.js';
import type { Clock } from '../clock.js';
import type { EndpointConfig, ServiceConfig } from '../config/mesh-config.js';
import {
  connectionNotReady,
  HealthCheckedSubchannel,
  isHealthy,
  type EndpointHealth,
  type HealthCheckSettings,
} from '../health/health-checker.js';
import type { EndpointEventKind } from '../observability/events.js';
import { explainConnectionFailure } from '../security/tls-failure.js';
import { EjectionTracker, type EjectionChange } from './ejection.js';
import { MethodEjections, type MethodEjectionOwner } from './method-ejection.js';
import type { Member } from './membership.js';
import { PeakEwma } from './peak-ewma.js';
import type { EndpointSnapshot, EndpointStatus } from './snapshot.js';
import { slowStartFactor } from './slow-start.js';

export interface EndpointOwner {
  readonly clock: Clock;
  /** Random numbers in [0, 1): where its health probes fall in their period. */
  readonly random: () => number;
  /** The service, as in `mesh:///<service>`: what a reason names. */
  readonly service: string;
  readonly settings: Pick<ServiceConfig, 'healthCheck' | 'balancer' | 'tls'>;
  /** Counts each attempt's outcome and duration per endpoint, when the mesh records them (metrics, admin page). */
  readonly attempts: ((endpoint: EndpointController, code: Status, durationMs: number) => void) | undefined;
  /** Something changed that may change the picker; `method` when it concerns one method only. */
  changed(endpoint: EndpointController, kind: EndpointEventKind | undefined, reason: string, method?: string): void;
  /** Whether taking this endpoint (or, with `method`, one method of it) out of rotation leaves another usable one. */
  mayEject(endpoint: EndpointController, method?: string): boolean;
  /** The endpoint is destroyed (it left, or its channel closed): what was kept of it may go. */
  destroyed(endpoint: EndpointController): void;
  /** Its connection was made, failed to be made, or was lost (gRPC A94's subchannel counts). */
  connection(outcome: 'succeeded' | 'failed' | 'disconnected'): void;
}

/** Which probe a pick is: the endpoint's own (after an endpoint ejection) or one method's. */
export type ProbeKind = 'endpoint' | 'method' | undefined;

/**
 * Statuses that may not come from the backend at all (a deadline, a cancellation, a broken
 * connection): a call that ends so says nothing about whether the backend is alive.
 */
/**
 * How long an endpoint that served before counts as on its way back while it reconnects (see
 * isComing): a routine reconnect — a server's max_connection_age, a restart on the same
 * address — takes tens of milliseconds, TLS included; one that has not finished in a second is
 * stuck, and calls should fail fast (and tell the breaker) rather than wait for it.
 */
export const RECONNECT_WAIT_MS = 1000;

const NO_WORD_FROM_THE_BACKEND: ReadonlySet<Status> = new Set([
  Status.DEADLINE_EXCEEDED,
  Status.CANCELLED,
  Status.UNAVAILABLE,
  Status.INTERNAL,
  Status.UNKNOWN,
]);

/** The health checker's settings of an owner's endpoints: one object for them all. */
const healthSettingsOf = new WeakMap<object, HealthCheckSettings>();

function healthSettings(owner: EndpointOwner): HealthCheckSettings {
  const { healthCheck } = owner.settings;
  let settings = healthSettingsOf.get(healthCheck);
  if (settings === undefined || settings.clock !== owner.clock || settings.random !== owner.random) {
    settings = { ...healthCheck, clock: owner.clock, random: owner.random };
    healthSettingsOf.set(healthCheck, settings);
  }
  return settings;
}

/**
 * One endpoint as the balancer controls it: its connection (a grpc-js LeafLoadBalancer, i.e.
 * pick_first over its address), its health (A17 Watch on that connection), its passive
 * ejection state, its slow start, and how many picks it got.
 */
export class EndpointController implements Member, MethodEjectionOwner {
  readonly address: string;
  #config: EndpointConfig;
  connectivity = ConnectivityState.IDLE;
  lastError: string | undefined;
  health: EndpointHealth;
  /** Set when the endpoint last came back into rotation; drives slow start. */
  slowStartSince: number | undefined;
  /** Usable once already: coming back after that starts slow (slow start); the first time, not. */
  everUsable = false;
  picks = 0;
  #leaving = false;
  /** Calls sent here that have not ended yet. */
  inFlight = 0;
  /** Round-trip time of its calls, peak-EWMA (the p2c_ewma policy's cost). */
  readonly latency: PeakEwma;
  /** Start time of each call in flight, oldest first (a Map keeps insertion order); p2c_ewma only. */
  #started: Map<number, number> | undefined;
  #callIds = 0;
  #ejections = 0;
  #healthFailures = 0;
  readonly ejection: EjectionTracker;
  /** Ejections of single methods at this endpoint. */
  readonly methods: MethodEjections;
  readonly #owner: EndpointOwner;
  readonly #leaf: experimental.LeafLoadBalancer;
  #destroyed = false;
  readonly #releases: Array<() => void> = [];
  /** connect() was called: the balancer opens new connections a batch per turn. */
  #opened = false;
  #picker!: experimental.Picker;
  #wasUsable = false;
  /** When it stopped being usable after having been (undefined while usable, or never usable yet). */
  #lostAt: number | undefined;
  /** Whether it stopped being usable because its connection went (not its health, not an ejection). */
  #lostConnection = false;
  #wasServing = false;
  #healthSource: object | undefined;

  constructor(
    endpoint: experimental.Endpoint,
    config: EndpointConfig,
    owner: EndpointOwner,
    helper: experimental.ChannelControlHelper,
    options: ChannelOptions,
  ) {
    const first = endpoint.addresses[0]!;
    this.address = experimental.subchannelAddressToString(first);
    this.#config = config;
    this.#owner = owner;
    const healthCheck = owner.settings.healthCheck;
    this.health = healthCheck.enabled
      ? { status: 'disconnected', detail: 'not connected yet' }
      : { status: 'disabled', detail: 'health checking is off' };
    this.ejection = new EjectionTracker(owner.settings.balancer.ejection, owner.clock, () => this.#owner.mayEject(this));
    this.latency = new PeakEwma(owner.settings.balancer.ewma, owner.clock.now());
    this.methods = new MethodEjections(owner.settings.balancer.ejection, owner.clock, this);
    const leafHelper = experimental.createChildChannelControlHelper(helper, {
      createSubchannel: (address, args) => {
        const subchannel = helper.createSubchannel(address, args);
        // A connection whose reconnect backoff ended goes IDLE, and pick_first in transient
        // failure leaves it there until the channel re-resolves (1 s or more): try again at
        // once, so a backend that listens again is used within the backoff (≤ 300 ms).
        const reconnect: experimental.ConnectivityStateListener = (_, previous, state) => {
          // Each connection attempt as the subchannel makes it (pick_first above it stays in
          // TRANSIENT_FAILURE while it retries): gRPC A94's counts.
          if (previous === ConnectivityState.CONNECTING && state === ConnectivityState.READY) this.#owner.connection('succeeded');
          else if (previous === ConnectivityState.CONNECTING && state === ConnectivityState.TRANSIENT_FAILURE)
            this.#owner.connection('failed');
          else if (previous === ConnectivityState.READY) this.#owner.connection('disconnected');
          if (state === ConnectivityState.IDLE && this.#opened && !this.#destroyed) process.nextTick(() => subchannel.startConnecting());
        };
        subchannel.addConnectivityStateListener(reconnect);
        // Subchannels may outlive this endpoint in grpc-js's pool: let go of it when destroyed.
        this.#releases.push(() => subchannel.removeConnectivityStateListener(reconnect));
        if (!this.#owner.settings.healthCheck.enabled) return subchannel;
        // Only the newest connection's health counts (pick_first may replace its subchannel).
        const source = {};
        this.#healthSource = source;
        return new HealthCheckedSubchannel(subchannel, healthSettings(this.#owner), (health) => {
          if (this.#healthSource === source) this.#onHealth(health);
        });
      },
      updateState: (state, picker, errorMessage) => this.#onConnectivity(state, picker, errorMessage),
    });
    // With TLS, each endpoint's certificate is checked against its own name (grpc-js would check
    // the channel's authority, the mesh service's name, which no certificate carries).
    // A name the user set in the channel options (grpc.ssl_target_name_override) is theirs.
    const serverName = config.serverName ?? owner.settings.tls?.serverName ?? ('host' in first ? first.host : this.address);
    const leafOptions =
      owner.settings.tls && options['grpc.ssl_target_name_override'] === undefined
        ? { ...options, 'grpc.ssl_target_name_override': serverName }
        : options;
    this.#leaf = new experimental.LeafLoadBalancer(endpoint, leafHelper, leafOptions, '');
    this.#picker = this.#leaf.getPicker();
  }

  /** Its entry in the config or its discovery source; update() replaces it. */
  get config(): EndpointConfig {
    return this.#config;
  }

  /** Removed by an update, serving on until a new endpoint is usable (the balancer's bridge). */
  get leaving(): boolean {
    return this.#leaving;
  }

  /** Times ejected, the whole endpoint or one method (counted where the ejection happens). */
  get ejections(): number {
    return this.#ejections;
  }

  /** Opens its connection (the balancer spreads many over a few event-loop turns). */
  connect(): void {
    if (this.#destroyed) return;
    this.#opened = true;
    this.#leaf.startConnecting();
  }

  /**
   * What the p2c_ewma policy weighs: the peak-EWMA round-trip time — or, when longer, how long
   * its oldest call in flight has waited (an endpoint that has not answered for 50 ms is at
   * least that slow, whatever it did before) — times the calls in flight plus one.
   */
  cost(now: number): number {
    const oldest = this.#started?.values().next();
    const waited = oldest === undefined || oldest.done ? 0 : now - oldest.value;
    return Math.max(this.latency.estimate(now), waited) * (this.inFlight + 1);
  }

  /** Connected, healthy, admitted and weighted: may take regular calls. */
  get usable(): boolean {
    return this.#connectedAndHealthy && this.ejection.admitted && this.config.weight > 0;
  }

  /** Ejected earlier and now waiting for its single probe call. */
  get probing(): boolean {
    return this.#connectedAndHealthy && this.ejection.state.kind === 'probing';
  }

  /**
   * Not usable now but on its way, for the first time or again: a connection being made (or
   * about to be), or connected and waiting for its first health answer (A17). While nothing is
   * usable, calls wait for such an endpoint within their deadlines, as grpc-js's own policies
   * queue picks while a subchannel is CONNECTING: servers that close connections on a timer
   * (max_connection_age) all reconnecting at once must not fail calls. An endpoint that served
   * before counts as on its way for RECONNECT_WAIT_MS after it stopped serving, no longer: a
   * reconnect to a hung process (the TCP handshake done, HTTP/2 never) never ends, and calls
   * would otherwise wait for it to their deadlines — or for ever without one — with the
   * breaker never hearing of a failure.
   */
  isComing(now: number): boolean {
    return this.#onItsWay() && (this.#lostAt === undefined || now - this.#lostAt < RECONNECT_WAIT_MS);
  }

  /** When a reconnect in progress stops counting as on its way (the balancer looks again then). */
  get comingUntil(): number | undefined {
    return this.#lostAt !== undefined && this.#onItsWay() ? this.#lostAt + RECONNECT_WAIT_MS : undefined;
  }

  #onItsWay(): boolean {
    if (this.config.weight === 0) return false;
    const connecting = this.connectivity === ConnectivityState.CONNECTING || this.connectivity === ConnectivityState.IDLE;
    // The health checker may hear of a lost connection ('disconnected') a moment before the
    // connectivity update reaches this endpoint: that too is a connection about to be remade.
    const health = this.health.status;
    return connecting || (this.connectivity === ConnectivityState.READY && (health === 'unknown' || health === 'disconnected'));
  }

  /** Connected and passing its health check, whatever its ejection state. */
  get serving(): boolean {
    return this.#connectedAndHealthy;
  }

  get connected(): boolean {
    return this.connectivity === ConnectivityState.READY;
  }

  get #connectedAndHealthy(): boolean {
    return this.connectivity === ConnectivityState.READY && isHealthy(this.health);
  }

  /** Scheduler weight now: configured weight scaled by slow start. */
  effectiveWeight(now: number): number {
    const { windowMs, minWeightPercent } = this.#owner.settings.balancer.slowStart;
    return this.config.weight * slowStartFactor(this.slowStartSince, now, windowMs, minWeightPercent);
  }

  inSlowStart(now: number): boolean {
    const { windowMs } = this.#owner.settings.balancer.slowStart;
    return this.slowStartSince !== undefined && now - this.slowStartSince < windowMs;
  }

  /**
   * Sends the call to this endpoint's connection, counting it and watching how it ends, for
   * the endpoint and for the call's method (when the resolver named it in the pick info).
   */
  pick(args: experimental.PickArgs, probe: ProbeKind, method: string | undefined, mirror = false): experimental.PickResult {
    const result = this.#picker.pick(args);
    if (result.pickResultType !== experimental.PickResultType.COMPLETE) {
      if (probe === 'endpoint') this.ejection.releaseProbe();
      else if (probe === 'method') this.methods.releaseProbe(method!);
      return result;
    }
    this.picks++;
    const health = result.subchannel instanceof HealthCheckedSubchannel ? result.subchannel : undefined;
    const subchannel = health ? health.getWrappedSubchannel() : result.subchannel;
    // Judged for its method too, when the endpoint tracks the method.
    const judged = method !== undefined && this.methods.tracks(method) ? method : undefined;
    const count = this.#owner.attempts;
    const clock = this.#owner.clock;
    const started = clock.precise?.() ?? clock.now();
    // Only p2c_ewma weighs how long the oldest call in flight has waited (cost()).
    const callId = this.#owner.settings.balancer.policy === 'p2c_ewma' ? this.#callIds++ : -1;
    // grpc-js may pick again or give up before a stream starts: a call is in flight from
    // onCallStarted, which it calls only when onCallEnded will follow.
    const innerStarted = result.onCallStarted;
    return {
      pickResultType: result.pickResultType,
      subchannel,
      status: result.status,
      onCallStarted: () => {
        this.inFlight++;
        if (callId >= 0) (this.#started ??= new Map()).set(callId, clock.now());
        health?.callStarted();
        innerStarted?.();
      },
      onCallEnded: (code: Status, _details: string, metadata: Metadata) => {
        this.inFlight--;
        if (callId >= 0) this.#started?.delete(callId);
        health?.callEnded(!NO_WORD_FROM_THE_BACKEND.has(code));
        const rttMs = (clock.precise?.() ?? clock.now()) - started;
        // Linkerd's load biaser: a server that sheds load or asks for a pause looks slow for a while.
        const penalised = code === Status.RESOURCE_EXHAUSTED || (code !== Status.OK && metadata?.get(PUSHBACK_HEADER).length > 0);
        const now = clock.now();
        // A cancelled call (a hedge that lost, a caller that gave up) ran for at least this long:
        // a lower bound, which may raise the estimate but never lowers it.
        if (code !== Status.CANCELLED || rttMs > this.latency.estimate(now)) {
          this.latency.observe(penalised ? Math.max(rttMs, this.#owner.settings.balancer.ewma.penaltyMs) : rttMs, now);
        }
        count?.(this, code, rttMs);
        // Mirrored traffic never changes where real calls go: its failures eject nothing.
        if (mirror) return;
        if (judged !== undefined) this.methods.ended(judged, code, probe);
        else this.endpointOutcome(code, probe === 'endpoint');
      },
    };
  }

  /** MethodEjectionOwner, and passive ejection: every attempt's final status comes here. */
  endpointOutcome(code: Status, probe: boolean): void {
    this.#settle(probe ? this.ejection.recordProbe(code) : this.ejection.record(code));
  }

  /** MethodEjectionOwner. */
  get endpointAdmitted(): boolean {
    return this.ejection.admitted;
  }

  /** MethodEjectionOwner. */
  mayEjectMethod(method: string): boolean {
    return this.#owner.mayEject(this, method);
  }

  /** MethodEjectionOwner. */
  methodChanged(method: string, change: EjectionChange): void {
    this.#settle(change, method);
  }

  #settle(change: EjectionChange | undefined, method?: string): void {
    const what = method === undefined ? '' : ` for ${fullMethodName(method)}`;
    if (change?.kind === 'ejected' && method === undefined) this.methods.resetAll();
    if (change?.kind === 'ejected') {
      this.#ejections++;
      this.#owner.changed(this, 'ejected', `${change.reason}${what}; out for ${Math.round(change.forMs)} ms`, method);
    } else if (change?.kind === 'readmitted') {
      this.#owner.changed(this, 'readmitted', `${change.reason}${what}`, method);
    }
  }

  /**
   * Called by the balancer on every rebuild. An endpoint that comes back into rotation after
   * having served before (reconnected, healthy again, re-admitted, re-weighted from 0)
   * starts its slow start now. Returns true when it just came (back) into service: into
   * rotation, or to serving (connected and healthy) even while its ejection has to run out.
   */
  noteUsability(now: number): boolean {
    const usable = this.usable;
    const serving = this.#connectedAndHealthy;
    const backInRotation = usable && !this.#wasUsable && this.everUsable;
    const intoService = serving && !this.#wasServing;
    // Slow start is for an endpoint coming back cold (restarted, healthy again, re-admitted),
    // not for a routine reconnect of a warm process (a server's max_connection_age): that
    // would cut its share every few seconds for no reason.
    const routineReconnect = this.#lostConnection && this.#lostAt !== undefined && now - this.#lostAt < RECONNECT_WAIT_MS;
    if (backInRotation && !routineReconnect) this.slowStartSince = now;
    if (usable) this.everUsable = true;
    if (usable) {
      this.#lostAt = undefined;
    } else if (this.#wasUsable) {
      this.#lostAt = now;
      this.#lostConnection = !this.connected || this.health.status === 'disconnected';
    }
    this.#wasUsable = usable;
    this.#wasServing = serving;
    return backInRotation || intoService;
  }

  update(config: EndpointConfig): void {
    this.#config = config;
  }

  /** An update removed it while it was usable: it serves on as the leaving tier. */
  markLeaving(): void {
    this.#leaving = true;
  }

  /** An update named it again while it was leaving: it stays, as if never removed. */
  markStaying(): void {
    this.#leaving = false;
  }

  /** Tries its connection again (a no-op while connecting or in backoff); not before connect(). */
  exitIdle(): void {
    if (this.#opened && !this.#destroyed) this.#leaf.exitIdle();
  }

  destroy(): void {
    this.#destroyed = true;
    for (const release of this.#releases.splice(0)) release();
    this.#leaf.destroy();
    this.#owner.destroyed(this);
  }

  snapshot(now: number): EndpointSnapshot {
    const state = this.ejection.state;
    return {
      name: this.config.name,
      address: this.address,
      weight: this.config.weight,
      effectiveWeight: this.usable ? this.effectiveWeight(now) : 0,
      priority: this.config.priority,
      connectivity: ConnectivityState[this.connectivity],
      health: this.health.status,
      healthDetail: this.health.detail,
      ejection: state.kind,
      ejectionReason: state.kind === 'admitted' ? undefined : state.reason,
      ejectedUntil: state.kind === 'ejected' ? state.until : undefined,
      usable: this.usable,
      serving: this.#connectedAndHealthy,
      status: this.status(now),
      picks: this.picks,
      ejections: this.ejections,
      healthFailures: this.#healthFailures,
      inFlight: this.inFlight,
      latencyMs: Math.round(this.latency.estimate(now) * 10) / 10,
      lastError: this.lastError,
      methods: [...this.methods.notAdmitted()].map(([method, ejection]) => ({
        method: fullMethodName(method),
        ejection: ejection.kind as 'ejected' | 'probing',
        reason: ejection.kind === 'admitted' ? '' : ejection.reason,
        ejectedUntil: ejection.kind === 'ejected' ? ejection.until : undefined,
      })),
    };
  }

  /**
   * The endpoint's state in one word, most telling first. A lost connection wins over an
   * ejection: a backend ejected before it died is down, not "probing" — no probe can reach it
   * until it is connected again (its ejection still shows in the snapshot).
   */
  status(now: number): EndpointStatus {
    const ejection = this.ejection.state.kind;
    if (this.#leaving) return 'leaving';
    if (this.connectivity !== ConnectivityState.READY) return 'disconnected';
    if (ejection === 'ejected' || ejection === 'probing') return ejection;
    if (this.health.status === 'not-serving') return 'not-serving';
    if (this.health.status === 'failed') return 'health-failing';
    if (this.health.status === 'unknown') return 'starting';
    if (this.config.weight === 0) return 'drained';
    return this.inSlowStart(now) ? 'slow-start' : 'in-rotation';
  }

  #onConnectivity(state: ConnectivityState, picker: experimental.Picker, errorMessage: string | null): void {
    const previous = this.connectivity;
    this.connectivity = state;
    this.#picker = picker;
    if (errorMessage) this.lastError = explainConnectionFailure(errorMessage, this.#owner.settings.tls, this.#owner.service);
    if (state === ConnectivityState.IDLE) {
      // Keep every endpoint connected, like round_robin: reconnect as soon as it drops.
      process.nextTick(() => this.exitIdle());
    }
    if (state === ConnectivityState.READY && previous !== state) {
      this.#owner.changed(this, 'connected', 'connection established');
    } else if (previous === ConnectivityState.READY && state !== previous) {
      this.#owner.changed(this, 'disconnected', errorMessage ?? connectionNotReady(state));
    } else {
      this.#owner.changed(this, undefined, '');
    }
  }

  #onHealth(health: EndpointHealth): void {
    if (health.status === 'failed' && this.health.status !== 'failed') this.#healthFailures++;
    const before = this.health;
    const was = isHealthy(before);
    this.health = health;
    const now = isHealthy(health);
    // A healthy endpoint's answer in other words ("Check: SERVING" after "Watch: SERVING", at
    // every probe) changes nothing a picker reads: rebuilding for it cost O(endpoints) per
    // answer, a wave of them a minute at 1,000 endpoints. Any other change rebuilds, an
    // unhealthy one's new words included (they are what a failed call is told).
    if (now && was && health.status === before.status) return;
    if (now && !was && this.ejection.expire(true)) {
      // A passing health check is a reason to try an ejected endpoint again, with one call.
      this.#owner.changed(this, 'healthy', health.detail);
      this.#owner.changed(this, 'probing', 'health check passed while ejected: the next call probes it');
      return;
    }
    this.#owner.changed(this, was === now ? undefined : now ? 'healthy' : 'unhealthy', health.detail);
  }
}
