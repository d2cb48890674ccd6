// The client layers as a nice-grpc client middleware. nice-grpc builds its grpc-js clients
// itself, with no interceptors, so the stack cannot ride on grpc-js there; it runs as the
// middleware instead, and each attempt is a call to the next middleware (nice-grpc's own
// call on the channel, which may be a mesh channel).
import { Metadata, status as Status, type StatusObject } from '@grpc/grpc-js';
import {
  ClientError,
  Metadata as NiceMetadata,
  type CallOptions,
  type ClientMiddleware,
  type ClientMiddlewareCall,
  type Metadata as NiceMetadataType,
} from 'nice-grpc-common';
import { Cancellation } from '../call/cancellation.js';
import { methodCache } from '../call/method.js';
import { withoutRoutingHint, withRoutingHintHeader } from '../call/routing-hint.js';
import { makeStatus } from '../call/status.js';
import { setTimer, systemClock } from '../clock.js';
import { MESH_CALL_INFO, meshCallInfo } from '../interceptors/call-info.js';
import { abortStatus, failedResult } from '../interceptors/call.js';
import { attemptMetadata } from '../interceptors/transport.js';
import { dispatch, type ClientCall, type ClientLayer, type ClientResult, type ResponseSink } from '../interceptors/types.js';

/** What the middleware needs of a client stack: `createClientStack(…)` or `mesh.clientStack(…)`. */
export interface LayeredStack {
  readonly layer: ClientLayer;
}

/** Call options the middleware reads: a deadline as nice-grpc's deadline middleware spells it. */
export interface MeshCallOptions {
  /** The whole call's deadline: a Date, or a number of ms from now (as nice-grpc reads it). */
  deadline?: Date | number;
}

const NO_SINK: ResponseSink = { headers() {}, message() {} };

/**
 * The stack's layers (logging, deadline, breaker, retry and hedging) for a nice-grpc client.
 * Unary calls run through them; streaming calls pass through untouched (no layer could
 * replay their requests). A failed call throws nice-grpc's `ClientError` with the server's
 * code and details unchanged, and the mesh's account as `meshCallInfo(error)`; one its
 * caller aborted throws an AbortError, as nice-grpc does.
 *
 * Use it instead of nice-grpc's deadline and retry middleware (it reads their `deadline`
 * option): they would multiply attempts and cut the stack's.
 *
 * @example
 *   const channel = createChannel(mesh.target('orders'), undefined, mesh.channelOptions());
 *   const client = createClientFactory()
 *     .use(meshMiddleware(mesh.clientStack('orders')))
 *     .create(OrderServiceDefinition, channel);
 *   await client.getOrder({ id }, { deadline: 1000 }); // ms from now, or a Date
 */
export function meshMiddleware(stack: LayeredStack): ClientMiddleware<MeshCallOptions> {
  const methodOf = methodCache();
  const chain = stack.layer(dispatch);
  return async function* meshlite<Request, Response>(
    call: ClientMiddlewareCall<Request, Response>,
    options: CallOptions & Partial<MeshCallOptions>,
  ): AsyncGenerator<Response, Response | void, undefined> {
    if (call.requestStream || call.responseStream) return yield* call.next(call.request, options);
    // onHeader and onTrailer are the caller's callbacks, called as functions as nice-grpc does.
    // oxlint-disable-next-line typescript/unbound-method
    const { deadline, metadata, signal, onHeader, onTrailer, ...rest } = options;
    const next = (attemptOptions: CallOptions) => call.next(call.request, attemptOptions);
    const cancel = new Cancellation();
    const onAbort = () => cancel.abort(makeStatus(Status.CANCELLED, 'cancelled by the caller'));
    if (signal?.aborted) onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    const clientCall: ClientCall = {
      method: methodOf(call.method.path, false, false),
      message: call.request,
      metadata: withoutRoutingHint(toGrpcMetadata(metadata)),
      deadline: deadline === undefined ? Infinity : deadline instanceof Date ? deadline.getTime() : Date.now() + deadline,
      signal: cancel,
      sink: NO_SINK,
      hint: undefined,
      route: undefined,
      callOptions: {},
      transport: (attempt) => sendNiceAttempt(next, rest, attempt),
      via: undefined,
      trace: undefined,
      attempt: undefined,
    };
    const result = await chain(clientCall);
    signal?.removeEventListener('abort', onAbort);
    if (result.headers) onHeader?.(toNiceMetadata(result.headers));
    onTrailer?.(toNiceMetadata(result.status.metadata));
    if (result.status.code === Status.OK) return result.message as Response;
    // As nice-grpc does: a call its caller aborted rejects with an AbortError.
    if (signal?.aborted) throw new DOMException('The operation has been aborted', 'AbortError');
    const error = new ClientError(call.method.path, result.status.code, result.status.details);
    const info = meshCallInfo(result.status);
    throw info === undefined ? error : Object.assign(error, { [MESH_CALL_INFO]: info });
  };
}

