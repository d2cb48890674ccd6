import type { Metadata, status as Status } from '@grpc/grpc-js';
import type { Context } from '@opentelemetry/api';
import type { MethodInfo } from '../call/method.js';
import type { PeerIdentity } from '../security/identity.js';

/**
 * One incoming call as it travels through the server layers, from the moment its metadata
 * arrives (every method kind, streaming included, goes through the same layers).
 */
export interface ServerCall {
  readonly method: MethodInfo;
  /** Request metadata; a layer may pass on a copy with changes (the request id, say). */
  readonly metadata: Metadata;
  /** Deadline the client set, epoch ms; Infinity when there is none. */
  readonly deadline: number;
  readonly peer: string;
  /** Aborted when the client cancels or the deadline passes. */
  readonly signal: AbortSignal;
  /** Headers to send back with the response, whatever produces it. Layers add to it. */
  readonly responseHeaders: Metadata;
  /** The caller's identity from its verified client certificate (mutual TLS); undefined without one. Read on demand. */
  identity(): PeerIdentity | undefined;
  /**
   * The call's OpenTelemetry context (its server span's, set by the tracing layer): the handler
   * runs in it, so the calls it makes are children of its span. Undefined: not traced.
   */
  readonly traceContext: Context | undefined;
}

/** A status to send: code, details and (optionally) trailers. */
export interface ServerStatus {
  readonly code: Status;
  readonly details: string;
  readonly metadata?: Metadata | null | undefined;
}

/** How the call ended. For unary methods `message` is the response; streams send theirs as they go. */
export interface ServerResult {
  readonly status: ServerStatus;
  readonly headers?: Metadata | undefined;
  readonly message?: unknown;
}

/** Runs the rest of the chain (in the end, the handler) and resolves with its result. */
export type ServerNext = (call: ServerCall) => Promise<ServerResult>;

/**
 * A server-side layer, same shape as the client side's ClientLayer: `(next) => next'`. It may answer
 * without calling `next` (shed load, reject an expired call, replay a remembered response).
 *
 * @example
 *   const timing: ServerLayer = (next) => async (call) => {
 *     const started = Date.now();
 *     const result = await next(call);
 *     console.log(call.method.path, result.status.code, Date.now() - started, 'ms');
 *     return result;
 *   };
 */
export type ServerLayer = (next: ServerNext) => ServerNext;
