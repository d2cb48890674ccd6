// Client-side health checking (gRPC proposal A17): grpc.health.v1 Watch on each endpoint's
// own connection, one stream per connection and service name however many channels share
// the connection, plus a Check probe with a timeout that notices a backend which keeps its
// connection open but answers nothing (hung, SIGSTOPped). The probe runs only where the
// endpoint has been silent: calls in flight and no answer (call, Watch message, probe) for
// half the probe interval, or, with nothing in flight, for the idle probe interval — so
// 1,000 endpoints at rest cost a few probes a second, not 1,000; and no more idle probes a
// second than `idleProbesPerSecond` over all the endpoints checked alike, however many.
import {
  connectivityState as ConnectivityState,
  experimental,
  Metadata,
  status as Status,
  type InterceptingListener,
  type MethodDefinition,
  type StatusObject,
} from '@grpc/grpc-js';
import type { Call } from '@grpc/grpc-js/build/src/call-interface.js';
import type { DataWatcher, SubchannelInterface } from '@grpc/grpc-js/build/src/subchannel-interface.js';
import type { Subchannel } from '@grpc/grpc-js/build/src/subchannel.js';
import { statusName } from '../call/status.js';
import { setTimer, TimerQueue, unrefTimer, type Clock, type Timed } from '../clock.js';
import { healthServiceDefinition, type HealthCheckRequest, type HealthCheckResponse } from './health-proto.js';
import { errorText } from '../errors.js';

/**
 * What health checking knows of one endpoint:
 * - `unknown`: connected, waiting for the first answer (A17: calls queue, they do not fail);
 * - `serving` / `not-serving`: the backend's own answer (SERVICE_UNKNOWN counts as not serving);
 * - `unimplemented`: the backend has no health service; treated as healthy, never re-asked;
 * - `failed`: the Watch stream broke (re-watching with backoff) or a probe timed out;
 * - `disconnected`: no connection to check over;
 * - `disabled`: health checking is off for this service; connectivity alone decides.
 */
export type HealthStatus = 'unknown' | 'serving' | 'not-serving' | 'unimplemented' | 'failed' | 'disconnected' | 'disabled';

export interface EndpointHealth {
  readonly status: HealthStatus;
  readonly detail: string;
}

export interface HealthCheckSettings {
  readonly serviceName: string;
  /** Silence, with calls in flight, after which a Check probe goes out; 0 turns probing off. */
  readonly probeIntervalMs: number;
  readonly probeTimeoutMs: number;
  /** Silence, with no call in flight, after which a probe goes out; 0: none while idle. */
  readonly idleProbeIntervalMs: number;
  /**
   * The most idle probes a second over every connection checked with these settings: with
   * more connections than idleProbeIntervalMs allows at that rate, each idle period stretches.
   */
  readonly idleProbesPerSecond: number;
  /** Drives the probe period and the re-watch backoff. */
  readonly clock: Clock;
  /** Random numbers in [0, 1) for where probes fall in their period. Default Math.random. */
  readonly random?: () => number;
}

/**
 * Re-watch backoff after a broken Watch stream (A17: the connection backoff of gRPC, here
 * starting at 200 ms and capped at 5 s): delay n is min(cap, 200 · 1.6^n), ±20 % jitter.
 */
export const REWATCH_BACKOFF = Object.freeze({ initialMs: 200, multiplier: 1.6, maxMs: 5000, jitter: 0.2 });

export function rewatchDelay(retries: number, random: () => number = Math.random): number {
  const { initialMs, multiplier, maxMs, jitter } = REWATCH_BACKOFF;
  const base = Math.min(maxMs, initialMs * multiplier ** retries);
  return base * (1 - jitter + 2 * jitter * random());
}

/** Whether an endpoint in this health state may take calls. */
export function isHealthy(health: EndpointHealth): boolean {
  return health.status === 'serving' || health.status === 'unimplemented' || health.status === 'disabled';
}

