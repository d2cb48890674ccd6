// The pieces that replaced allocation-heavy code on every call keep the semantics of what
// they replaced: AbortSignal's for cancellation, a spread's for derived requests, and a pick
// reported for a finished attempt never reaches a later attempt.
import { expect } from 'chai';
import { Cancellation, deriveRequest } from 'grpc-meshlite';
import { reportPick, trackAttempt } from '../../src/interceptors/attempt-picks.js';
import { meshRequest } from '../helpers/requests.js';

describe('per-call building blocks', () => {
  it('Cancellation runs each listener once, in order, and never one added after or removed before', () => {
    const cancel = new Cancellation();
    const heard: string[] = [];
    const removed = () => heard.push('removed');
    cancel.addEventListener('abort', () => heard.push('first'));
    cancel.addEventListener('abort', removed);
    cancel.addEventListener('abort', () => heard.push(`second ${String(cancel.reason)}`));
    cancel.removeEventListener('abort', removed);
    expect(cancel.aborted).to.equal(false);
    cancel.abort('why');
    cancel.abort('again');
    cancel.addEventListener('abort', () => heard.push('late'));
    expect(heard).to.deep.equal(['first', 'second why']);
    expect(cancel.aborted).to.equal(true);
    expect(cancel.reason).to.equal('why');
  });

  it('Cancellation without a reason aborts with an AbortError, like AbortController', () => {
    const cancel = new Cancellation();
    cancel.abort();
    expect((cancel.reason as DOMException).name).to.equal('AbortError');
  });

  it('deriveRequest changes only the named fields, including setting one to undefined', () => {
    const request = meshRequest(undefined, { avoid: ['127.0.0.1:1'], deadline: 1000 });
    const derived = deriveRequest(request, { deadline: 42, avoid: undefined });
    expect(derived.deadline).to.equal(42);
    expect(derived.avoid).to.equal(undefined);
    expect(request.deadline).to.not.equal(42);
    expect(request.avoid).to.deep.equal(['127.0.0.1:1']);
    for (const key of ['method', 'message', 'metadata', 'signal', 'sink', 'callOptions'] as const) {
      expect(derived[key], key).to.equal(request[key]);
    }
  });

  it('an attempt hears its own pick, and a pick for a finished attempt is ignored by the next', () => {
    const first = trackAttempt();
    const id = first.id;
    reportPick(id, '127.0.0.1:50051');
    expect(first.picked()).to.equal('127.0.0.1:50051');
    first.done();
    const second = trackAttempt();
    reportPick(id, '127.0.0.1:50052');
    expect(second.picked()).to.equal(undefined);
    reportPick(second.id, '127.0.0.1:50052');
    expect(second.picked()).to.equal('127.0.0.1:50052');
    second.done();
  });
});
