import * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import { Supervisor, type SupervisorEvent } from '../examples/supervisor.js';
import { OrderClient, callUnary } from '../examples/orders.js';
import { readFileSync } from 'node:fs';
import { expectGrpcError, nextEvent, useTestPool } from './helpers/servers.js';
import { until } from './helpers/until.js';

describe('demo supervisor (self-healing at process level)', function () {
  this.timeout(30_000);
  const pool = useTestPool();

  it('restarts a killed backend on the same port, with backoff, and stops it on request', async () => {
    const supervisor = new Supervisor({ restartMs: 100 });
    pool.defer(() => supervisor.stop());
    await supervisor.start(['ServiceA']);
    const port = supervisor.port('ServiceA');
    const firstPid = supervisor.pid('ServiceA');
    const client = pool.track(new OrderClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure()));
    const key = new grpc.Metadata();
    key.set('idempotency-key', 'k');
    await callUnary(client.CreateOrder, client, { idempotency_key: 'k', item: 'book', quantity: 1 }, key);
    expect(await supervisor.stats('ServiceA')).to.deep.equal({ CreateOrder: 1 });

    const events: SupervisorEvent[] = [];
    supervisor.onEvent((event) => events.push(event));
    const restarted = nextEvent<SupervisorEvent>(
      (l) => supervisor.onEvent(l),
      (e) => e.kind === 'started',
    );
    supervisor.kill('ServiceA');
    expect(await restarted).to.include({ kind: 'started', name: 'ServiceA', port });
    expect(supervisor.pid('ServiceA')).not.to.equal(firstPid);
    expect(events.map((e) => e.kind)).to.deep.equal(['exited', 'restarting', 'started']);
    expect(events[1]).to.include({ inMs: 100 });
    const answer = await expectGrpcError(callUnary(client.GetOrder, client, { id: 'none' }));
    expect(answer.code).to.equal(grpc.status.NOT_FOUND); // the restarted process answers

    // Paused is SIGSTOPped, as the kernel sees it (state T), and running again after resume.
    const pid = supervisor.pid('ServiceA')!;
    supervisor.pause('ServiceA');
    expect(supervisor.state('ServiceA')).to.equal('paused');
    await until(() => processState(pid) === 'T', { describe: () => `state ${processState(pid)}` });
    supervisor.resume('ServiceA');
    expect(supervisor.state('ServiceA')).to.equal('running');
    await until(() => processState(pid) !== 'T', { describe: () => `state ${processState(pid)}` });
    expect(await supervisor.stats('ServiceA')).to.deep.equal({ GetOrder: 1 }); // the restarted process answers again
  });
});

/** The kernel's one-letter state of a process (R running, S sleeping, T stopped), from /proc. */
function processState(pid: number): string {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0]!;
}
