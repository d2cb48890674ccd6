import type { ClientReadableStream, ServiceError, StatusObject } from '@grpc/grpc-js';

/**
 * Reads a server stream one message at a time: `await reader.next()` resolves with the next
 * message, or rejects with the stream's error; `reader.end` resolves with the final status.
 */
export function streamReader<T>(stream: ClientReadableStream<T>) {
  const buffered: T[] = [];
  const waiting: Array<{ resolve: (value: T) => void; reject: (error: unknown) => void }> = [];
  let failure: ServiceError | undefined;
  let ended = false;
  stream.on('data', (message: T) => {
    const waiter = waiting.shift();
    if (waiter) waiter.resolve(message);
    else buffered.push(message);
  });
  const end = new Promise<StatusObject>((resolve) => stream.on('status', resolve));
  stream.on('error', (error: ServiceError) => {
    failure = error;
    for (const waiter of waiting.splice(0)) waiter.reject(error);
  });
  stream.on('end', () => {
    ended = true;
    for (const waiter of waiting.splice(0)) waiter.reject(new Error('stream ended'));
  });
  return {
    next(): Promise<T> {
      if (buffered.length > 0) return Promise.resolve(buffered.shift()!);
      if (failure) return Promise.reject(failure);
      if (ended) return Promise.reject(new Error('stream ended'));
      return new Promise((resolve, reject) => waiting.push({ resolve, reject }));
    },
    end,
    cancel: () => stream.cancel(),
  };
}

/** Collects every message of a server stream; rejects with its error. */
export function readAll<T>(stream: ClientReadableStream<T>): Promise<T[]> {
  return new Promise((resolve, reject) => {
    const messages: T[] = [];
    stream.on('data', (message: T) => messages.push(message));
    stream.on('error', reject);
    stream.on('end', () => resolve(messages));
  });
}
