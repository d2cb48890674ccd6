// How much of a run's client CPU went to garbage collection: V8's GC pauses on the main thread
// (perf_hooks 'gc' entries), summed over the measured window. Concurrent marking and sweeping
// on V8's helper threads are in process.cpuUsage() too, but not here.
import { PerformanceObserver, performance, type PerformanceEntry } from 'node:perf_hooks';
import { GCProfiler, getHeapStatistics } from 'node:v8';

/** Starts counting; the function it returns ends the window and resolves with the pauses in it, in ms. */
export function countGcPauses(): () => Promise<number> {
  const entries: PerformanceEntry[] = [];
  const observer = new PerformanceObserver((list) => entries.push(...list.getEntries()));
  observer.observe({ entryTypes: ['gc'] });
  const from = performance.now();
  return async () => {
    const to = performance.now();
    // Node queues an entry after the collection it describes: one turn lets the last ones in.
    await new Promise((resolve) => setImmediate(resolve));
    entries.push(...observer.takeRecords());
    observer.disconnect();
    return entries.filter((entry) => entry.startTime >= from && entry.startTime <= to).reduce((sum, entry) => sum + entry.duration, 0);
  };
}

/**
 * Starts counting the bytes the process allocates on V8's heap; the function it returns ends
 * the window and gives them: what the heap grew by, plus what each collection in between freed
 * (V8's GC profiler reports the used heap before and after each one). Garbage per call is this
 * over the calls made, whatever share of it a collection reached.
 */
export function countAllocatedBytes(): () => number {
  const profiler = new GCProfiler();
  const before = getHeapStatistics().used_heap_size;
  profiler.start();
  return () => {
    const after = getHeapStatistics().used_heap_size;
    const { statistics } = profiler.stop();
    const freed = statistics.reduce((sum, gc) => sum + gc.beforeGC.heapStatistics.usedHeapSize - gc.afterGC.heapStatistics.usedHeapSize, 0);
    return after - before + freed;
  };
}
