import type { MeshRequest } from './types.js';

/**
 * A copy of `request` with `changes` applied, for a layer that passes a changed request on
 * (`next(deriveRequest(request, { deadline }))`). It builds every request with the same
 * fields in the same order, so the code that reads requests sees one object shape; a spread
 * such as `{ ...request, deadline }` gives V8 a new shape per layer and was the costliest
 * line of the hedging layer.
 */
export function deriveRequest(request: MeshRequest, changes: Partial<MeshRequest>): MeshRequest {
  return {
    method: changes.method ?? request.method,
    message: 'message' in changes ? changes.message : request.message,
    metadata: changes.metadata ?? request.metadata,
    deadline: changes.deadline ?? request.deadline,
    attemptDeadline: 'attemptDeadline' in changes ? changes.attemptDeadline : request.attemptDeadline,
    signal: changes.signal ?? request.signal,
    sink: changes.sink ?? request.sink,
    avoid: 'avoid' in changes ? changes.avoid : request.avoid,
    attempt: 'attempt' in changes ? changes.attempt : request.attempt,
    callOptions: changes.callOptions ?? request.callOptions,
  };
}
