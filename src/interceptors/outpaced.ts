import type { Metadata, StatusObject } from '@grpc/grpc-js';
import type { Clock } from '../clock.js';

/**
 * Why a hedge's loser that a later attempt outpaced is let go, as its cancel signal's reason.
 * For the call it is over, CANCELLED (its record, its span, anyone reading the signal); but
 * its stream runs on, answer dropped, until the per-attempt timeout it had, so the endpoint is
 * judged by what it does: an answer within that time (slower than the hedge, not failed) or
 * none, which ends it DEADLINE_EXCEEDED where passive ejection counts it, as the same timeout
 * would have without the hedge. Without this, a backend that never answers one method was
 * never ejected for it while hedges kept winning, and the hedges drained the retry budget.
 */
export class Outpaced implements StatusObject {
  readonly code: StatusObject['code'];
  readonly details: string;
  readonly metadata: Metadata;

  constructor(
    status: StatusObject,
    /** How long the stream may still take: the rest of its per-attempt timeout. */
    readonly lingerMs: number,
    readonly clock: Clock,
  ) {
    this.code = status.code;
    this.details = status.details;
    this.metadata = status.metadata;
  }
}
