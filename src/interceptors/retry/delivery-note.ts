// A server stream is committed once a message reached the caller: no attempt follows after that.
import type { Metadata } from '@grpc/grpc-js';
import type { ResponseSink } from '../types.js';

/** The caller's sink, as a server stream's attempts write to it: it notes the first message. */
export class DeliveryNote implements ResponseSink {
  /** A message reached the caller: the call is committed. */
  delivered = false;
  readonly #sink: ResponseSink;

  constructor(sink: ResponseSink) {
    this.#sink = sink;
  }

  headers(metadata: Metadata): void {
    this.#sink.headers(metadata);
  }

  message(message: unknown): void {
    this.delivered = true;
    this.#sink.message(message);
  }
}
