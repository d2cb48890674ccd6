import { status as Status, type StatusObject } from '@grpc/grpc-js';

/**
 * How grpc-js words a call that ended without a gRPC status from the server — the stream or
 * connection broke under it (a backend killed mid-call, a proxy resetting, a truncated frame).
 * grpc-js reports these under several codes: UNAVAILABLE ("Connection dropped", "read
 * ECONNRESET"), but also INTERNAL ("Received RST_STREAM with code 0 (Call ended without gRPC
 * status)", "... code 2 triggered by internal client error: Protocol error", "Write error:
 * ...") and CANCELLED for a reset nobody on this side asked for. Matched on grpc-js's own
 * wording, so a status an application sends with the same code is not mistaken for one.
 */
const TRANSPORT_DETAILS =
  /^(Received RST_STREAM with code \d+|Connection dropped|Stream refused by server|Write error: |read ECONNRESET|write EPIPE|Call cancelled$)/;

/** Whether a status says the transport failed under the call (see above), whatever its code. */
export function isTransportFailure(status: Pick<StatusObject, 'code' | 'details'>): boolean {
  return (
    (status.code === Status.INTERNAL || status.code === Status.UNAVAILABLE || status.code === Status.CANCELLED) &&
    TRANSPORT_DETAILS.test(status.details)
  );
}
