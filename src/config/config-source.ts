import { lstatSync, readFileSync, readlinkSync, statSync, watch, type FSWatcher } from 'node:fs';
import { dirname, join, parse, resolve, sep } from 'node:path';
import { parseMeshConfig, type MeshConfig } from './mesh-config.js';
import { setTimer, systemClock, unrefTimer, type Clock } from '../clock.js';
import { ConfigError } from '../errors.js';
import { RefusalMemo } from '../observability/refusal-memo.js';
import { Signal, type Disposer } from '../observability/signal.js';

/** Where a mesh gets its config from. */
export interface ConfigSource {
  /** The config in force: always a valid one. */
  current(): MeshConfig;
  /** "file /etc/mesh.json", "in-code config". */
  describe(): string;
  /** A new valid config is in force. */
  onApplied(listener: (config: MeshConfig) => void): Disposer;
  /** A new config was refused; `current()` is unchanged. */
  onRejected(listener: (error: Error) => void): Disposer;
  close(): void;
}

/** A config given in code; `replace` validates before it applies. */
export class StaticConfigSource implements ConfigSource {
  #config: MeshConfig;
  readonly #applied = new Signal<MeshConfig>();
  readonly #rejected = new Signal<Error>();

  constructor(input: unknown) {
    this.#config = parseMeshConfig(input);
  }

  current(): MeshConfig {
    return this.#config;
  }

  describe(): string {
    return 'in-code config';
  }

  /** Applies a new config, or throws a ConfigError and keeps the current one. */
  replace(input: unknown): void {
    try {
      this.#config = parseMeshConfig(input);
    } catch (error) {
      this.#rejected.emit(error as Error);
      throw error;
    }
    this.#applied.emit(this.#config);
  }

  onApplied(listener: (config: MeshConfig) => void): Disposer {
    return this.#applied.subscribe(listener);
  }

  onRejected(listener: (error: Error) => void): Disposer {
    return this.#rejected.subscribe(listener);
  }

  close(): void {}
}

/** The longest a burst of directory changes puts a reload off, in debounce periods. */
const MAX_DEBOUNCES = 8;

/**
 * A JSON config file, watched and hot-reloaded. Directories are watched rather than the file,
 * because editors and deploy tools replace files (rename, delete and re-create) instead of
 * writing in place; and every directory along the path's symlinks is watched, because
 * Kubernetes updates a mounted ConfigMap by swapping a `..data` symlink next to the file's
 * link, which changes no entry of the file's own name. Any change in those directories
 * re-reads the file (after a short debounce); an unchanged text is ignored.
 *
 * A file that does not parse or validate (a truncated or half-written one included) is
 * refused with the reason, and the last good config keeps serving; the next change is read
 * again. The first load must succeed: there is nothing to fall back on.
 *
 * The debounce and the wait before a refusal is said run on `clock` (default the real one), so
 * a test drives them by hand; the directory watches are real I/O either way.
 */
export class FileConfigSource implements ConfigSource {
  readonly #path: string;
  readonly #debounceMs: number;
  readonly #watch: boolean;
  readonly #clock: Clock;
  readonly #applied = new Signal<MeshConfig>();
  readonly #rejected = new Signal<Error>();
  /** Per watched directory, its watcher and which directory it is (a directory replaced under the same name is another). */
  readonly #watchers = new Map<string, { watcher: FSWatcher; id: string }>();
  #config: MeshConfig;
  #text: string;
  #timer: unknown;
  /** A refusal the watch saw, said once the file has stayed so for a while. */
  #confirm: unknown;
  /** Since when the watched file has failed to load. */
  #failingSince: number | undefined;
  /** The refusal last said, keyed by the path: said once while the file keeps failing so. */
  readonly #refusals = new RefusalMemo();
  /** When the first change of the changes the pending reload waits out was seen. */
  #burstStarted = 0;
  #closed = false;

  constructor(path: string, options: { watch?: boolean; debounceMs?: number; clock?: Clock } = {}) {
    this.#path = resolve(path);
    this.#debounceMs = options.debounceMs ?? 25;
    this.#watch = options.watch !== false;
    this.#clock = options.clock ?? systemClock;
    this.#text = this.#read();
    this.#config = this.#parse(this.#text);
    this.#watchDirectories();
  }

