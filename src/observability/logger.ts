import type { Metadata } from '@grpc/grpc-js';
import { pino, type Logger, type LoggerOptions, type DestinationStream } from 'pino';

export type { Logger } from 'pino';

/**
 * Metadata keys whose values never reach a log line. Matching is case-insensitive; any key
 * that contains one of the words in SECRET_WORDS is treated as secret too.
 */
export const SECRET_METADATA_KEYS: readonly string[] = ['authorization', 'proxy-authorization', 'cookie', 'set-cookie', 'x-api-key'];
const SECRET_WORDS = /token|secret|password|passwd|api-key|apikey|credential|session/i;

export const REDACTED = '[REDACTED]';

export function isSecretMetadataKey(key: string): boolean {
  const lower = key.toLowerCase();
  return SECRET_METADATA_KEYS.includes(lower) || SECRET_WORDS.test(lower);
}

/**
 * Metadata as a plain object that is safe to log: secret values replaced by `[REDACTED]`,
 * binary values by their size.
 */
export function loggableMetadata(metadata: Metadata): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, values] of Object.entries(metadata.getMap())) {
    if (isSecretMetadataKey(key)) out[key] = REDACTED;
    else if (Buffer.isBuffer(values)) out[key] = `<${values.length} bytes>`;
    else out[key] = String(values);
  }
  return out;
}

export interface LoggerSettings {
  /** pino level. Default: $MESHLITE_LOG_LEVEL, else "info". */
  level?: string;
  /** Bound as `name` on every line, e.g. "ServiceA". */
  name?: string;
  /** Where lines go. Default: stdout. */
  destination?: DestinationStream;
}

/**
 * The toolkit's pino logger. Besides our own metadata filtering, pino's redaction is on for
 * the usual places a secret could hide in an object someone logs.
 *
 * @example
 *   const log = createLogger({ name: 'ServiceA' });
 *   log.info({ port: 50051 }, 'listening');
 */
export function createLogger(settings: LoggerSettings = {}): Logger {
  const options: LoggerOptions = {
    level: settings.level ?? process.env['MESHLITE_LOG_LEVEL'] ?? 'info',
    base: settings.name ? { name: settings.name } : { pid: process.pid },
    redact: {
      paths: [
        'authorization',
        '*.authorization',
        '*.*.authorization',
        'headers.cookie',
        'metadata.cookie',
        'password',
        '*.password',
        'token',
        '*.token',
      ],
      censor: REDACTED,
    },
  };
  return settings.destination ? pino(options, settings.destination) : pino(options);
}

/** A logger that drops everything, for components whose caller did not ask for logs. */
export const silentLogger: Logger = pino({ level: 'silent' });
