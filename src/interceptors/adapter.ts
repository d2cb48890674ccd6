// Where grpc-js's callback-based client interceptor machinery meets our `(next) => next`
// layers: a grpc-js call on the outside, the layer chain inside, and the transport
// (transport.ts) at the bottom. Nothing else in the toolkit touches grpc-js's calls.
import {
  InterceptingCall,
  Metadata,
  status as Status,
  type Requester,
  type Interceptor as GrpcInterceptor,
  type InterceptingListener,
  type InterceptorOptions,
  type MethodDefinition,
  type NextCall,
  type StatusObject,
} from '@grpc/grpc-js';
import { AsyncResource } from 'node:async_hooks';
import type { Call } from '@grpc/grpc-js/build/src/call-interface.js';
import type { Channel } from '@grpc/grpc-js/build/src/channel.js';
import type { InterceptingCallInterface } from '@grpc/grpc-js/build/src/client-interceptors.js';
import { Cancellation } from '../call/cancellation.js';
import { deadlineMs } from '../call/deadline.js';
import { methodCache, type MethodInfo } from '../call/method.js';
import { RoutingHint, startWithRoutingHint, withoutRoutingHint, withRoutingHint, type HintDestination } from '../call/routing-hint.js';
import { makeStatus } from '../call/status.js';
import { DROP_RESPONSES, layerFailure } from './call.js';
import { methodLookup, type MethodTable } from '../call/method-table.js';
import { leadingForms, observed, soon, type CallGuard, type CallObserver, type CallPrelude, type OwnCall } from './send.js';
import { dispatchSend, sendVia } from './transport.js';
import type { AttemptChannel, AttemptHandle, ClientCall, ClientLayer, ClientResult, ClientSend, ResponseSink } from './types.js';

/**
 * Turns our layers into one grpc-js client interceptor, usable with any client on any target:
 * `new Client(target, creds, { interceptors: [toGrpcInterceptor(layer)] })`.
 *
 * Unary and server-streaming calls run through the layers. Client-streaming and bidi calls
 * pass through untouched: their requests cannot be replayed, so no layer could retry them.
 */
export function toGrpcInterceptor(layer: ClientLayer, options: AdapterOptions = {}): GrpcInterceptor {
  const methodOf = methodCache();
  const waitsForReady = methodLookup(options.waitForReady, false);
  // The observers at the top of the stack (call stats, logging) run from the call object, the
  // layers right under them that only ready a call (route, deadline) ready the one it makes,
  // and the closed breaker under those counts its outcome from it.
  const { observers, preludes, guard, below } = leadingForms(layer);
  const { all, admitted } = below(dispatchSend);
  const stack: Stack = { send: all, observers, preludes, guard, admitted };
  const routeStream = options.streamDestination;
  const interceptor: GrpcInterceptor = (callOptions, nextCall) => {
    const definition = callOptions.method_definition;
    // grpc-js drives whatever an interceptor returns through InterceptingCallInterface only;
    // returning our call itself, not an InterceptingCall around it, saves a call object and
    // its listener closures per call.
    if (definition.requestStream) {
      const call = nextCall(callOptions) as InterceptingCall;
      return routeStream ? new InterceptingCall(call, routedStream(definition.path, routeStream)) : call;
    }
    const method = methodOf(definition.path, definition.requestStream, definition.responseStream);
    const mark = (definition as { [INNERMOST]?: InnermostMark })[INNERMOST];
    const channel = mark?.interceptor === interceptor ? mark.channel : undefined;
    const call = new LayeredCall(method, callOptions, nextCall, stack, waitsForReady(method), channel);
    return call as unknown as InterceptingCall;
  };
  return interceptor;
}

/**
 * The property of a call's method definition (the interceptors' `method_definition` call
 * option) under which mesh.client() tells a stack's interceptor that it is the last
 * interceptor of this call (its call transformer sees the call's final interceptor list and
 * channel). The attempts then go straight to the channel, as grpc-js's own bottom call does,
 * instead of through another interceptor call per attempt. Without the mark — the stack's
 * interceptors on a client of the user's, or followed by another interceptor — they go on
 * through grpc-js.
 */
