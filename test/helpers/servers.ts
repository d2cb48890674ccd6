// In-process gRPC servers for tests: bound on 127.0.0.1:0 and always torn down.
import * as grpc from '@grpc/grpc-js';

export interface TestServer {
  readonly server: grpc.Server;
  readonly port: number;
  readonly address: string;
}

/** Binds a new server on 127.0.0.1 with a free port after `setup` added its services. */
export async function startServer(
  setup: (server: grpc.Server) => void,
  options: grpc.ServerOptions = {},
  port = 0,
  credentials = grpc.ServerCredentials.createInsecure(),
): Promise<TestServer> {
  const server = new grpc.Server(options);
  setup(server);
  const bound = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`127.0.0.1:${port}`, credentials, (error, boundPort) => (error ? reject(error) : resolve(boundPort)));
  });
  return { server, port: bound, address: `127.0.0.1:${bound}` };
}

/**
 * Registers an afterEach hook that force-stops every server and closes every client created
 * through the returned pool during the test, whatever the test's outcome.
 *
 * @example
 *   const pool = useTestPool();
 *   it('...', async () => { const { address } = await pool.server((s) => ...); });
 */
export type TestPool = ReturnType<typeof useTestPool>;

export function useTestPool() {
  const cleanups: Array<() => unknown> = [];
  afterEach(async () => {
    while (cleanups.length > 0) await cleanups.pop()!();
  });
  return {
    async server(setup: (server: grpc.Server) => void, options?: grpc.ServerOptions): Promise<TestServer> {
      const started = await startServer(setup, options);
      cleanups.push(() => started.server.forceShutdown());
      return started;
    },
    /** Tracks a client (or anything closable) for teardown. */
    track<T extends { close(): void }>(closable: T): T {
      cleanups.push(() => closable.close());
      return closable;
    },
    /** Runs `cleanup` after the test. */
    defer(cleanup: () => unknown): void {
      cleanups.push(cleanup);
    },
  };
}

/** Resolves with the next value `subscribe` delivers that satisfies `predicate`. */
export function nextEvent<T>(
  subscribe: (listener: (value: T) => void) => () => void,
  predicate: (value: T) => boolean = () => true,
): Promise<T> {
  return new Promise((resolve) => {
    const dispose = subscribe((value) => {
      if (!predicate(value)) return;
      dispose();
      resolve(value);
    });
  });
}

/** Promise form of a unary call on any grpc-js client method. */
export function unary<Res>(invoke: (callback: (error: grpc.ServiceError | null, response?: Res) => void) => unknown): Promise<Res> {
  return new Promise((resolve, reject) => {
    invoke((error, response) => (error ? reject(error) : resolve(response as Res)));
  });
}

/** Resolves with the error of a call expected to fail, and fails the test if it succeeds. */
export async function expectGrpcError(promise: Promise<unknown>): Promise<grpc.ServiceError> {
  try {
    await promise;
  } catch (error) {
    return error as grpc.ServiceError;
  }
  throw new Error('expected the call to fail, but it succeeded');
}
