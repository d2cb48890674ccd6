// Runs ServiceA or ServiceB as its own process:
//   npm run service -- --name ServiceA --port 50051 [--fail-rate 0.1] [--latency-ms 20]
// kill -USR2 <pid> toggles health SERVING <-> NOT_SERVING; SIGTERM drains gracefully.
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { createLogger } from 'grpc-meshlite';
import { startBackend, ListenError, type Backend } from './backend.js';
import { DirectoryOrderStore, MemoryOrderStore } from './order-store.js';

const USAGE = `usage: npm run service -- --name <name> [--port <0-65535>] [--fail-rate <0..1>]
       [--latency-ms <ms>] [--store-dir <dir>] [--grace-ms <ms>] [--max-concurrent <n>]
       [--warmup-ms <ms>] [--log-level <level>]
       [--etcd <host:port,...> --etcd-prefix <prefix> [--weight <n>] [--ttl-seconds <s>]]
       [--tls-dir <dir> [--allow <identity,...>]]   mTLS from dir/ca.pem, dir/server.pem, dir/server.key
       [--max-connection-age-ms <ms> [--max-connection-age-grace-ms <ms>]]   close connections on a timer`;

/** Commands a supervising process (the demo) can send over the IPC channel. */
export type BackendCommand =
  | {
      type: 'faults';
      failRate?: number;
      latencyMs?: number;
      replyDelayMs?: number;
      silentMethods?: string[];
      /** null: no longer. */
      failWithoutHeader?: string | null;
    }
  | { type: 'health'; status: 'SERVING' | 'NOT_SERVING' }
  | { type: 'listen'; listening: boolean }
  | { type: 'stats'; id: number };

/** What the backend tells a supervising process. */
export type BackendReport =
  { type: 'listening'; name: string; port: number; pid: number } | { type: 'stats'; id: number; received: Record<string, number> };

interface ServiceFlags {
  name: string;
  port: number;
  failRate: number;
  latencyMs: number;
  storeDir: string | undefined;
  graceMs: number;
  maxConcurrent: number;
  warmupMs: number;
  logLevel: string;
  etcd: { endpoints: string[]; prefix: string; weight: number; ttlSeconds: number } | undefined;
  tls: { caFile: string; certFile: string; keyFile: string; allow: string[] } | undefined;
  maxConnectionAge: { ms: number; graceMs?: number } | undefined;
}

class UsageError extends Error {}

function parseFlags(argv: string[]): ServiceFlags {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        name: { type: 'string' },
        port: { type: 'string', default: '0' },
        'fail-rate': { type: 'string', default: '0' },
        'latency-ms': { type: 'string', default: '0' },
        'store-dir': { type: 'string' },
        'grace-ms': { type: 'string', default: '1000' },
        'max-concurrent': { type: 'string', default: '256' },
        'warmup-ms': { type: 'string', default: '0' },
        'log-level': { type: 'string', default: 'info' },
        etcd: { type: 'string' },
        'etcd-prefix': { type: 'string' },
        weight: { type: 'string', default: '1' },
        'ttl-seconds': { type: 'string', default: '3' },
        'tls-dir': { type: 'string' },
        allow: { type: 'string', default: '*' },
        'max-connection-age-ms': { type: 'string' },
        'max-connection-age-grace-ms': { type: 'string' },
        help: { type: 'boolean', default: false },
      },
    }));
  } catch (error) {
    throw new UsageError((error as Error).message.split('\n')[0]!.replace(/\. To specify.*$/, ''));
  }
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  if (!values.name) throw new UsageError('--name is required (e.g. --name ServiceA)');
  if ((values.etcd === undefined) !== (values['etcd-prefix'] === undefined)) throw new UsageError('--etcd and --etcd-prefix go together');
  if (values['max-connection-age-grace-ms'] !== undefined && values['max-connection-age-ms'] === undefined) {
    throw new UsageError('--max-connection-age-grace-ms needs --max-connection-age-ms');
  }
  // grpc-js takes the two as 32-bit timer delays: at most 2^31-1 ms (DESIGN: a longer one fires at once).
  const delay = (n: number) => Number.isInteger(n) && n >= 1 && n <= 2 ** 31 - 1;
  return {
    name: values.name,
    port: number('--port', values.port, (n) => Number.isInteger(n) && n >= 0 && n <= 65535, 'an integer 0-65535'),
    failRate: number('--fail-rate', values['fail-rate'], (n) => n >= 0 && n <= 1, 'a number from 0 to 1'),
    latencyMs: number('--latency-ms', values['latency-ms'], (n) => n >= 0, 'a number of ms >= 0'),
    storeDir: values['store-dir'],
    graceMs: number('--grace-ms', values['grace-ms'], (n) => n >= 0, 'a number of ms >= 0'),
    maxConcurrent: number('--max-concurrent', values['max-concurrent'], (n) => Number.isInteger(n) && n > 0, 'an integer > 0'),
    warmupMs: number('--warmup-ms', values['warmup-ms'], (n) => n >= 0, 'a number of ms >= 0'),
    logLevel: values['log-level'],
    etcd:
      values.etcd === undefined
        ? undefined
        : {
            endpoints: values.etcd.split(',').map((endpoint) => endpoint.trim()),
            prefix: values['etcd-prefix']!,
            weight: number('--weight', values.weight, (n) => n >= 0, 'a number >= 0'),
            ttlSeconds: number('--ttl-seconds', values['ttl-seconds'], (n) => Number.isInteger(n) && n >= 2, 'an integer >= 2'),
          },
    tls:
      values['tls-dir'] === undefined
        ? undefined
        : {
            caFile: join(values['tls-dir'], 'ca.pem'),
            certFile: join(values['tls-dir'], 'server.pem'),
            keyFile: join(values['tls-dir'], 'server.key'),
            allow: values.allow.split(',').map((entry) => entry.trim()),
          },
    maxConnectionAge:
      values['max-connection-age-ms'] === undefined
        ? undefined
        : {
            ms: number('--max-connection-age-ms', values['max-connection-age-ms'], delay, 'an integer number of ms from 1 to 2147483647'),
            // Without a grace, open calls may finish for as long as they take (grpc-go's default).
            ...(values['max-connection-age-grace-ms'] !== undefined && {
              graceMs: number(
                '--max-connection-age-grace-ms',
                values['max-connection-age-grace-ms'],
                delay,
                'an integer number of ms from 1 to 2147483647',
              ),
            }),
          },
  };
}