export const INNERMOST = Symbol('grpc-meshlite innermost interceptor');

export interface InnermostMark {
  /** The interceptor the mark is for: the last of the call's. */
  readonly interceptor: GrpcInterceptor;
  /** The call's channel, as grpc-js would build its bottom call on it. */
  readonly channel: Channel;
}

export interface AdapterOptions {
  /**
   * Methods whose calls wait for a ready endpoint (grpc-js `waitForReady`) although their
   * metadata does not say so, keyed like a service config's names: "pkg.Service/Method",
   * "pkg.Service" or "*". The layers and grpc-js then see it on the call's metadata.
   */
  waitForReady?: MethodTable<boolean>;
  /**
   * Where a client- or bidi-streaming call goes (a route's destination), for the mesh's picker;
   * such calls pass the layers by, so the adapter puts it in their routing hint. Default: none.
   */
  streamDestination?: (path: string, metadata: Metadata) => HintDestination | undefined;
}

/** A streaming call's requester: its metadata carries a hint with its route's destination while it runs. */
function routedStream(path: string, destinationOf: (path: string, metadata: Metadata) => HintDestination | undefined): Requester {
  return {
    start(metadata, listener, next) {
      const destination = destinationOf(path, metadata);
      if (destination === undefined) return next(metadata, listener);
      const hint = RoutingHint.create();
      hint.routeTo(destination);
      next(withRoutingHint(metadata, hint), {
        onReceiveStatus(status, nextStatus) {
          hint.release();
          nextStatus(status);
        },
      });
    },
  };
}

/** What runs a call: the observers, preludes and guard the adapter runs itself (outermost first), and the layers below them. */
interface Stack {
  /** The layers below the preludes, the guard's included. */
  readonly send: ClientSend;
  readonly observers: readonly CallObserver[];
  readonly preludes: readonly CallPrelude[];
  readonly guard: CallGuard | undefined;
  /** The layers below the guard's, for the calls it admits (`send` without a guard). */
  readonly admitted: ClientSend;
}

/** A call's listener until grpc-js starts it with one (one object for all calls, not one per call). */
const NO_LISTENER: Partial<InterceptingListener> = Object.freeze({});

/** The message context of every attempt's request: grpc-js reads its flags and callback, never writes it. */
const NO_CONTEXT = Object.freeze({});

/** An attempt's grpc-js call: the next interceptor's, or the channel's own. */
type AttemptCall = InterceptingCallInterface | Call;

/**
 * Server-streaming flow control across attempts: the caller asks for one message at a time
 * (startRead); the request is forwarded to whichever attempt is current, including one that
 * starts after the request was made.
 */
class ReadFlow {
  #wanted = false;
  #call: AttemptCall | undefined;

  attach(call: AttemptCall): void {
    this.#call = call;
    if (this.#wanted) call.startRead();
  }

  request(): void {
    this.#wanted = true;
    this.#call?.startRead();
  }

  delivered(): void {
    this.#wanted = false;
  }
}

/** A server stream nobody reads (a mirror): each message asks for the next, until the status. */
class ReadThrough implements InterceptingListener {
  readonly #listener: InterceptingListener;
  #call: AttemptCall | undefined;

  constructor(listener: InterceptingListener) {
    this.#listener = listener;
  }

  attach(call: AttemptCall): void {
    this.#call = call;
    call.startRead();
  }

  onReceiveMetadata(metadata: Metadata): void {
    this.#listener.onReceiveMetadata(metadata);
  }

  onReceiveMessage(message: unknown): void {
    this.#listener.onReceiveMessage(message);
    this.#call?.startRead();
  }