  current(): MeshConfig {
    return this.#config;
  }

  describe(): string {
    return `file ${this.#path}`;
  }

  /** Reads the file now. Returns the error when it was refused. */
  reload(): Error | undefined {
    const error = this.#load();
    if (error) {
      this.#rejected.emit(error);
      // Said now: the watch does not say it again.
      this.#failingSince = this.#clock.now();
      this.#refusals.said(this.#path, sameReason(error));
    } else {
      this.#failingSince = undefined;
      this.#refusals.recovered(this.#path);
    }
    return error;
  }

  /** Reads the file; applies a changed, valid one; returns why not otherwise (reported by the caller). */
  #load(): Error | undefined {
    // A swapped symlink may lead through other directories now.
    this.#watchDirectories();
    let text: string;
    try {
      text = this.#read();
      if (text === this.#text) return undefined;
      this.#config = this.#parse(text);
      this.#text = text;
    } catch (error) {
      return error as Error;
    }
    this.#applied.emit(this.#config);
    return undefined;
  }

  onApplied(listener: (config: MeshConfig) => void): Disposer {
    return this.#applied.subscribe(listener);
  }

  onRejected(listener: (error: Error) => void): Disposer {
    return this.#rejected.subscribe(listener);
  }

  close(): void {
    this.#closed = true;
    this.#clock.clearTimeout(this.#timer);
    this.#clock.clearTimeout(this.#confirm);
    for (const { watcher } of this.#watchers.values()) watcher.close();
    this.#watchers.clear();
  }

  #scheduleReload(): void {
    if (this.#closed) return;
    // Debounced, so a file being written is read once it is whole; but never put off for more
    // than MAX_DEBOUNCES debounce periods: another file in the same directory that changes all
    // the time (an app's log) must not hold a reload back for ever.
    const now = this.#clock.now();
    if (this.#timer === undefined) this.#burstStarted = now;
    this.#clock.clearTimeout(this.#timer);
    const delay = Math.min(this.#debounceMs, this.#burstStarted + this.#debounceMs * MAX_DEBOUNCES - now);
    this.#timer = unrefTimer(
      setTimer(
        this.#clock,
        () => {
          this.#timer = undefined;
          this.#loadWatched();
        },
        delay,
      ),
    );
  }

  /**
   * A reload the watch asked for. A file that does not parse may be one a slow writer is still
   * writing: a refusal is said only once the file has failed for MAX_DEBOUNCES periods, and
   * each reason once while it keeps failing — one error line per bad file, not one per chunk
   * written or per change beside it. `mesh.update()` says it at once.
   */
  #loadWatched(): void {
    const error = this.#load();
    if (error === undefined) {
      this.#failingSince = undefined;
      this.#refusals.recovered(this.#path);
      this.#clock.clearTimeout(this.#confirm);
      this.#confirm = undefined;
      return;
    }
    const now = this.#clock.now();
    this.#failingSince ??= now;
    const wait = this.#failingSince + this.#debounceMs * MAX_DEBOUNCES - now;
    if (wait > 0) {
      this.#confirm ??= unrefTimer(
        setTimer(
          this.#clock,
          () => {
            this.#confirm = undefined;
            this.#loadWatched();
          },
          wait,
        ),
      );
      return;
    }
    if (this.#refusals.news(this.#path, sameReason(error))) this.#rejected.emit(error);
  }

  /** Stops watching `dir` (if watched): the next reload watches whatever is there now. */
  #forget(dir: string): void {
    const known = this.#watchers.get(dir);
    if (!known) return;
    known.watcher.close();
    this.#watchers.delete(dir);
  }

