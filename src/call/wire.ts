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

/**
 * Request header on every retry and hedge of a call (gRPC A6): how many attempts of the call
 * went before this one. Absent on the first attempt. Servers read it to tell a repeat from a
 * first try (the server stack puts it on its span).
 */
export const PREVIOUS_ATTEMPTS_HEADER = 'grpc-previous-rpc-attempts';

/** W3C Trace Context: the span an attempt was sent from (`00-<trace id>-<span id>-<flags>`). */
export const TRACEPARENT_HEADER = 'traceparent';

/** W3C Trace Context: vendor state that travels with `traceparent`. */
export const TRACESTATE_HEADER = 'tracestate';
