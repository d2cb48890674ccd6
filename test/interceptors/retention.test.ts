// A finished call lets go of what its caller gave and got. grpc-js's own objects hold an
// attempt's listener after the end, and the caller may hold its call object for as long as it
// likes; whatever those still point to outlives the call (and, once the garbage collector has
// moved them to the old generation, survives every young collection until the next full one).
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import { createClientStack } from 'grpc-meshlite';

setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

interface Watched {
  request?: WeakRef<object>;
  response?: WeakRef<object>;
  callback?: WeakRef<object>;
}

/**
 * One GetOrder through the stack's interceptor, answered by an interceptor after it (as
 * grpc-js's bottom call would be) that keeps the listener it was started with, as grpc-js's
 * call objects do. Returns what grpc-js and the caller still hold once the caller has its answer.
 */
async function finishedCall(interceptors: grpc.Interceptor[], watched: Watched): Promise<unknown[]> {
  const held: unknown[] = [];
  const answering: grpc.Interceptor = () => {
    let listener: grpc.InterceptingListener | undefined;
    const call = {
      start(_metadata: grpc.Metadata, started: grpc.InterceptingListener) {
        listener = started;
        held.push(started);
      },
      sendMessage() {},
      sendMessageWithContext() {},
      halfClose() {
        const response = { id: 'o-1', item: 'book' };
        watched.response = new WeakRef(response);
        queueMicrotask(() => {
          listener!.onReceiveMetadata(new grpc.Metadata());
          listener!.onReceiveMessage(response);
          listener!.onReceiveStatus({ code: grpc.status.OK, details: 'OK', metadata: new grpc.Metadata() });
        });
      },
      startRead() {},
      cancelWithStatus() {},
      getPeer: () => '127.0.0.1:50051',
      getAuthContext: () => null,
    };
    return call as unknown as grpc.InterceptingCall;
  };
  const client = new grpc.Client('127.0.0.1:1', grpc.credentials.createInsecure(), { interceptors: [...interceptors, answering] });
  try {
    await new Promise<void>((resolve, reject) => {
      const request = { id: 'o-1' };
      const callback = (error: grpc.ServiceError | null) => (error ? reject(error) : resolve());
      watched.request = new WeakRef(request);
      watched.callback = new WeakRef(callback);
      const serialize = (value: object) => Buffer.from(JSON.stringify(value));
      const deserialize = (bytes: Buffer) => JSON.parse(bytes.toString()) as object;
      held.push(client.makeUnaryRequest('/orders.v1.OrderService/GetOrder', serialize, deserialize, request, callback));
    });
  } finally {
    client.close();
  }
  return held;
}

describe('a finished call', () => {
  it("lets go of the request, the response and the caller's callback, while grpc-js and the caller still hold its objects", async () => {
    const stack = createClientStack({
      retry: { maxAttempts: 2, perAttemptTimeoutMs: 500, methods: { 'orders.v1.OrderService/GetOrder': { idempotent: true } } },
    });
    try {
      const watched: Watched = {};
      const held = await finishedCall(stack.interceptors, watched);
      expect(held).to.have.length(2); // the attempt's listener, the caller's call object
      await turn();
      collectGarbage();
      await turn();
      expect(
        {
          request: watched.request?.deref() === undefined,
          response: watched.response?.deref() === undefined,
          callback: watched.callback?.deref() === undefined,
        },
        'collected',
      ).to.deep.equal({ request: true, response: true, callback: true });
      expect(held).to.have.length(2);
    } finally {
      stack.close();
    }
  });
});
