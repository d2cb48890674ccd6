// What the mesh did for a call, readable by a program: a typed property on the status the
// caller receives, which grpc-js copies onto the ServiceError of a failed call. The server's
// code, details and trailers stay exactly as the server sent them.
import type { StatusObject } from '@grpc/grpc-js';
import { statusName } from '../call/status.js';
import type { AttemptRecord } from './types.js';

/** The property of a status (and of a grpc-js ServiceError) that holds the mesh's account. */
export const MESH_CALL_INFO = 'meshlite';

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

/** A status with the mesh's account of the call. */
export type StatusWithCallInfo = StatusObject & { readonly [MESH_CALL_INFO]: MeshCallInfo };

/**
 * The mesh's account of a call, from the ServiceError of a failed call or from a status
 * (a call's `status` event), or undefined when the mesh added none (a single successful
 * attempt, or no retry layer in the stack).
 *
 * @example
 *   client.getOrder(request, (error) => {
 *     const info = meshCallInfo(error);
 *     if (info) log.warn({ attempts: info.attempts, why: info.stoppedBecause }, error.details);
 *   });
 */
export function meshCallInfo(errorOrStatus: unknown): MeshCallInfo | undefined {
  if (typeof errorOrStatus !== 'object' || errorOrStatus === null) return undefined;
  const info = (errorOrStatus as Record<string, unknown>)[MESH_CALL_INFO];
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
  return { ...status, [MESH_CALL_INFO]: { attempts: attempts.length, tries, stoppedBecause } };
}