  /** Watches every directory the path leads through (its own and each symlink's), and no other. */
  #watchDirectories(): void {
    if (!this.#watch || this.#closed) return;
    // The parents too: a directory deleted and made again (or swapped by a rename) under the
    // same name is a new directory, which a watch on the old one never hears of; its parent
    // does, and the reload that follows watches the new one.
    const wanted = new Set<string>();
    for (const dir of symlinkDirectories(this.#path)) wanted.add(dir).add(dirname(dir));
    for (const [dir, { watcher, id }] of this.#watchers) {
      if (!wanted.has(dir) || directoryId(dir) !== id) {
        watcher.close();
        this.#watchers.delete(dir);
      }
    }
    for (const dir of wanted) {
      if (this.#watchers.has(dir)) continue;
      const id = directoryId(dir);
      if (id === undefined) continue; // not there (yet): its parent reports when it appears
      try {
        const watcher = watch(dir, (_event, name) => {
          // A directory deleted and made again at once may get its inode back: an event in the
          // parent that names a watched directory is enough to watch it anew.
          if (name) this.#forget(join(dir, name.toString()));
          this.#scheduleReload();
        });
        watcher.on('error', () => {
          // The directory went away (an old ConfigMap generation): forget it; the next
          // reload watches whatever the path leads through then.
          watcher.close();
          if (this.#watchers.get(dir)?.watcher === watcher) this.#watchers.delete(dir);
          this.#scheduleReload();
        });
        watcher.unref();
        this.#watchers.set(dir, { watcher, id });
      } catch {
        // Gone between the two calls: as above.
      }
    }
  }

  #read(): string {
    try {
      return readFileSync(this.#path, 'utf8');
    } catch (error) {
      throw new ConfigError('(file)', this.#path, `cannot read mesh config file ${this.#path}: ${(error as Error).message}`);
    }
  }

  #parse(text: string): MeshConfig {
    if (text.trim() === '') {
      throw new ConfigError('(file)', undefined, `mesh config file ${this.#path} is empty (truncated, or still being written)`);
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (error) {
      const where = lineAndColumn(text, (error as Error).message);
      throw new ConfigError('(file)', undefined, `mesh config file ${this.#path} is not valid JSON${where}: ${(error as Error).message}`);
    }
    return parseMeshConfig(json, `mesh config file ${this.#path}`);
  }
}

/**
 * " at line 4, column 5" for the position JSON.parse names in its message (Node 20 gives only
 * an offset: "at position 32"), or where the text ends when it ended too soon; "" otherwise.
 */
function lineAndColumn(text: string, message: string): string {
  const offset = /at position (\d+)/.exec(message)?.[1];
  const at = offset !== undefined ? Number(offset) : /end of JSON input/i.test(message) ? text.length : undefined;
  if (at === undefined || at > text.length) return '';
  const before = text.slice(0, at);
  const line = before.split('\n').length;
  return ` at line ${line}, column ${at - before.lastIndexOf('\n')}`;
}

/** A refusal's reason without its positions: a file written in chunks fails at a new position each time, for one reason. */
function sameReason(error: Error): string {
  return error.message.replace(/\d+/g, '#');
}

/** Which directory `dir` is now (device and inode), or undefined when there is none. */
function directoryId(dir: string): string | undefined {
  try {
    const stats = statSync(dir);
    return `${stats.dev}:${stats.ino}`;
  } catch {
    return undefined;
  }
}

/**
 * The directories `path` leads through: its own, and for each symlink on the way (the file
 * itself or a directory above it), the directory the link lives in and where it points.
 * Bounded, so a symlink loop ends.
 */
function symlinkDirectories(path: string): Set<string> {
  const dirs = new Set<string>([dirname(path)]);
  const pending = [path];
  for (let hops = 0; pending.length > 0 && hops < 40; hops++) {
    const current = pending.pop()!;
    // Each component of the path may be a link; walk from the top.
    let prefix = parse(current).root;
    for (const part of current.slice(prefix.length).split(sep).filter(Boolean)) {
      const next = join(prefix, part);
      let target: string | undefined;
      try {
        if (lstatSync(next).isSymbolicLink()) target = resolve(prefix, readlinkSync(next));
      } catch {
        break; // does not exist (yet)
      }
      if (target !== undefined) {
        dirs.add(prefix);
        const rest = current.slice(next.length);
        pending.push(target + rest);
        break;
      }
      prefix = next;
    }
    dirs.add(dirname(current));
  }
  return dirs;
}