/**
 * Why an endpoint's connection is not ready, in words: grpc-js moves a subchannel whose
 * connection ended to IDLE, which read "connection IDLE" to an operator.
 */
export function connectionNotReady(state: ConnectivityState): string {
  const words: Record<ConnectivityState, string> = {
    [ConnectivityState.IDLE]: 'connection closed',
    [ConnectivityState.CONNECTING]: 'connecting',
    [ConnectivityState.READY]: 'connected',
    [ConnectivityState.TRANSIENT_FAILURE]: 'connection failed',
    [ConnectivityState.SHUTDOWN]: 'connection shut down',
  };
  return `${words[state]} (grpc-js subchannel ${ConnectivityState[state]})`;
}

type HealthListener = (health: EndpointHealth) => void;

/**
 * Wraps a subchannel so that its health is watched. `getWrappedSubchannel` gives back the
 * subchannel underneath, which is what a picker must return.
 */
export class HealthCheckedSubchannel extends experimental.BaseSubchannelWrapper {
  readonly #watcher: HealthWatcher;

  constructor(child: SubchannelInterface, settings: HealthCheckSettings, listener: HealthListener) {
    super(child);
    this.#watcher = new HealthWatcher(settings, listener);
    this.addDataWatcher(this.#watcher);
  }

  getWrappedSubchannel(): SubchannelInterface {
    return this.child;
  }

  /** A call went out on this connection. */
  callStarted(): void {
    this.#watcher.producer?.callStarted();
  }

  /** A call on it ended; `answered` when its status is evidence the backend is alive. */
  callEnded(answered: boolean): void {
    this.#watcher.producer?.callEnded(answered);
  }
}

class HealthWatcher implements DataWatcher {
  #producer: HealthProducer | undefined;

  get producer(): HealthProducer | undefined {
    return this.#producer;
  }

  constructor(
    readonly settings: HealthCheckSettings,
    readonly listener: HealthListener,
  ) {}

  setSubchannel(subchannel: Subchannel): void {
    const { serviceName, probeIntervalMs, probeTimeoutMs, idleProbeIntervalMs, idleProbesPerSecond } = this.settings;
    const key = `grpc-meshlite.health:${serviceName}:${probeIntervalMs}:${probeTimeoutMs}:${idleProbeIntervalMs}:${idleProbesPerSecond}`;
    this.#producer = subchannel.getOrCreateDataProducer(
      key,
      (real) => new HealthProducer(real, key, this.settings),
    ) as unknown as HealthProducer;
    this.#producer.addDataWatcher(this);
  }

  destroy(): void {
    this.#producer?.removeDataWatcher(this);
    this.#producer = undefined;
  }
}

/**
 * How many connections are checked with each settings key (a producer each), which the idle
 * period is stretched by: one count per process, as the CPU the probes cost is the process's.
 */
const producersByKey = new Map<string, number>();

/** Idle looks are due on multiples of this (ms since the epoch, see #scheduleProbe). */
const IDLE_GRID_MS = 1000;

/**
 * The idle looks of every endpoint on a clock, on one timer that never holds the process: a
 * timer each would cost each endpoint a Timeout and, due on whole seconds at a different
 * delay each, a Node timer list of its own (0.6 KiB an endpoint).
 */
const idleLookQueues = new WeakMap<Clock, TimerQueue>();

function idleLooks(clock: Clock): TimerQueue {
  let queue = idleLookQueues.get(clock);
  if (queue === undefined) idleLookQueues.set(clock, (queue = new TimerQueue(clock, { holdsProcess: false })));
  return queue;
}

/**
 * One Watch stream (and probe) per connection and settings, shared by every watcher; queued
 * (Timed) in its clock's idle looks while its next look is an idle one.
 */
