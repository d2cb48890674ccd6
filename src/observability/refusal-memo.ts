/**
 * Which refusals have been said, so each is said once: per subject (a config file, a set of TLS
 * files, a host name, an etcd key), the reason last said, until the subject works again. A
 * source retried every second, a file rewritten in chunks or a bad key listed again after every
 * reconnect must give one log line and one event per trouble, not one per attempt — an
 * operator reading the log after an outage looks for where it started, and a line per retry
 * buries it (and the events a status page replays) under copies.
 *
 * Which reasons count as the same is the caller's rule, made by the text it passes: a config
 * file's reason without its positions (a chunked write fails at a new position each time), a
 * host name's outage with no reason at all (said once whatever errors follow).
 *
 * @example
 *   const refusals = new RefusalMemo();
 *   if (failed) {
 *     if (refusals.news(host, reason)) logger.warn({ host, reason }, 'lookup failing');
 *   } else if (refusals.recovered(host)) {
 *     logger.info({ host }, 'resolves again');
 *   }
 */
export class RefusalMemo {
  /** Per subject, the reason last said of it. */
  readonly #said = new Map<string, string>();

  /**
   * Whether `reason` is news for `subject` (not the reason last said of it): the caller says it
   * now, and from now on it is not news. Without a reason, any failure of a subject already
   * said is old news until it recovers.
   */
  news(subject: string, reason = ''): boolean {
    if (this.#said.get(subject) === reason) return false;
    this.#said.set(subject, reason);
    return true;
  }

  /** `reason` was said of `subject` another way (to a caller, at once): not news any more. */
  said(subject: string, reason = ''): void {
    this.#said.set(subject, reason);
  }

  /**
   * `subject` works again (or is gone): what was said of it is forgotten, so a later refusal
   * is news. True when a refusal of it had been said — its recovery is news too.
   */
  recovered(subject: string): boolean {
    return this.#said.delete(subject);
  }
}
