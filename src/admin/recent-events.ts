// The events an admin page replays when it opens: the last 100 *entries*, where repeats of the
// same thing (a breaker flapping between open and half-open, an endpoint ejected again and
// again) are one entry with a count and its first and last time. A plain ring of 100 events
// lost everything else to a flapping breaker (about 4 transitions a second) within 39 s, so a
// page opened after an outage could not show what led to it.

/** An event as the admin server sends it: `type` and the fields that say what happened. */
export type AdminEvent = { readonly type: string } & Readonly<Record<string, string | number | undefined>>;

/** One entry: the latest event of its kind and subject, and how many there were since the first. */
export interface EventEntry {
  /** The entry's number: its first event's, for as long as it lives. */
  readonly entry: number;
  /** The number of its latest update; a stream resumes after the last one it saw. */
  readonly id: number;
  /** What counts as the same thing again (kind and subject). */
  readonly key: string;
  readonly count: number;
  readonly firstAt: number;
  /** When its latest event happened. */
  readonly at: number;
  readonly event: AdminEvent;
  /** Its first event, when it has had more than one. */
  readonly first: AdminEvent | undefined;
}

export interface RecentEventsOptions {
  /** Entries kept. Default 100. */
  capacity?: number;
  /** A repeat coalesces with its entry when that entry's latest event is at most this old, ms. Default 60 s. */
  coalesceWithinMs?: number;
}

/**
 * What counts as the same thing happening again: the same kind of event about the same
 * subject. A breaker's transitions are one kind whatever the state (open, half-open, open…
 * is one flapping breaker); an endpoint's are one kind per event kind and method.
 */
export function eventKey(event: AdminEvent): string {
  const field = (name: string) => String(event[name] ?? '');
  switch (event.type) {
    case 'breaker':
      return ['breaker', field('service'), field('breaker')].join('\u0000');
    case 'endpoint':
      return ['endpoint', field('service'), field('endpoint'), field('method'), field('kind')].join('\u0000');
    case 'failover':
      return ['failover', field('service')].join('\u0000');
    case 'routing':
      return ['routing', field('service'), field('route'), field('subset'), field('kind')].join('\u0000');
    case 'discovery':
      return ['discovery', field('service'), field('kind'), field('reason')].join('\u0000');
    default:
      return [event.type, field('kind'), field('source'), field('reason')].join('\u0000');
  }
}

/**
 * The recent entries, ordered by their latest update (the oldest first). Numbers (entry and
 * update ids) grow by one per event added.
 *
 * @example
 *   const recent = new RecentEvents();
 *   recent.add({ type: 'breaker', service: 'orders', breaker: 'k', state: 'open' }, now);
 *   recent.add({ type: 'breaker', service: 'orders', breaker: 'k', state: 'half-open' }, now + 250);
 *   recent.since(0); // one entry, count 2
 */
export class RecentEvents {
  readonly #capacity: number;
  readonly #coalesceWithinMs: number;
  /** By latest update, the oldest first (a Map keeps insertion order; an update re-inserts). */
  readonly #entries = new Map<number, EventEntry>();
  /** The entry each key's repeats go to, while it is kept. */
  readonly #current = new Map<string, number>();
  #lastId = 0;

  constructor(options: RecentEventsOptions = {}) {
    this.#capacity = options.capacity ?? 100;
    this.#coalesceWithinMs = options.coalesceWithinMs ?? 60_000;
  }

  /** The id of the latest update. */
  get lastId(): number {
    return this.#lastId;
  }

  /** Adds `event`, which happened at `at`: a new entry, or its entry updated. Returns the entry. */
  add(event: AdminEvent, at: number): EventEntry {
    const id = ++this.#lastId;
    const key = eventKey(event);
    const number = this.#current.get(key);
    const previous = number === undefined ? undefined : this.#entries.get(number);
    let entry: EventEntry;
    if (previous && at - previous.at <= this.#coalesceWithinMs) {
      this.#entries.delete(previous.entry);
      entry = { ...previous, id, count: previous.count + 1, at, event, first: previous.first ?? previous.event };
    } else {
      // A repeat after a quiet spell is news: a new entry; the old one stays as it was.
      entry = { entry: id, id, key, count: 1, firstAt: at, at, event, first: undefined };
      this.#current.set(key, id);
    }
    this.#entries.set(entry.entry, entry);
    if (this.#entries.size > this.#capacity) {
      const oldest = this.#entries.values().next().value!;
      this.#entries.delete(oldest.entry);
      if (this.#current.get(oldest.key) === oldest.entry) this.#current.delete(oldest.key);
    }
    return entry;
  }

  /** The entries updated after update `id`, the oldest update first. */
  since(id: number): EventEntry[] {
    return [...this.#entries.values()].filter((entry) => entry.id > id);
  }
}