class HealthProducer implements Timed {
  readonly #subchannel: Subchannel;
  readonly #key: string;
  readonly #settings: HealthCheckSettings;
  /** Nearly always one: an array is a quarter of a Set's memory. */
  readonly #watchers: HealthWatcher[] = [];
  readonly #idleLooks: TimerQueue;
  /** Timed (the idle-look queue's). */
  dueAt = 0;
  timedPrev: Timed | undefined = undefined;
  timedNext: Timed | undefined = undefined;
  /** The pending re-watch, and how many re-watches came without an answer in between. */
  #rewatch: unknown;
  #rewatchRetries = 0;
  #health: EndpointHealth = { status: 'disconnected', detail: 'not connected yet' };
  #watch: WatchStream | undefined;
  #probeTimer: unknown;
  /** When the pending probe check fires (clock time). */
  #probeAt = Infinity;
  #probe: { cancel(): void } | undefined;
  /** Last word from the backend: a Watch message, a probe's answer, a call it answered. */
  #lastHeard = 0;
  #inFlight = 0;
  #doubtful = false;
  #unimplemented = false;
  /** The first idle look after a connection comes at a random point of the period (see #scheduleProbe). */
  #spread = false;
  /** The last look was scheduled while calls were in flight (see #scheduleProbe). */
  #wasBusy = false;
  /** The silence, with nothing in flight, that makes the pending look probe. */
  #idleDue = 0;

