/**
 * Toolkit errors carry a stable `reason` and are recognised by a marker property rather than
 * `instanceof`, so `isMeshError` works even when two copies of the package are installed.
 */
const MESH_ERROR = Symbol.for('grpc-meshlite.error');

export type MeshErrorReason = 'invalid_config' | 'invalid_argument';

export class MeshError extends Error {
  readonly [MESH_ERROR] = true;
  readonly reason: MeshErrorReason;

  constructor(reason: MeshErrorReason, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'MeshError';
    this.reason = reason;
  }
}

/** Invalid options or config: names the field and the value it got. */
export class ConfigError extends MeshError {
  readonly field: string;
  readonly value: unknown;

  constructor(field: string, value: unknown, message: string) {
    super('invalid_config', message);
    this.name = 'ConfigError';
    this.field = field;
    this.value = value;
  }
}

export function isMeshError(error: unknown): error is MeshError {
  return typeof error === 'object' && error !== null && (error as Record<symbol, unknown>)[MESH_ERROR] === true;
}

export function isConfigError(error: unknown): error is ConfigError {
  return isMeshError(error) && error.reason === 'invalid_config';
}

/** What a caught value says, for a status's details: an Error's message, anything else as text. */
export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