function number(flag: string, text: string, ok: (n: number) => boolean, expected: string): number {
  const value = text.trim() === '' ? NaN : Number(text);
  if (!Number.isFinite(value) || !ok(value)) throw new UsageError(`${flag} must be ${expected}, got "${text}"`);
  return value;
}

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2));
  const logger = createLogger({ name: flags.name, level: flags.logLevel });
  // grpc-js's own diagnostics go through our logger instead of bare stderr lines.
  grpc.setLogger({ error: (...args: unknown[]) => logger.debug({ grpc: args.join(' ') }, 'grpc-js') });
  const store = flags.storeDir ? new DirectoryOrderStore(flags.storeDir) : new MemoryOrderStore();
  const backend = await startBackend({
    name: flags.name,
    port: flags.port,
    store,
    logger,
    faults: { failRate: flags.failRate, latencyMs: flags.latencyMs },
    drain: { graceMs: flags.graceMs },
    maxConcurrent: flags.maxConcurrent,
    warmupMs: flags.warmupMs,
    ...(flags.etcd && { etcd: flags.etcd }),
    ...(flags.tls && { tls: flags.tls }),
    ...(flags.maxConnectionAge && { maxConnectionAge: flags.maxConnectionAge }),
  });
  process.send?.({ type: 'listening', name: flags.name, port: backend.port, pid: process.pid } satisfies BackendReport);
  wireSignals(backend, logger);
}

function wireSignals(backend: Backend, logger: ReturnType<typeof createLogger>): void {
  process.on('SIGUSR2', () => logger.info({ status: backend.toggleHealth() }, 'SIGUSR2: health toggled'));
  let draining = false;
  const drain = (signal: string) => {
    if (draining) return;
    draining = true;
    logger.info({ signal }, 'draining');
    void backend.drain().then(({ forced }) => {
      logger.info({ forced }, 'stopped');
      process.exit(0);
    });
  };
  process.on('SIGTERM', () => drain('SIGTERM'));
  process.on('SIGINT', () => drain('SIGINT'));
  process.on('message', (command: BackendCommand) => {
    if (command.type === 'faults') {
      if (command.failRate !== undefined) backend.faults.failRate = command.failRate;
      if (command.latencyMs !== undefined) backend.faults.latencyMs = command.latencyMs;
      if (command.replyDelayMs !== undefined) backend.faults.replyDelayMs = command.replyDelayMs;
      if (command.silentMethods !== undefined) backend.faults.silentMethods = command.silentMethods;
      if (command.failWithoutHeader !== undefined) backend.faults.failWithoutHeader = command.failWithoutHeader ?? undefined;
      logger.info({ ...backend.faults }, 'faults changed');
    } else if (command.type === 'health') {
      backend.health.setAll(command.status);
    } else if (command.type === 'listen') {
      backend.listen(command.listening).then(
        () => logger.info({ listening: command.listening }, command.listening ? 'listening again' : 'not accepting connections'),
        (error: Error) => logger.error({ err: error.message }, 'cannot listen again'),
      );
    } else if (command.type === 'stats') {
      process.send?.({ type: 'stats', id: command.id, received: backend.received } satisfies BackendReport);
    }
  });
  // Without a supervisor the IPC channel never closes; with one, its exit ends us too.
  process.on('disconnect', () => drain('supervisor gone'));
}

main().catch((error: unknown) => {
  if (error instanceof UsageError) {
    console.error(`service: ${error.message}\n${USAGE}`);
    process.exit(2);
  }
  if (error instanceof ListenError) {
    console.error(`service: ${error.message}`);
    process.exit(1);
  }
  console.error(error);
  process.exit(1);
});
