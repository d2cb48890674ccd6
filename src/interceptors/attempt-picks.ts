// Where an attempt went, before the call has told us. grpc-js reports a call's peer only once
// it is committed (headers or status received), but a hedge must avoid the endpoint its
// sibling is still waiting on. So a hedged attempt carries a private id in its metadata; the
// mesh picker reports the endpoint it chose for that id here, and strips the header.

/** Private metadata header with the attempt id; the mesh picker reads and removes it. */
export const ATTEMPT_HEADER = 'x-meshlite-attempt';

const waiting = new Map<string, (address: string) => void>();
let nextId = 0;

/** Registers an attempt; `onPick` hears the endpoint it is sent to. Call `done` when it ends. */
export function trackAttempt(onPick: (address: string) => void): { id: string; done: () => void } {
  const id = String(++nextId);
  waiting.set(id, onPick);
  return { id, done: () => waiting.delete(id) };
}

/** Called by the picker when it sends attempt `id` to `address`. */
export function reportPick(id: string, address: string): void {
  waiting.get(id)?.(address);
}
