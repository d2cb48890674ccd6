import { expect } from 'chai';
import { RefusalMemo } from '../../src/observability/refusal-memo.js';

describe('RefusalMemo (each refusal said once)', () => {
  it('says a reason once per subject while it lasts, a new reason at once, and again after a recovery', () => {
    const memo = new RefusalMemo();
    const said = (subject: string, reason: string) => (memo.news(subject, reason) ? `${subject}: ${reason}` : undefined);
    const log = [
      said('a.json', 'not valid JSON'),
      said('a.json', 'not valid JSON'), // a retry: old news
      said('b.json', 'not valid JSON'), // another subject is its own
      said('a.json', 'weight -1'), // a new reason
      said('a.json', 'not valid JSON'), // back to the first: not what was said last, so news
    ].filter(Boolean);
    expect(log).to.deep.equal(['a.json: not valid JSON', 'b.json: not valid JSON', 'a.json: weight -1', 'a.json: not valid JSON']);

    expect(memo.recovered('a.json'), 'its recovery is news').to.equal(true);
    expect(memo.recovered('a.json'), 'said once').to.equal(false);
    expect(memo.news('a.json', 'not valid JSON'), 'failing again after a recovery').to.equal(true);
  });

  it('takes a refusal said another way as said, and an outage without a reason as one, whatever errors follow', () => {
    const memo = new RefusalMemo();
    memo.said('a.json', 'not valid JSON'); // mesh.update() threw it to its caller
    expect(memo.news('a.json', 'not valid JSON')).to.equal(false);
    expect(memo.recovered('never-failed.test')).to.equal(false);
    expect([memo.news('orders.test'), memo.news('orders.test'), memo.news('orders.test')]).to.deep.equal([true, false, false]);
  });
});
