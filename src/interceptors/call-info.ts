// What the mesh did for a call, readable by a program: a typed property on the status the
// caller receives, which grpc-js copies onto the ServiceError of a failed call. The server's
// code, details and trailers stay exactly as the server sent them.
import type { StatusObject } from '@grpc/grpc-js';
import { statusName } from '../call/status.js';
import { withKey } from '../call/with-key.js';
import type { AttemptRecord } from './types.js';

/**
 * The key of a status's (and a grpc-js ServiceError's) property that holds the mesh's account:
 * a registered symbol, so grpc-js's `Object.assign` still copies it onto the error, a second
 * copy of this package finds it, and `JSON.stringify(error)` — a logger's — leaves it out.
 */
export const MESH_CALL_INFO = Symbol.for('grpc-meshlite.callInfo');

/** One attempt the mesh made for a call. */
export interface MeshAttempt {
  /** The attempt's status code, and its name ("UNAVAILABLE"). */
  readonly code: number;
  readonly codeName: string;
  /** The endpoint it reached (host:port), if it left the client. */
  readonly peer: string | undefined;
  /** Sent as a hedge (in parallel with an earlier attempt), rather than after it. */
  readonly hedge: boolean;
  readonly durationMs: number;
}

/** What the retry and hedging layers did for a call that failed or took more than one attempt. */
export interface MeshCallInfo {
  /** Attempts made, hedges included. */
  readonly attempts: number;
  readonly tries: readonly MeshAttempt[];
  /**
   * Why no further attempt was made although the call failed, e.g. "NOT_FOUND is not
   * retryable", "retry budget exhausted", "no time left before the deadline"; undefined when
   * the attempts simply ran out or the call succeeded.
   */
  readonly stoppedBecause: string | undefined;
}

/** MeshCallInfo.stoppedBecause of a call the circuit breaker refused (no attempt was made). */
export const BREAKER_OPEN = 'circuit breaker open';

/** A status with the mesh's account of the call. */
export type StatusWithCallInfo = StatusObject & { readonly [MESH_CALL_INFO]: MeshCallInfo };

/**
 * The mesh's account of a call, from the ServiceError of a failed call or from a status
 * (a call's `status` event): there for every call that failed and every call that took more
 * than one attempt, and for a call the circuit breaker refused (no attempts, stoppedBecause
 * BREAKER_OPEN); undefined for a call that succeeded on its first attempt, and for a call
 * made without the retry layer that the breaker did not refuse.
 *
 * @example
 *   client.getOrder(request, (error) => {
 *     const info = meshCallInfo(error);
 *     if (info) log.warn({ attempts: info.attempts, why: info.stoppedBecause }, error.details);
 *   });
 */
export function meshCallInfo(errorOrStatus: unknown): MeshCallInfo | undefined {
  if (typeof errorOrStatus !== 'object' || errorOrStatus === null) return undefined;
  const info = (errorOrStatus as Record<symbol, unknown>)[MESH_CALL_INFO];
  return typeof info === 'object' && info !== null && Array.isArray((info as MeshCallInfo).tries) ? (info as MeshCallInfo) : undefined;
}

/** The status with the mesh's account added; code, details and metadata unchanged. */
export function withCallInfo(
  status: StatusObject,
  attempts: readonly AttemptRecord[],
  stoppedBecause: string | undefined,
): StatusWithCallInfo {
  const tries = attempts.map((attempt) => ({
    code: attempt.code,
    codeName: statusName(attempt.code),
    peer: attempt.peer,
    hedge: attempt.hedge ?? false,
    durationMs: Math.round(attempt.durationMs * 10) / 10,
  }));
  return withKey(status, MESH_CALL_INFO, { attempts: attempts.length, tries, stoppedBecause });
}
