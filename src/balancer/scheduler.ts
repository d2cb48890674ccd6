/**
 * Earliest-deadline-first weighted scheduling, as Envoy's EdfScheduler: each item is due every
 * 1/W(i) of virtual time; a pick takes the item due first (a binary heap, O(log n)) and moves
 * its next due time one period on. Over any span of one unit of virtual time each item is due
 * exactly W(i) times for integer weights, so each round of ΣW picks gives item i exactly W(i)
 * picks — P(i) = W(i) / ΣW(j) — spread out rather than bunched, at a cost independent of the
 * number of calls and logarithmic in the number of items.
 *
 * Every item starts at a random phase of its period (`random`; Envoy does the same), so many
 * clients started together do not all send their first call to the same backend; exactness
 * over a round is unchanged. Each item's place in its period carries over when the set is
 * rebuilt, so a new snapshot continues the sequence instead of restarting it; after a change
 * of weight the item keeps the same share of its (new) period to wait, so a new split takes
 * hold on the next picks whatever the number of items.
 *
 * @example
 *   const s = new WeightedScheduler([{ item: 'A', weight: 4 }, { item: 'B', weight: 1 }]);
 *   s.pick(); // A, B, A, A, A, A, B, ...
 */
/** What a tier of the picker chooses endpoints with. */
export interface EndpointChooser<T> {
  readonly size: number;
  /** The next item, or undefined when none is eligible; `skip` excludes items for this pick only. */
  pick(skip?: (item: T) => boolean): T | undefined;
  /** State to hand to the next chooser when the picker is rebuilt: each item's share of its period still to wait, 0–1. */
  credits(): Map<T, number>;
}

export class WeightedScheduler<T> implements EndpointChooser<T> {
  /** Min-heap of entries by (due, order). */
  readonly #heap: Entry<T>[] = [];
  /** Virtual time: the due time of the last pick. */
  #now = 0;

  constructor(entries: ReadonlyArray<{ item: T; weight: number }>, carried?: ReadonlyMap<T, number>, random: () => number = () => 0) {
    let order = 0;
    for (const { item, weight } of entries) {
      if (!(weight > 0)) continue;
      const period = 1 / weight;
      // What carries over is the share of its period an item still had to wait, not the time:
      // an item that went from weight 100 to 1 would otherwise be due within 1/100 of its new
      // period, and with N such items a re-weight would take about N picks to show.
      // A newcomer is first due somewhere in its first period, (0, period]: as if it had
      // taken its last turn at a random point of the previous one, never ahead of the queue.
      const share = carried?.get(item);
      const phase = share === undefined ? (1 - random()) * period : Math.max(0, Math.min(1, share)) * period;
      this.#heap.push({ item, weight, start: phase, turns: 0, due: phase, order: order++ });
    }
    this.#heap.sort(before);
  }

  get size(): number {
    return this.#heap.length;
  }

  /**
   * The next item, or undefined when none is eligible. `skip` excludes items for this pick
   * only; a skipped item loses its turn, as the others share the pick it would have had.
   */
  pick(skip?: (item: T) => boolean): T | undefined {
    const heap = this.#heap;
    if (heap.length === 0) return undefined;
    let skipped: Entry<T>[] | undefined;
    let chosen: Entry<T> | undefined;
    while (heap.length > 0) {
      const top = heap[0]!;
      if (!skip?.(top.item)) {
        chosen = top;
        break;
      }
      (skipped ??= []).push(popTop(heap));
    }
    if (chosen) {
      this.#now = chosen.due;
      advance(chosen);
      siftDown(heap, 0);
    }
    if (skipped) {
      for (const entry of skipped) {
        advance(entry);
        push(heap, entry);
      }
    }
    return chosen?.item;
  }

  /** How far ahead of the last pick each item is due, as a share of its period, to hand to the next scheduler. */
  credits(): Map<T, number> {
    return new Map(this.#heap.map((entry) => [entry.item, (entry.due - this.#now) * entry.weight]));
  }
}

interface Entry<T> {
  readonly item: T;
  readonly weight: number;
  /** Due time of its first turn. */
  readonly start: number;
  /** Turns taken (or lost): the next is due at start + turns / weight, computed afresh so no rounding accumulates. */
  turns: number;
  due: number;
  /** Ties go to the earlier entry, so a sequence is the same run after run. */
  readonly order: number;
}

function advance<T>(entry: Entry<T>): void {
  entry.turns++;
  entry.due = entry.start + entry.turns / entry.weight;
}

function before<T>(a: Entry<T>, b: Entry<T>): number {
  return a.due - b.due || a.order - b.order;
}

function push<T>(heap: Entry<T>[], entry: Entry<T>): void {
  heap.push(entry);
  let i = heap.length - 1;
  while (i > 0) {
    const parent = (i - 1) >> 1;
    if (before(heap[parent]!, heap[i]!) <= 0) break;
    [heap[parent], heap[i]] = [heap[i]!, heap[parent]!];
    i = parent;
  }
}

function popTop<T>(heap: Entry<T>[]): Entry<T> {
  const top = heap[0]!;
  const last = heap.pop()!;
  if (heap.length > 0) {
    heap[0] = last;
    siftDown(heap, 0);
  }
  return top;
}

function siftDown<T>(heap: Entry<T>[], start: number): void {
  let i = start;
  for (;;) {
    const left = 2 * i + 1;
    const right = left + 1;
    let smallest = i;
    if (left < heap.length && before(heap[left]!, heap[smallest]!) < 0) smallest = left;
    if (right < heap.length && before(heap[right]!, heap[smallest]!) < 0) smallest = right;
    if (smallest === i) return;
    [heap[smallest], heap[i]] = [heap[i]!, heap[smallest]!];
    i = smallest;
  }
}