  constructor(subchannel: Subchannel, key: string, settings: HealthCheckSettings) {
    this.#subchannel = subchannel;
    this.#key = key;
    this.#settings = settings;
    this.#idleLooks = idleLooks(settings.clock);
    producersByKey.set(key, (producersByKey.get(key) ?? 0) + 1);
    subchannel.addConnectivityStateListener(this.#onConnectivity);
  }

  addDataWatcher(watcher: HealthWatcher): void {
    if (this.#watchers.includes(watcher)) return;
    this.#watchers.push(watcher);
    if (this.#watchers.length === 1) this.#onConnectivity();
    else watcher.listener(this.#health);
  }

  removeDataWatcher(watcher: HealthWatcher): void {
    const index = this.#watchers.indexOf(watcher);
    if (index >= 0) this.#watchers.splice(index, 1);
    if (this.#watchers.length > 0) return;
    this.#stop();
    this.#subchannel.removeConnectivityStateListener(this.#onConnectivity);
    this.#subchannel.removeDataProducer(this.#key);
    const left = (producersByKey.get(this.#key) ?? 1) - 1;
    if (left > 0) producersByKey.set(this.#key, left);
    else producersByKey.delete(this.#key);
    // The connection's own channel, which the Watch and the probes used (a closed grpc-js Client
    // over it did this before): its channelz entry goes with it.
    this.#subchannel.getChannel().close();
  }

  readonly #onConnectivity = (): void => {
    if (this.#subchannel.getConnectivityState() === ConnectivityState.READY) {
      if (this.#watch || this.#unimplemented || this.#rewatch !== undefined) return;
      this.#publish({ status: 'unknown', detail: 'waiting for the first health answer' });
      this.#heard();
      this.#startWatch();
      this.#spread = true;
      this.#scheduleProbe();
    } else {
      this.#stop();
      this.#rewatchRetries = 0;
      this.#unimplemented = false;
      this.#publish({ status: 'disconnected', detail: connectionNotReady(this.#subchannel.getConnectivityState()) });
    }
  };

  #startWatch(): void {
    if (this.#subchannel.getConnectivityState() !== ConnectivityState.READY || this.#watchers.length === 0) return;
    this.#watch = new WatchStream(this.#subchannel, this.#settings.serviceName, this);
  }

  /** The Watch stream's answer. */
  watchAnswered(watch: WatchStream, response: HealthCheckResponse): void {
    if (this.#watch !== watch) return;
    // A17: an answer resets the backoff.
    this.#rewatchRetries = 0;
    this.#heard();
    this.#publishAnswer(response, 'Watch');
  }

  /** The Watch stream ended (an OK status: the server ended it). */
  watchEnded(call: WatchStream, code: Status, received: string): void {
    if (this.#watch !== call) return; // we cancelled it ourselves
    const details = code === Status.OK ? 'stream ended by the server' : received;
    this.#watch = undefined;
    if (code === Status.UNIMPLEMENTED) {
      this.#unimplemented = true;
      this.#stopProbe();
      this.#publish({ status: 'unimplemented', detail: 'no grpc.health.v1 service: treated as healthy' });
      return;
    }
    this.#publish({ status: 'failed', detail: `health Watch ended with ${statusName(code)}: ${details}; re-watching` });
    const { clock } = this.#settings;
    const delay = rewatchDelay(this.#rewatchRetries++);
    this.#rewatch = unrefTimer(
      setTimer(
        clock,
        () => {
          this.#rewatch = undefined;
          this.#startWatch();
        },
        delay,
      ),
    );
  }

  callStarted(): void {
    this.#inFlight++;
    if (this.#inFlight === 1) this.#lookSoon();
  }

  callEnded(answered: boolean): void {
    this.#inFlight = Math.max(0, this.#inFlight - 1);
    if (answered) {
      this.#heard();
    } else if (!this.#doubtful) {
      // Cancelled or timed out with no word from the backend: worth a look even if no call follows.
      this.#doubtful = true;
      this.#lookSoon();
    }
  }

  #heard(): void {
    this.#lastHeard = this.#settings.clock.now();
    this.#doubtful = false;
  }

  /** From idle to busy: the next look at the silence comes within half the probe interval. */
  #lookSoon(): void {
    if (this.#probeAt - this.#settings.clock.now() > this.#settings.probeIntervalMs / 2) this.#scheduleProbe();
  }

  /** Calls in flight, or calls that ended without a word since the backend last spoke. */
  get #busy(): boolean {
    return this.#inFlight > 0 || this.#doubtful;
  }

  /**
   * The silence, with nothing in flight, after which this endpoint is probed: the configured
   * idle period, stretched so that all the connections checked alike probe no more than
   * idleProbesPerSecond together (1,000 endpoints at 2 a second: each every 500 s on average).
   */
  get #idlePeriod(): number {
    const { idleProbeIntervalMs, idleProbesPerSecond } = this.#settings;
    if (idleProbeIntervalMs <= 0) return 0;
    // Looks fall at 80-100 % of the period, 90 % on average: that average meets the rate.
    return Math.max(idleProbeIntervalMs, (1000 * (producersByKey.get(this.#key) ?? 1)) / idleProbesPerSecond / 0.9);
  }

  /** The next look at how long the endpoint has been silent (jittered, so probes spread out). */
  #scheduleProbe(): void {
    const { probeIntervalMs, clock } = this.#settings;
    this.#cancelLook();
    if (probeIntervalMs <= 0 || this.#probe || this.#unimplemented) return;
    const busy = this.#busy;
    // Turning idle after traffic is like connecting: every endpoint that served it was heard
    // at about the same moment, and would fall silent for the period together (see below).
    if (!busy && this.#wasBusy) this.#spread = true;
    this.#wasBusy = busy;
    const idlePeriod = this.#idlePeriod;
    const period = busy ? probeIntervalMs / 2 : idlePeriod;
    if (period <= 0) return;
    // Jittered in 2 % steps of the period: Node keeps one timer list per distinct delay, and
    // 1,000 busy endpoints with a delay each would keep 1,000 lists. (Idle looks end on whole
    // seconds below instead, in the clock's idle-look queue: no Node timer of their own.)
    const step = period / 50;
    const random = this.#settings.random ?? Math.random;
    let delay = step * Math.round(40 + 10 * random());
    this.#idleDue = 0.8 * idlePeriod;
    if (!busy && this.#spread) {
      // Endpoints that connected (or went idle after traffic) together would look at 80-100 %
      // of the period together, and go on probing in a wave (1,000 probes in 12 s, once a
      // minute). The first idle look after a connection, or after calls stop, falls anywhere in
      // the period (drawn to 10 ms, not on the 2 % steps, which at a stretched period are
      // seconds apart: the looks after it keep its phase, so endpoints on those steps would
      // probe in bursts) and probes after that much silence; the 80-100 % steps from there
      // keep the spread.
      this.#spread = false;
      delay = 10 * Math.max(1, Math.round((period / 10) * (1 - random())));
      this.#idleDue = 0.8 * delay;
    }
    if (busy) {
      this.#probeAt = clock.now() + delay;
      this.#probeTimer = unrefTimer(setTimer(clock, this.#look, delay));
      return;
    }
    // Idle looks fall on whole seconds of the clock, so that the few due in a second share one
    // wake-up of the process: on an idle machine each wake-up costs more than the probe.
    this.#probeAt = Math.ceil((clock.now() + delay) / IDLE_GRID_MS) * IDLE_GRID_MS;
    this.#idleLooks.schedule(this, this.#probeAt);
  }

  /** Timed: an idle look is due. */
  fire(): void {
    this.#look();
  }

  #cancelLook(): void {
    this.#settings.clock.clearTimeout(this.#probeTimer);
    this.#probeTimer = undefined;
    this.#idleLooks.cancel(this);
    this.#probeAt = Infinity;
  }

  readonly #look = (): void => {
    this.#probeTimer = undefined;
    this.#probeAt = Infinity;
    const { probeIntervalMs, idleProbeIntervalMs, clock } = this.#settings;
    const silentMs = clock.now() - this.#lastHeard;
    const due = this.#busy ? silentMs >= probeIntervalMs / 2 : idleProbeIntervalMs > 0 && silentMs >= this.#idleDue;
    if (due) this.#runProbe();
    else this.#scheduleProbe();
  };

  #runProbe(): void {
    if (this.#unimplemented || this.#subchannel.getConnectivityState() !== ConnectivityState.READY) return;
    const timeoutMs = this.#settings.probeTimeoutMs;
    const sentAt = performance.now();
    const call = checkCall(this.#subchannel, this.#settings.serviceName, timeoutMs, (error, response) => {
      if (this.#probe !== call) return;
      this.#probe = undefined;
      if (!error || error.code === Status.NOT_FOUND) this.#heard();
      if (!error) this.#publishAnswer(response!, 'Check');
      else if (error.code === Status.NOT_FOUND) this.#publish({ status: 'not-serving', detail: `Check: ${this.#unknownService()}` });
      else if (error.code === Status.DEADLINE_EXCEEDED) {
        // After the event loop was held (the app's own work, a long GC), Node runs the expired
        // deadline timer before the answer already in the socket: a timeout that fired late by
        // more than its own length is no evidence against the backend. The next look decides.
        if (performance.now() - sentAt <= 2 * timeoutMs) {
          this.#publish({ status: 'failed', detail: `health probe got no answer within ${timeoutMs} ms` });
        }
      } else if (error.code !== Status.UNIMPLEMENTED && error.code !== Status.CANCELLED) {
        this.#publish({ status: 'failed', detail: `health probe failed with ${statusName(error.code)}` });
      }
      this.#scheduleProbe();
    });
    this.#probe = call;
  }

  #publishAnswer(response: HealthCheckResponse, via: string): void {
    if (response.status === 'SERVING') this.#publish({ status: 'serving', detail: `${via}: SERVING` });
    else if (response.status === 'SERVICE_UNKNOWN') this.#publish({ status: 'not-serving', detail: `${via}: ${this.#unknownService()}` });
    else this.#publish({ status: 'not-serving', detail: `${via}: ${response.status}` });
  }

  /** SERVICE_UNKNOWN, naming what was asked for: most often a typo in healthCheck.serviceName. */
  #unknownService(): string {
    const name = this.#settings.serviceName;
    return `SERVICE_UNKNOWN: the server has no health status for ${name === '' ? 'the whole server ("")' : `"${name}"`} (healthCheck.serviceName)`;
  }

  #publish(health: EndpointHealth): void {
    if (health.status === this.#health.status && health.detail === this.#health.detail) return;
    this.#health = health;
    for (const watcher of this.#watchers) watcher.listener(health);
  }

  #stopProbe(): void {
    this.#cancelLook();
    const probe = this.#probe;
    this.#probe = undefined;
    probe?.cancel();
  }

  #stop(): void {
    const watch = this.#watch;
    this.#watch = undefined;
    watch?.cancel();
    this.#settings.clock.clearTimeout(this.#rewatch);
    this.#rewatch = undefined;
    this.#stopProbe();
  }
}

const WATCH = healthServiceDefinition['Watch'] as MethodDefinition<HealthCheckRequest, HealthCheckResponse>;
const CHECK = healthServiceDefinition['Check'] as MethodDefinition<HealthCheckRequest, HealthCheckResponse>;

/**
 * A grpc.health.v1 call on the connection's own channel, its request sent and half-closed and
 * its first read asked for, as grpc-js's bottom call makes one: no grpc-js Client per endpoint.
 */
function healthCall(
  subchannel: Subchannel,
  method: MethodDefinition<HealthCheckRequest, HealthCheckResponse>,
  deadline: number,
  service: string,
  listener: InterceptingListener,
): Call {
  const call = subchannel.getChannel().createCall(method.path, deadline, undefined, null, undefined);
  call.start(new Metadata(), listener);
  call.sendMessageWithContext({}, method.requestSerialize({ service }));
  call.halfClose();
  call.startRead();
  return call;
}

/**
 * One Check probe (healthCall): a grpc-js Client per endpoint would cost every endpoint a
 * client object, its credentials and interceptor arrays for a probe that idle endpoints send
 * once a period and busy ones seldom.
 */
function checkCall(
  subchannel: Subchannel,
  service: string,
  timeoutMs: number,
  done: (error: { code: Status; details: string } | undefined, response?: HealthCheckResponse) => void,
): { cancel(): void } {
  let response: HealthCheckResponse | undefined;
  let unreadable: string | undefined;
  const call = healthCall(subchannel, CHECK, Date.now() + timeoutMs, service, {
    onReceiveMetadata: () => {},
    onReceiveMessage: (bytes: Buffer) => {
      try {
        response = CHECK.responseDeserialize(bytes);
      } catch (error) {
        unreadable = `health Check answer unreadable: ${errorText(error)}`;
        call.cancelWithStatus(Status.INTERNAL, unreadable);
      }
    },
    onReceiveStatus: (status) => {
      if (unreadable !== undefined) done({ code: Status.INTERNAL, details: unreadable });
      else if (status.code !== Status.OK) done({ code: status.code, details: status.details });
      else if (response === undefined) done({ code: Status.INTERNAL, details: 'health Check answered OK without a message' });
      else done(undefined, response);
    },
  });
  return { cancel: () => call.cancelWithStatus(Status.CANCELLED, 'health probe stopped') };
}

/**
 * One Watch stream, as a call straight on the connection's own channel and its own listener: a
 * client's readable stream and interceptor calls around it would be most of its memory, and
 * with 1,000 endpoints there are 1,000 of them for the life of the process.
 */
class WatchStream implements InterceptingListener {
  readonly #call: Call;
  readonly #producer: HealthProducer;
  #ended = false;

  constructor(subchannel: Subchannel, service: string, producer: HealthProducer) {
    this.#producer = producer;
    this.#call = healthCall(subchannel, WATCH, Infinity, service, this);
  }

  onReceiveMetadata(): void {}

  onReceiveMessage(bytes: Buffer): void {
    let response: HealthCheckResponse;
    try {
      response = WATCH.responseDeserialize(bytes);
    } catch (error) {
      this.cancel(Status.INTERNAL, `health Watch answer unreadable: ${errorText(error)}`);
      return;
    }
    this.#producer.watchAnswered(this, response);
    if (!this.#ended) this.#call.startRead();
  }

  onReceiveStatus(status: StatusObject): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#producer.watchEnded(this, status.code, status.details);
  }

  cancel(code: Status = Status.CANCELLED, details = 'health Watch stopped'): void {
    this.#call.cancelWithStatus(code, details);
  }
}
