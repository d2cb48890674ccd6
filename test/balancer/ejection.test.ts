import * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import { EjectionTracker } from '../../src/balancer/ejection.js';
import { manualClock } from '../helpers/clock.js';

const { OK, UNAVAILABLE, DEADLINE_EXCEEDED, CANCELLED, NOT_FOUND } = grpc.status;

describe('passive ejection', () => {
  function tracker() {
    const clock = manualClock(0);
    const ejection = new EjectionTracker(
      { enabled: true, consecutiveFailures: 3, baseEjectionMs: 100, maxEjectionMs: 350, failureCodes: [UNAVAILABLE, DEADLINE_EXCEEDED] },
      clock,
    );
    const feed = (...codes: grpc.status[]) =>
      codes.map(
        (code) => (ejection.state.kind === 'probing' ? ejection.recordProbe(code) : ejection.record(code, () => true))?.kind ?? '-',
      );
    return { clock, ejection, feed };
  }

  it('ejects after consecutive failures; a success in between resets the count', () => {
    const { ejection, feed } = tracker();
    expect(feed(UNAVAILABLE, UNAVAILABLE, OK, UNAVAILABLE, DEADLINE_EXCEEDED)).to.deep.equal(['-', '-', '-', '-', '-']);
    expect(feed(UNAVAILABLE)).to.deep.equal(['ejected']);
    expect(ejection.state).to.deep.include({ kind: 'ejected', until: 100 });
  });

  it('ignores CANCELLED (a lost hedge); an application error such as NOT_FOUND proves the endpoint answers', () => {
    const { feed, ejection } = tracker();
    feed(UNAVAILABLE, UNAVAILABLE, CANCELLED, NOT_FOUND);
    expect(ejection.admitted).to.equal(true);
    expect(ejection.state).to.deep.include({ consecutiveFailures: 0 });
    feed(UNAVAILABLE, UNAVAILABLE, CANCELLED);
    expect(feed(UNAVAILABLE)).to.deep.equal(['ejected']);
  });

  it('probes with exactly one call when the time is up; success re-admits', () => {
    const { clock, ejection, feed } = tracker();
    feed(UNAVAILABLE, UNAVAILABLE, UNAVAILABLE);
    clock.tick(99);
    expect(ejection.expire()).to.equal(undefined);
    clock.tick(1);
    expect(ejection.expire()).to.deep.equal({ kind: 'probing' });
    expect(ejection.claimProbe()).to.equal(true);
    expect(ejection.claimProbe()).to.equal(false);
    expect(feed(OK)).to.deep.equal(['readmitted']);
    expect(ejection.admitted).to.equal(true);
  });

  it('lets the next call probe when the probe was cancelled (a lost hedge), and ignores late results of earlier calls', () => {
    const { clock, ejection } = tracker();
    for (let i = 0; i < 3; i++) ejection.record(UNAVAILABLE, () => true);
    clock.tick(100);
    ejection.expire();
    expect(ejection.claimProbe()).to.equal(true);
    expect(ejection.record(DEADLINE_EXCEEDED, () => true)).to.equal(undefined); // sent before the ejection
    expect(ejection.recordProbe(CANCELLED)).to.equal(undefined);
    expect(ejection.claimProbe()).to.equal(true);
    expect(ejection.recordProbe(OK)).to.deep.equal({ kind: 'readmitted', reason: 'probe call succeeded (OK)' });
  });

  it('ejects again for twice as long when the probe fails, up to the cap', () => {
    const { clock, ejection, feed } = tracker();
    const penalties: number[] = [];
    feed(UNAVAILABLE, UNAVAILABLE, UNAVAILABLE);
    for (let i = 0; i < 4; i++) {
      const state = ejection.state as { until: number };
      penalties.push(state.until - clock.now());
      clock.tick(state.until - clock.now());
      ejection.expire();
      ejection.claimProbe();
      feed(UNAVAILABLE);
    }
    expect(penalties).to.deep.equal([100, 200, 350, 350]);
  });

  it('never ejects when the caller says it is the last usable endpoint', () => {
    const { ejection } = tracker();
    for (let i = 0; i < 10; i++) ejection.record(UNAVAILABLE, () => false);
    expect(ejection.admitted).to.equal(true);
  });

  it('forgets old ejections after a long healthy stretch', () => {
    const { clock, ejection, feed } = tracker();
    feed(UNAVAILABLE, UNAVAILABLE, UNAVAILABLE);
    clock.tick(100);
    ejection.expire();
    ejection.claimProbe();
    feed(OK);
    clock.tick(1000);
    feed(UNAVAILABLE, UNAVAILABLE, UNAVAILABLE);
    expect((ejection.state as { until: number }).until - clock.now()).to.equal(100);
  });
});