/**
 * One attempt: the next middleware's call (nice-grpc's own, at the bottom) with the attempt's
 * metadata, cancelled by the attempt's signal or at its deadline. nice-grpc sends no deadline
 * to the server, so the attempt ends here when it passes.
 */
function sendNiceAttempt<Response>(
  next: (options: CallOptions) => AsyncGenerator<never, Response, undefined>,
  options: CallOptions,
  attempt: ClientCall,
): Promise<ClientResult> {
  if (attempt.signal.aborted) return Promise.resolve(failedResult(abortStatus(attempt.signal)));
  return new Promise<ClientResult>((resolve) => {
    const started = performance.now();
    const controller = new AbortController();
    const trace = attempt.trace?.startAttempt(attempt);
    let headers: Metadata | undefined;
    let trailers: Metadata | undefined;
    let done = false;
    const finish = (status: StatusObject, message?: unknown) => {
      if (done) return;
      done = true;
      systemClock.clearTimeout(timer);
      attempt.signal.removeEventListener('abort', onAbort);
      const peer = attempt.hint?.picked();
      trace?.end(status, peer);
      resolve({
        status,
        headers,
        message,
        peer,
        attempts: [{ code: status.code, peer, mayHaveReachedServer: true, startedAt: started, durationMs: performance.now() - started }],
      });
    };
    const stop = (status: StatusObject) => {
      finish(status);
      controller.abort();
    };
    const onAbort = () => stop(abortStatus(attempt.signal));
    attempt.signal.addEventListener('abort', onAbort, { once: true });
    const timer =
      attempt.deadline === Infinity
        ? undefined
        : setTimer(systemClock, () => stop(makeStatus(Status.DEADLINE_EXCEEDED, 'Deadline exceeded')), attempt.deadline - Date.now());
    const own = attemptMetadata(attempt, trace);
    const metadata = attempt.hint ? withRoutingHintHeader(own, attempt.hint) : own;
    const responses = next({
      ...options,
      metadata: toNiceMetadata(metadata),
      signal: controller.signal,
      onHeader: (received) => (headers = toGrpcMetadata(received)),
      onTrailer: (received) => (trailers = toGrpcMetadata(received)),
    });
    trace?.sent(undefined);
    drain(responses).then(
      (response) => {
        if (!done) trace?.received(undefined);
        finish(makeStatus(Status.OK, 'OK', trailers ?? new Metadata()), response);
      },
      (error: unknown) => {
        if (error instanceof ClientError) finish(makeStatus(error.code, error.details, trailers ?? new Metadata()));
        else if (!done) finish(makeStatus(Status.INTERNAL, `nice-grpc call failed: ${String(error)}`));
      },
    );
  });
}

/** A unary call's result: the generator yields nothing and returns the response. */
async function drain<Response>(responses: AsyncGenerator<never, Response, undefined>): Promise<Response> {
  let step = await responses.next();
  while (!step.done) step = await responses.next();
  return step.value;
}

function toGrpcMetadata(source: NiceMetadataType | undefined): Metadata {
  const metadata = new Metadata();
  if (!source) return metadata;
  for (const [key, values] of source) {
    for (const value of values)
      metadata.add(key, typeof value === 'string' ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength));
  }
  return metadata;
}

function toNiceMetadata(source: Metadata): NiceMetadataType {
  const metadata = NiceMetadata();
  const map = source.toJSON();
  for (const [key, values] of Object.entries(map)) for (const value of values) metadata.append(key, value);
  return metadata;
}
