/**
 * Resolves once `condition()` holds, checking it now, on every `wake` notification and
 * every 5 ms; rejects after `timeoutMs` with `describe()` in the message, so a broken test
 * says what it saw. This waits for a state, never for a time: a fast machine passes at once.
 */
export function until(
  condition: () => boolean,
  {
    timeoutMs = 5000,
    describe = () => '',
    wake,
  }: { timeoutMs?: number; describe?: () => string; wake?: (check: () => void) => () => void } = {},
): Promise<void> {
  return new Promise((resolve, reject) => {
    const check = () => {
      if (!condition()) return;
      done();
      resolve();
    };
    const dispose = wake?.(check);
    const interval = setInterval(check, 5);
    const timer = setTimeout(() => {
      done();
      reject(new Error(`condition not reached in ${timeoutMs} ms${describe() ? `; saw: ${describe()}` : ''}`));
    }, timeoutMs);
    const done = () => {
      dispose?.();
      clearInterval(interval);
      clearTimeout(timer);
    };
    check();
  });
}
