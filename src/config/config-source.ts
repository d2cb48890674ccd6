import { watch, readFileSync, type FSWatcher } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { parseMeshConfig, type MeshConfig } from './mesh-config.js';
import { setTimer, systemClock, unrefTimer } from '../clock.js';
import { ConfigError } from '../errors.js';
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

/**
 * A JSON config file, watched and hot-reloaded. The directory is watched rather than the
 * file, because editors and deploy tools replace files (rename) instead of writing in place.
 * A file that does not parse or validate is refused with the reason, and the last good
 * config keeps serving. The first load must succeed: there is nothing to fall back on.
 */
export class FileConfigSource implements ConfigSource {
  readonly #path: string;
  readonly #debounceMs: number;
  readonly #applied = new Signal<MeshConfig>();
  readonly #rejected = new Signal<Error>();
  #config: MeshConfig;
  #text: string;
  #watcher: FSWatcher | undefined;
  #timer: unknown;

  constructor(path: string, options: { watch?: boolean; debounceMs?: number } = {}) {
    this.#path = resolve(path);
    this.#debounceMs = options.debounceMs ?? 25;
    this.#text = this.#read();
    this.#config = this.#parse(this.#text);
    if (options.watch !== false) {
      const name = basename(this.#path);
      this.#watcher = watch(dirname(this.#path), (_event, file) => {
        if (file === null || file === name) this.#scheduleReload();
      });
      this.#watcher.unref();
    }
  }

  current(): MeshConfig {
    return this.#config;
  }

  describe(): string {
    return `file ${this.#path}`;
  }

  /** Reads the file now. Returns the error when it was refused. */
  reload(): Error | undefined {
    let text: string;
    try {
      text = this.#read();
      if (text === this.#text) return undefined;
      this.#config = this.#parse(text);
      this.#text = text;
    } catch (error) {
      this.#rejected.emit(error as Error);
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
    systemClock.clearTimeout(this.#timer);
    this.#watcher?.close();
    this.#watcher = undefined;
  }

  #scheduleReload(): void {
    systemClock.clearTimeout(this.#timer);
    this.#timer = unrefTimer(setTimer(systemClock, () => this.reload(), this.#debounceMs));
  }

  #read(): string {
    try {
      return readFileSync(this.#path, 'utf8');
    } catch (error) {
      throw new Error(`cannot read mesh config file ${this.#path}: ${(error as Error).message}`);
    }
  }

  #parse(text: string): MeshConfig {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (error) {
      throw new ConfigError('(file)', undefined, `mesh config file ${this.#path} is not valid JSON: ${(error as Error).message}`);
    }
    return parseMeshConfig(json, `mesh config file ${this.#path}`);
  }
}