  onReceiveStatus(status: StatusObject): void {
    this.#listener.onReceiveStatus(status);
  }
}

/**
 * The grpc-js call the caller holds; its request runs through the layers once it is complete.
 * It is the call's cancel signal too (one object per call instead of two): the caller's
 * cancelWithStatus aborts it.
 */
class LayeredCall extends Cancellation implements InterceptingCallInterface, ResponseSink, AttemptChannel {
  readonly #method: MethodInfo;
  readonly #options: InterceptorOptions;
  /** The interceptors after ours; kept only when attempts go through them (no channel). */
  readonly #nextCall: NextCall | undefined;
  readonly #stack: Stack;
  /** The call as the layers got it, and when (for the observers). */
  #call: ClientCall | undefined;
  #startedAt = 0;
  /** A server stream's flow control (undefined for a unary call). */
  readonly #flow: ReadFlow | undefined;
  readonly streaming: boolean;
  #listener: Partial<InterceptingListener> = NO_LISTENER;
  #metadata: Metadata | undefined;
  #message: unknown;
  #current: AttemptCall | undefined;
  #peer: string | undefined;
  #headersDelivered = false;
  readonly #waitForReady: boolean;
  readonly #channel: Channel | undefined;
  readonly decode: ((message: Buffer) => unknown) | undefined;
  /** The request as last serialized (#serializedBytes), for the attempts that send the same message. */
  #serializedMessage: unknown;
  #serializedBytes: Buffer | Error | undefined;
  /** The caller's async context, made as grpc-js hands the call to the interceptor (in the caller's turn). */
  readonly #scope = new AsyncResource('grpc-meshlite.call');

  constructor(
    method: MethodInfo,
    options: InterceptorOptions,
    nextCall: NextCall,
    stack: Stack,
    waitForReady: boolean,
    channel: Channel | undefined,
  ) {
    super();
    this.#method = method;
    this.#options = options;
    // Straight to the channel, the call never needs it: not holding grpc-js's closure (and
    // the context it keeps) is less for the garbage collector to carry while the call is in flight.
    this.#nextCall = channel === undefined ? nextCall : undefined;
    this.#stack = stack;
    this.#waitForReady = waitForReady;
    this.#channel = channel;
    this.streaming = method.kind === 'server_stream';
    this.#flow = this.streaming ? new ReadFlow() : undefined;
    this.decode = channel ? (options.method_definition as MethodDefinition<unknown, unknown>).responseDeserialize : undefined;
  }

  start(metadata: Metadata, listener?: Partial<InterceptingListener>): void {
    this.#metadata = metadata;
    this.#listener = listener ?? NO_LISTENER;
  }

  sendMessageWithContext(_context: unknown, message: unknown): void {
    this.#message = message;
  }

  sendMessage(message: unknown): void {
    this.#message = message;
  }

