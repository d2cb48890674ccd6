import type { CallOptions, Metadata, StatusObject, status as Status } from '@grpc/grpc-js';
import type { CancelSignal } from '../call/cancellation.js';
import type { MethodInfo } from '../call/method.js';
import type { Fallback, RoutingHint } from '../call/routing-hint.js';
import type { RetryPolicy } from './retry/policy.js';

export type { MethodInfo, MethodKind } from '../call/method.js';

/** Where a server stream's messages go as they arrive (before the call has finished). */
export interface ResponseSink {
  headers(metadata: Metadata): void;
  message(message: unknown): void;
}

/**
 * One call as it travels through the client layers. Layers never mutate a call: they pass a
 * copy with the fields they change: `deriveCall(call, { deadline })`.
 */
export interface ClientCall {
  readonly method: MethodInfo;
  /** The single request message (unary and server streaming). */
  readonly message: unknown;
  readonly metadata: Metadata;
  /** Whole-call deadline, epoch ms; Infinity when there is none. */
  readonly deadline: number;
  /** Aborted when the caller cancels, an attempt times out or a hedge sibling won: the attempt must end at once. */
  readonly signal: CancelSignal;
  /** Server-stream messages go here; unary responses come back in ClientResult.message. */
  readonly sink: ResponseSink;
  /** For the mesh picker: endpoints to avoid, and where the attempt went (see RoutingHint). */
  readonly hint: RoutingHint | undefined;
  /** The route the call took (the route layer matched it once), for the layers below; undefined: none. */
  readonly route: CallRoute | undefined;
  /**
   * How an attempt of this call is sent, under the innermost layer: set by whoever made the
   * call (the grpc-js adapter, the nice-grpc middleware). The layers are composed once, with
   * `dispatch` at the bottom, instead of once per call.
   */
  readonly transport: ClientNext;
  /**
   * The grpc-js call the attempts go out on, when the grpc-js adapter made the call: its
   * `transport` then sends them there, and the stack's callback form (ClientSend) does so
   * without a promise. Undefined for calls made elsewhere (nice-grpc, tests).
   */
  readonly via?: AttemptChannel | undefined;
  /** The grpc-js call options the caller passed (host, credentials, parent, ...). */
  readonly callOptions: Readonly<CallOptions>;
  /** The call's span (the tracing layer's), for its attempts and log lines; undefined: not traced. */
  readonly trace: CallTrace | undefined;
  /** Which attempt of the call this is (the retry layer's); undefined: the first, or no retry layer. */
  readonly attempt: AttemptInfo | undefined;
}

/** How an attempt came to be sent: the call's first, after a failure or a cut, or beside a running one. */
export type AttemptKind = 'first' | 'retry' | 'hedge';

/** One attempt of a call, as the retry layer sends it: the transport and the attempt's span read it. */
export interface AttemptInfo {
  /** 1 for the call's first attempt. */
  readonly index: number;
  readonly kind: AttemptKind;
  /** Cut by its per-attempt timeout. */
  readonly timedOut: boolean;
  /** Lost to another attempt: the call ended without it (a hedge sibling won, or the call ended), and it was cancelled. */
  readonly lost: boolean;
}

/** ClientCall.trace: the span of the whole call, which each attempt's span is a child of. */
export interface CallTrace {
  /** The trace's id (32 hex digits), for log lines. */
  readonly traceId: string;
  /** Starts the span of one attempt of the call (`call` is the attempt, as the transport gets it). */
  startAttempt(call: ClientCall): AttemptTrace;
}

/** The span of one attempt, as the transport reports what happens to it. */
export interface AttemptTrace {
  /** Writes the attempt's span context into its outgoing metadata (a copy of the call's). */
  inject(metadata: Metadata): void;
  /** The request went out (`size` in bytes, when known). */
  sent(size: number | undefined): void;
  /** A response message arrived (`size` in bytes, when known). */
  received(size: number | undefined): void;
  /** The attempt ended with `status`, having reached `peer` (if it left the client). Once; later calls do nothing. */
  end(status: StatusObject, peer: string | undefined): void;
}

/**
 * A route's action as the client layers read it: `services.<s>.routes[]` of the mesh config
 * (src/config/traffic.ts) has this shape. Written here, not imported, so that the layers depend
 * on no config or balancer code.
 */
export interface RouteAction {
  readonly destinations?: ReadonlyArray<{ readonly subset: string; readonly weight: number }> | undefined;
  readonly fallback: Fallback;
  /** The whole-call deadline of the route's calls, in place of the client's configured one. */
  readonly timeoutMs?: number | undefined;
  /** Merged over the client's retry policy for the method. */
  readonly retry?: RetryPolicy | undefined;
  /** gRPC A33's fault injection, per attempt: first the delay, then the abort. */
  readonly fault?:
    | {
        readonly delay?: { readonly ms: number; readonly percent: number } | undefined;
        readonly abort?: { readonly code: number; readonly percent: number } | undefined;
      }
    | undefined;
  /** A copy of `percent` of the calls goes to `subset`; its answer is dropped. */
  readonly mirror?: { readonly subset: string; readonly percent: number } | undefined;
}

/** One route, ready for calls (the mesh's compiled routes, balancer/routes.ts, are such). */
export interface MatchedRoute {
  readonly name: string;
  readonly config: RouteAction;
  /** The next destination subset of the route's split; undefined: the whole service. */
  chooseSubset(): string | undefined;
}

