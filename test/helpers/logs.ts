import { createLogger, type Logger } from 'grpc-meshlite';

export interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

/** A pino logger whose lines land in `lines` (parsed) and `raw` (exactly as written). */
export function memoryLogger(level = 'debug'): { logger: Logger; lines: LogLine[]; raw: string[] } {
  const lines: LogLine[] = [];
  const raw: string[] = [];
  const logger = createLogger({
    level,
    destination: {
      write(text: string) {
        raw.push(text);
        lines.push(JSON.parse(text) as LogLine);
      },
    },
  });
  return { logger, lines, raw };
}
