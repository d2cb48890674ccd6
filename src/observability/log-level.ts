import type { Level } from 'pino';
import * as z from 'zod/mini';

/** A pino level a layer may log at: "fatal", "error", "warn", "info", "debug" or "trace". */
export const logLevelSchema = z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace']) satisfies z.ZodMiniType<Level>;