  halfClose(): void {
    let metadata = withoutRoutingHint(this.#metadata ?? new Metadata());
    if (this.#waitForReady && !metadata.getOptions().waitForReady) {
      metadata = metadata.clone();
      metadata.setOptions({ ...metadata.getOptions(), waitForReady: true });
    }
    // Its route and deadline are the preludes' to set, before any layer below sees it.
    const call: OwnCall = {
      method: this.#method,
      message: this.#message,
      metadata,
      deadline: deadlineMs(this.#options.deadline),
      signal: this,
      sink: this,
      hint: undefined,
      route: undefined,
      callOptions: this.#options,
      transport: sendVia,
      via: this,
      trace: undefined,
      attempt: undefined,
    };
    const stack = this.#stack;
    if (stack.observers.length > 0) {
      this.#call = call;
      this.#startedAt = performance.now();
    }
    this.#inside = true;
    try {
      const preludes = stack.preludes;
      let readied = 0;
      let ended: ClientResult | undefined;
      while (readied < preludes.length && ended === undefined) ended = preludes[readied++]!.ready(call);
      if (ended === undefined) {
        if (stack.guard === undefined) stack.send(call, this.#done);
        else this.#guarded(stack.guard, call);
      }
      // As each layer's code after its `next`: the innermost first, before a prelude's own
      // result (which its layer would have handed on later).
      for (let i = ended === undefined ? readied - 1 : readied - 2; i >= 0; i--) preludes[i]!.sent?.(call);
      // Ended before it went on (its deadline had passed): the observers still see it.
      if (ended !== undefined) this.#done(ended);
    } catch (error) {
      // A layer that throws instead of handing on a result fails its call, as a rejection does.
      // A call that went on under the guard all the same is still counted by how it ends.
      const token = this.#admittedBy;
      this.#admittedBy = undefined;
      this.#done(layerFailure(error));
      this.#admittedBy = token;
    } finally {
      this.#inside = false;
    }
  }

  /** The guard's token while it counts this call (see CallGuard); undefined when it does not. */
  #admittedBy: unknown;

  /** Below the guard's layer when it admits the call, else through that layer's callback form. */
  #guarded(guard: CallGuard, call: ClientCall): void {
    const token = guard.admit(call);
    if (token === undefined) return this.#stack.send(call, this.#done);
    this.#admittedBy = token;
    try {
      this.#stack.admitted(call, this.#done);
    } catch (error) {
      // A throw below the guard's layer is not the dependency's doing (its `thrown`), then fails the call.
      if (this.#admittedBy === token) {
        this.#admittedBy = undefined;
        guard.thrown(token, error);
      }
      throw error;
    }
  }

  /** Inside halfClose or cancelWithStatus: the caller hears the status after they return, as from grpc-js. */
  #inside = false;
  #finished = false;

  /** Where the chain hands the call's result: the first one counts, and the observers see it. */
  readonly #done = (answer: ClientResult): void => {
    const token = this.#admittedBy;
    if (token !== undefined) {
      // Counted even when the call has ended already (a layer above threw as it went on).
      this.#admittedBy = undefined;
      try {
        answer = this.#stack.guard!.ended(token, answer);
      } catch (error) {
        answer = layerFailure(error);
      }
    }
    if (this.#finished) return;
    this.#finished = true;
    const call = this.#call;
    const result = call === undefined ? answer : observed(this.#stack.observers, call, answer, this.#startedAt);
    if (this.#inside) soon(() => this.#finish(result));
    else this.#finish(result);
  };

  startRead(): void {
    this.#flow?.request();
  }

  cancelWithStatus(code: Status, details: string): void {
    this.#inside = true;
    try {
      this.abort(makeStatus(code, details));
    } finally {
      this.#inside = false;
    }
  }

  getPeer(): string {
    return this.#peer ?? this.#current?.getPeer() ?? '';
  }

  getAuthContext() {
    return this.#current?.getAuthContext() ?? null;
  }

  /** ResponseSink: a server stream's headers, delivered once. */
  headers(metadata: Metadata): void {
    if (this.#headersDelivered) return;
    this.#headersDelivered = true;
    this.#listener.onReceiveMetadata?.(metadata);
  }

  /** ResponseSink: a server stream's message, as it arrives. */
  message(message: unknown): void {
    this.#flow?.delivered();
    this.#listener.onReceiveMessage?.(message);
  }

  /**
   * AttemptChannel: a new attempt on the channel, with the caller's options and the call's
   * deadline. One whose answer is dropped (a mirror) is not the caller's: its peer is not the
   * call's, and a stream of it is read through at its own pace.
   */
  open(call: ClientCall, metadata: Metadata, listener: InterceptingListener): AttemptHandle {
    if (call.sink === DROP_RESPONSES) return this.#openAside(call, metadata, listener);
    const attempt = this.#channel ? this.#openOnChannel(this.#channel, call, metadata, listener) : this.#openNext(call, metadata, listener);
    this.#current = attempt;
    this.#flow?.attach(attempt);
    return attempt;
  }

  #openAside(call: ClientCall, metadata: Metadata, listener: InterceptingListener): AttemptHandle {
    const reader = this.streaming ? new ReadThrough(listener) : undefined;
    const target = reader ?? listener;
    const attempt = this.#channel ? this.#openOnChannel(this.#channel, call, metadata, target) : this.#openNext(call, metadata, target);
    reader?.attach(attempt);
    return attempt;
  }

  /** Through the interceptors after ours, which end at grpc-js's bottom call. */
  #openNext(call: ClientCall, metadata: Metadata, listener: InterceptingListener): InterceptingCallInterface {
    const attempt = this.#nextCall!({ ...this.#options, deadline: call.deadline });
    // An interceptor below may keep the metadata it is given: the hint goes in a copy.
    attempt.start(call.hint ? withRoutingHint(metadata, call.hint) : metadata, listener);
    attempt.sendMessage(call.message);
    attempt.halfClose();
    return attempt;
  }

  /**
   * Straight on the channel, doing what grpc-js's bottom call does (client-interceptors.ts:
   * getCall, BaseInterceptingCall, BaseUnaryInterceptingCall): the call options' host, parent,
   * propagation flags and credentials; the request serialized (once for all attempts of the
   * same message), a serialization failure ending the attempt INTERNAL; a unary response read
   * at once. Responses are decoded by the attempt (`decode`).
   */
  #openOnChannel(channel: Channel, call: ClientCall, metadata: Metadata, listener: InterceptingListener): Call {
    const options = this.#options;
    const attempt = channel.createCall(this.#method.path, call.deadline, options.host, options.parent ?? null, options.propagate_flags);
    if (options.credentials) attempt.setCredentials(options.credentials);
    if (call.hint) startWithRoutingHint(attempt, metadata, listener, call.hint);
    else attempt.start(metadata, listener);
    if (!this.streaming) attempt.startRead();
    const bytes = this.#serialize(call.message);
    if (bytes instanceof Error) {
      attempt.cancelWithStatus(Status.INTERNAL, `Request message serialization failure: ${bytes.message}`);
    } else {
      attempt.sendMessageWithContext(NO_CONTEXT, bytes);
      attempt.halfClose();
    }
    return attempt;
  }

  /** AttemptChannel: `task(value)` in the caller's async context. */
  inCallerContext<T>(task: (value: T) => void, value: T): void {
    this.#scope.runInAsyncScope(task, null, value);
  }

  /** AttemptChannel: the request's serialized size, when attempts go straight to the channel. */
  requestBytes(message: unknown): number | undefined {
    const bytes = this.#serializedBytes;
    if (this.#channel === undefined || bytes === undefined || this.#serializedMessage !== message || bytes instanceof Error)
      return undefined;
    return bytes.length;
  }

  #serialize(message: unknown): Buffer | Error {
    if (this.#serializedBytes !== undefined && this.#serializedMessage === message) return this.#serializedBytes;
    let bytes: Buffer | Error;
    try {
      bytes = (this.#options.method_definition as MethodDefinition<unknown, unknown>).requestSerialize(message);
    } catch (error) {
      bytes = error instanceof Error ? error : new Error(String(error));
    }
    this.#serializedMessage = message;
    this.#serializedBytes = bytes;
    return bytes;
  }

  #finish(result: ClientResult): void {
    this.#peer = result.peer ?? this.#peer;
    // A Trailers-Only answer (and a call that never left) brings no headers: grpc-js fires no
    // 'metadata' event for it, and neither does the mesh.
    if (result.headers !== undefined) this.headers(result.headers);
    const listener = this.#listener;
    // The caller may hold its call object long after the end, and a dead one the garbage
    // collector has moved to the old generation keeps all it points to alive through every
    // young collection until the next full one: the call lets go of the caller's listener
    // (grpc-js's closures, which hold the response and the caller's callback) and the request.
    // Its last attempt stays, for getPeer and getAuthContext.
    this.#listener = NO_LISTENER;
    this.#call = this.#metadata = this.#message = this.#serializedMessage = this.#serializedBytes = undefined;
    if (this.#method.kind === 'unary' && result.status.code === Status.OK) listener.onReceiveMessage?.(result.message);
    listener.onReceiveStatus?.(result.status);
  }
}
