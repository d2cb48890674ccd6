// Events become log lines in one place: the level and words of each line, and a mesh whose
// endpoint events are each said exactly once.
import { expect } from 'chai';
import { MeshEvents, type EndpointEvent } from '../../src/observability/events.js';
import { logMeshEvents } from '../../src/observability/event-log.js';
import { startFakeBackend } from '../helpers/fake-backend.js';
import { memoryLogger } from '../helpers/logs.js';
import { readyMeshClient } from '../helpers/mesh.js';
import { nextEvent, useTestPool } from '../helpers/servers.js';

const WARN = 40;
const INFO = 30;

describe('event log', () => {
  const pool = useTestPool();

  const endpointEvent = (kind: EndpointEvent['kind']): EndpointEvent => ({
    service: 'orders',
    endpoint: 'ServiceA',
    address: '127.0.0.1:1001',
    kind,
    reason: 'why',
  });

  it('says endpoint events that cost capacity as warnings, the others as info, with the event as the fields', () => {
    const { events, sink } = MeshEvents.create();
    const { logger, lines } = memoryLogger('info');
    logMeshEvents(events, logger);
    for (const kind of ['ejected', 'unhealthy', 'disconnected', 'added', 'readmitted'] as const) sink.endpoint(endpointEvent(kind));
    expect(lines.map((line) => [line.level, line.msg])).to.deep.equal([
      [WARN, 'endpoint ejected'],
      [WARN, 'endpoint unhealthy'],
      [WARN, 'endpoint disconnected'],
      [INFO, 'endpoint added'],
      [INFO, 'endpoint readmitted'],
    ]);
    expect(lines[0]).to.deep.include({
      service: 'orders',
      endpoint: 'ServiceA',
      address: '127.0.0.1:1001',
      kind: 'ejected',
      reason: 'why',
    });
  });

  it('says a tier failover as a warning, and nothing once disposed', () => {
    const { events, sink } = MeshEvents.create();
    const { logger, lines } = memoryLogger('info');
    const stop = logMeshEvents(events, logger);
    sink.failover({ service: 'orders', from: 0, to: 1, reason: 'priority 0 has no usable endpoint' });
    stop();
    sink.failover({ service: 'orders', from: 1, to: 0, reason: 'priority 0 usable again' });
    sink.endpoint(endpointEvent('ejected'));
    expect(lines.map((line) => [line.level, line.msg, line['from'], line['to']])).to.deep.equal([[WARN, 'tier failover', 0, 1]]);
  });

  it('writes each endpoint event of a mesh exactly once', async () => {
    const a = await startFakeBackend('ServiceA');
    pool.defer(() => a.stop());
    const { logger, lines } = memoryLogger('info');
    const { mesh } = await readyMeshClient(
      pool,
      { config: { services: { orders: { endpoints: [{ name: 'ServiceA', address: a.address }] } } }, logger },
      ['ServiceA'],
    );
    const disconnected = nextEvent<EndpointEvent>(
      (listener) => mesh.events.onEndpoint(listener),
      (event) => event.kind === 'disconnected',
    );
    a.stop();
    await disconnected;
    const said = (msg: string) => lines.filter((line) => line.msg === msg && line['endpoint'] === 'ServiceA').length;
    expect(said('endpoint added')).to.equal(1);
    expect(said('endpoint connected')).to.equal(1);
    expect(said('endpoint disconnected')).to.equal(1);
  });
});
