// Where an attempt went, before the call has told us. grpc-js reports a call's peer only once
// it is committed (headers or status received), but a hedge must avoid the endpoint its
// sibling is still waiting on. So a hedged attempt carries a private id in its metadata; the
// mesh picker records the endpoint it chose for that id here, and strips the header.
//
// The slots are a table of plain values reused from attempt to attempt: a long-lived Map of
// per-call callbacks would hold young call objects from old memory, and V8 would promote
// every in-flight call to the old generation (measured: half the stack's cost per call).

/** Private metadata header with the attempt id; the mesh picker reads and removes it. */
export const ATTEMPT_HEADER = 'x-meshlite-attempt';

const addresses: Array<string | undefined> = [];
const generations: number[] = [];
const free: number[] = [];

/** One attempt's slot; `picked()` is the endpoint the picker chose for it, once it has. */
export class TrackedAttempt {
  readonly #slot: number;
  readonly #generation: number;

  constructor(slot: number, generation: number) {
    this.#slot = slot;
    this.#generation = generation;
  }

  /** The value of ATTEMPT_HEADER for this attempt. */
  get id(): string {
    return `${this.#slot}.${this.#generation}`;
  }

  picked(): string | undefined {
    return generations[this.#slot] === this.#generation ? addresses[this.#slot] : undefined;
  }

  /** Frees the slot; later picks reported for this id are ignored. */
  done(): void {
    if (generations[this.#slot] !== this.#generation) return;
    generations[this.#slot]!++;
    addresses[this.#slot] = undefined;
    free.push(this.#slot);
  }
}

/** Registers an attempt. Call `done` when it ends. */
export function trackAttempt(): TrackedAttempt {
  let slot = free.pop();
  if (slot === undefined) {
    slot = addresses.length;
    addresses.push(undefined);
    generations.push(0);
  }
  return new TrackedAttempt(slot, generations[slot]!);
}

/** Called by the picker when it sends attempt `id` to `address`. */
export function reportPick(id: string, address: string): void {
  const dot = id.indexOf('.');
  const slot = Number(id.slice(0, dot));
  if (generations[slot] === Number(id.slice(dot + 1))) addresses[slot] = address;
}
