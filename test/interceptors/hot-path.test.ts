// The pieces that replaced allocation-heavy code on every call keep the semantics of what
// they replaced: AbortSignal's for cancellation, a spread's for derived calls, and a pick
// reported for a finished attempt never reaches a later attempt.
import * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import { deriveCall } from 'grpc-meshlite/layers';
import { Cancellation, listenForAbort, stopListening, type CancelSignal } from '../../src/call/cancellation.js';
import {
  ROUTING_HINT_HEADER,
  RoutingHint,
  takeRoutingHint,
  withoutRoutingHint,
  withRoutingHint,
  withRoutingHintHeader,
} from '../../src/call/routing-hint.js';
import { md } from '../helpers/clients.js';
import { clientCall } from '../helpers/requests.js';

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

  it('Cancellation keeps that order through its one-listener form: removed alone, removed before a second, joined by more', () => {
    const heard: string[] = [];
    const listener = (name: string) => () => heard.push(name);
    const alone = new Cancellation();
    const gone = listener('alone');
    alone.addEventListener('abort', gone);
    alone.removeEventListener('abort', gone);
    alone.removeEventListener('abort', gone);
    alone.abort();
    const pair = new Cancellation();
    const first = listener('first of two');
    pair.addEventListener('abort', first);
    pair.addEventListener('abort', listener('second of two'));
    pair.removeEventListener('abort', first);
    pair.abort();
    const handler = { handleEvent: () => heard.push('handler') };
    const three = new Cancellation();
    three.addEventListener('abort', handler);
    three.addEventListener('abort', listener('then a function'));
    three.addEventListener('abort', listener('and another'));
    three.abort();
    expect(heard).to.deep.equal(['second of two', 'handler', 'then a function', 'and another']);
  });

  it('an attempt listens to any signal as an object (handleEvent), once, and stops listening on every kind', () => {
    const heard: string[] = [];
    const handler = (name: string) => ({ handleEvent: () => heard.push(name) });
    // A layer's own signal that takes only functions, as CancelSignal allows.
    const listeners: Array<() => void> = [];
    const own: CancelSignal = {
      aborted: false,
      reason: undefined,
      addEventListener: (_type, listener) => listeners.push(listener),
      removeEventListener: (_type, listener) => listeners.splice(listeners.indexOf(listener), 1),
    };
    const cancellation = new Cancellation();
    const controller = new AbortController();
    const signals: Array<[string, CancelSignal, () => void]> = [
      ['cancellation', cancellation, () => cancellation.abort('x')],
      ['abort signal', controller.signal, () => controller.abort('x')],
      ['own', own, () => [...listeners].forEach((listener) => listener())],
    ];
    for (const [name, signal, abort] of signals) {
      const kept = handler(name);
      const dropped = handler(`${name} (stopped)`);
      listenForAbort(signal, kept);
      stopListening(signal, listenForAbort(signal, dropped));
      abort();
    }
    expect(heard).to.deep.equal(['cancellation', 'abort signal', 'own']);
  });

  it('Cancellation without a reason aborts with an AbortError, like AbortController', () => {
    const cancel = new Cancellation();
    cancel.abort();
    expect((cancel.reason as DOMException).name).to.equal('AbortError');
  });

  it('deriveCall changes only the named fields, including setting one to undefined', () => {
    const hint = RoutingHint.create(['127.0.0.1:1']);
    const call = clientCall(undefined, { hint, deadline: 1000 });
    const derived = deriveCall(call, { deadline: 42, hint: undefined });
    expect(derived.deadline).to.equal(42);
    expect(derived.hint).to.equal(undefined);
    expect(call.deadline).to.not.equal(42);
    expect(call.hint).to.equal(hint);
    for (const key of ['method', 'message', 'metadata', 'signal', 'sink', 'callOptions'] as const) {
      expect(derived[key], key).to.equal(call[key]);
    }
    hint.release();
  });

  it("a routing hint crosses grpc-js in the metadata's options (kept by every clone, never a header), and hears its own pick only", () => {
    const first = RoutingHint.create(['127.0.0.1:50051']);
    const caller = md({ 'x-user': 'u' });
    caller.setOptions({ waitForReady: true });
    const sent = withRoutingHint(caller, first);
    // What grpc-js does on its way to the picker: clones (ResolvingCall, LoadBalancingCall).
    const atPicker = sent.clone().clone();
    expect(caller.getOptions()).to.deep.equal({ waitForReady: true }); // the caller's own is untouched
    expect(atPicker.getOptions().waitForReady).to.equal(true);
    expect(atPicker.toJSON()).to.deep.equal({ 'x-user': ['u'] });
    const taken = takeRoutingHint(atPicker)!;
    expect(taken.avoids('127.0.0.1:50051')).to.equal(true);
    expect(taken.avoids('127.0.0.1:50052')).to.equal(false);
    taken.report('127.0.0.1:50052');
    expect(first.picked()).to.equal('127.0.0.1:50052');
    first.release();
    expect(first.picked()).to.equal(undefined);

    // The slot is reused; the released hint's late report does not reach the new one.
    const second = RoutingHint.create();
    taken.report('127.0.0.1:50051');
    expect(second.picked()).to.equal(undefined);
    second.release();
  });

  it("a call entering a stack leaves behind the hint of another stack's attempt, and keeps its own options", () => {
    const outer = RoutingHint.create(['127.0.0.1:50051']);
    const caller = new grpc.Metadata({ waitForReady: true });
    const entering = withoutRoutingHint(withRoutingHint(caller, outer));
    expect(takeRoutingHint(entering)).to.equal(undefined);
    expect(entering.getOptions()).to.deep.equal({ waitForReady: true });
    expect(withoutRoutingHint(caller)).to.equal(caller); // nothing to strip: the same object
    outer.release();
  });

  it('a hint sent in the private header (nice-grpc rebuilds metadata) is found and stripped by the picker', () => {
    const hint = RoutingHint.create(['127.0.0.1:50051']);
    const sent = withRoutingHintHeader(new grpc.Metadata(), hint);
    const taken = takeRoutingHint(sent)!;
    expect(sent.get(ROUTING_HINT_HEADER)).to.deep.equal([]);
    expect(taken.avoids('127.0.0.1:50051')).to.equal(true);
    const token = hint.token;
    hint.release();
    const late = new grpc.Metadata();
    late.set(ROUTING_HINT_HEADER, token);
    expect(takeRoutingHint(late)).to.equal(undefined);
  });

  it('a hint header that did not come from this process steers nothing and never goes on', () => {
    const live = RoutingHint.create(['127.0.0.1:50051']);
    for (const forged of ['127.0.0.1:50051', live.token.replace(/^[^.]+/, 'other-process'), 'x.0.0', '']) {
      const metadata = new grpc.Metadata();
      metadata.set(ROUTING_HINT_HEADER, forged);
      expect(takeRoutingHint(metadata), forged).to.equal(undefined);
      expect(metadata.get(ROUTING_HINT_HEADER), forged).to.deep.equal([]);
    }
    live.release();
  });
});