/** A service's routes in force: the first that a call's method and metadata meet, or undefined. */
export interface RouteMatcher {
  match(path: string, metadata: Metadata): MatchedRoute | undefined;
}

/**
 * ClientCall.route: the route one call took, and what its attempts learned: a subset on which
 * the route's fault failed an attempt stands for a broken one, and the call's later attempts go
 * to another destination, where the fault does not follow them (while the route has one).
 */
export interface CallRoute {
  readonly route: MatchedRoute;
  /** The subset the next attempt goes to: the route's split, steering clear of faulted subsets while another destination remains. */
  nextSubset(): string | undefined;
  /** Whether an attempt to `subset` meets the route's fault: not once an earlier fault sent the call elsewhere. */
  meetsFault(subset: string | undefined): boolean;
  /** The route's fault failed an attempt on its way to `subset`. */
  faulted(subset: string | undefined): void;
}

/** What one attempt did; the logging layer turns these into per-attempt debug lines. */
export interface AttemptRecord {
  readonly code: Status;
  /** The endpoint the attempt reached, if it left the client. */
  readonly peer: string | undefined;
  /** False only when the attempt provably never left the client (no pick, no headers). */
  readonly mayHaveReachedServer: boolean;
  /** When it started, on `performance.now()`'s time line. */
  readonly startedAt: number;
  readonly durationMs: number;
  readonly hedge?: boolean;
  /**
   * Request and response message bytes, as serialized (A66's message sizes; grpc-js compresses
   * below, when compression is on, so these are the sizes before it). Set when the attempt went
   * straight to the channel (the stack is the client's last interceptor), which serializes them.
   */
  readonly sentBytes?: number;
  readonly receivedBytes?: number;
}

/**
 * How a call ended. Failures are statuses, never exceptions: a layer's `next` promise
 * always resolves.
 */
export interface ClientResult {
  readonly status: StatusObject;
  readonly headers: Metadata | undefined;
  /** The unary response message, when status is OK. */
  readonly message: unknown;
  /** Endpoint that produced the final status, if any. */
  readonly peer: string | undefined;
  /** Every attempt made, in order. Empty when the call never reached the transport. */
  readonly attempts: readonly AttemptRecord[];
}

/** Sends a call one layer further in and resolves with how it ended. */
export type ClientNext = (call: ClientCall) => Promise<ClientResult>;

/** Where a call's result goes in the callback form of the layers. */
export type ClientDone = (result: ClientResult) => void;

/**
 * ClientNext's callback form: sends a call one layer further in and calls `done` once with how
 * it ended — never before the send has returned (a result known at once is handed on in a
 * microtask), never with an exception. The layers the toolkit ships take this form too (their
 * `send`), so that a stack of them costs no promise per layer per call.
 */
export type ClientSend = (call: ClientCall, done: ClientDone) => void;

/** A layer's callback form: the same layer, over a `ClientSend`. */
export type SendLayer = (next: ClientSend) => ClientSend;

/**
 * A client-side layer in the connect-es style: it receives the next layer and returns the
 * function that takes its place. A retry is a loop around `next`, a breaker a check before it.
 * The server side has the same shape (ServerLayer).
 *
 * @example
 *   const timing: ClientLayer = (next) => async (call) => {
 *     const started = Date.now();
 *     const result = await next(call);
 *     console.log(call.method.path, Date.now() - started, 'ms');
 *     return result;
 *   };
 */
export type ClientLayer = ((next: ClientNext) => ClientNext) & {
  /**
   * The same layer in callback form, when it has one (the toolkit's layers do). A stack whose
   * layers all have it runs calls without a promise per layer; a layer without it (yours) is
   * bridged with one promise per call, and behaves exactly as its promise form.
   */
  readonly send?: SendLayer;
};

/** What the transport needs of the grpc-js call it serves. */
export interface AttemptChannel {
  /**
   * Starts a new attempt of `call` on the channel, with the caller's options, the call's
   * deadline and `metadata`, `call.hint` carried to the mesh's picker: it sends the request,
   * half-closes, and from then on the caller's reads and peer come from it.
   */
  open(call: ClientCall, metadata: Metadata, listener: AttemptListener): AttemptHandle;
  /**
   * Turns a response message as the attempt receives it into what the caller gets: undefined
   * when attempts come back decoded (through grpc-js's interceptor chain), the method's
   * deserializer when they go straight to the channel.
   */
  readonly decode: ((message: Buffer) => unknown) | undefined;
  readonly streaming: boolean;
  /** The size of `message` as the attempt sent it serialized, when it went straight to the channel. */
  requestBytes?(message: unknown): number | undefined;
  /**
   * Runs `task(value)` in the async context (AsyncLocalStorage) the caller made the call in:
   * how an attempt's end reaches the layers above, and how the retry engine's timers (shared
   * by every call on a clock) act for this call, rather than in the context of the connection
   * or of whichever call set the timer.
   */
  inCallerContext<T>(task: (value: T) => void, value: T): void;
}

/** What hears one attempt's events (grpc-js's InterceptingListener has this shape; the transport is one). */
export interface AttemptListener {
  onReceiveMetadata(metadata: Metadata): void;
  onReceiveMessage(message: unknown): void;
  onReceiveStatus(status: StatusObject): void;
}

/** The part of a started attempt the transport uses (what grpc-js's calls offer). */
export interface AttemptHandle {
  cancelWithStatus(code: Status, details: string): void;
  getPeer(): string;
}

/** The bottom of a composed stack: sends the attempt the way the call says (ClientCall.transport). */
export const dispatch: ClientNext = (call) => call.transport(call);
