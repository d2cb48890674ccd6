import * as grpc from '@grpc/grpc-js';
import { describeMethod, type ClientCall, type ClientResult, type ClientNext } from 'grpc-meshlite/layers';

/** A request as the adapter would build it, for unit tests of single layers. */
export function clientCall(path = '/orders.v1.OrderService/GetOrder', overrides: Partial<ClientCall> = {}): ClientCall {
  return {
    method: describeMethod(path),
    message: {},
    metadata: new grpc.Metadata(),
    deadline: Infinity,
    signal: new AbortController().signal,
    sink: { headers: () => {}, message: () => {} },
    hint: undefined,
    route: undefined,
    callOptions: {},
    // Unit tests of single layers pass their own `next`: nothing reaches a transport.
    transport: () => Promise.reject(new Error('a unit test call has no transport')),
    via: undefined,
    trace: undefined,
    attempt: undefined,
    ...overrides,
  };
}

export function response(code: grpc.status, peer = '127.0.0.1:50051'): ClientResult {
  return {
    status: { code, details: grpc.status[code], metadata: new grpc.Metadata() },
    headers: undefined,
    message: code === grpc.status.OK ? { ok: true } : undefined,
    peer,
    attempts: [{ code, peer, mayHaveReachedServer: true, startedAt: 0, durationMs: 1 }],
  };
}

/** A `next` that answers with the codes given, in turn (the last one repeats), and counts calls. */
export function scriptedNext(...codes: grpc.status[]): ClientNext & { calls: number } {
  const next = Object.assign(
    async (_request: ClientCall) => {
      const code = codes[Math.min(next.calls, codes.length - 1)]!;
      next.calls++;
      return response(code);
    },
    { calls: 0 },
  );
  return next;
}
