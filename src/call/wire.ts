// Names that travel on the wire between a client and a server, written once: a typo in one
// copy would make that side deaf to the other without any error.

/**
 * Trailer by which a server asks a client to wait before retrying (gRPC A6), in
 * milliseconds; a negative or malformed value means "do not retry". The client's retry layer
 * waits that long, and the balancer counts a failure that carries it as a slow answer.
 *
 * @example
 *   trailers.set(PUSHBACK_HEADER, '50');
 */
export const PUSHBACK_HEADER = 'grpc-retry-pushback-ms';

/**
 * Metadata key of the idempotency key, by default: a call that carries one is safe to repeat
 * (the client's retry layer), and the server's idempotency layer answers a repeat with the
 * first answer instead of running the handler again.
 */
export const IDEMPOTENCY_KEY_HEADER = 'idempotency-key';

/** Header a server's idempotency layer sets on an answer replayed from the first call with the same key. */
export const REPLAYED_HEADER = 'idempotent-replayed';
