// The mesh's admin servers and the attempt statistics they show: recorded only while one runs.
import { createServer } from 'node:net';
import { expect } from 'chai';
import { MeshAdmin } from '../../src/admin/mesh-admin.js';
import { systemClock } from '../../src/clock.js';
import { MeshEvents } from '../../src/observability/events.js';

describe('mesh admin servers', () => {
  const source = {
    snapshot: () => [],
    config: () => ({ source: 'test', config: {} }),
    events: MeshEvents.create().events,
    clients: () => [],
  };

  it('records attempts and calls only while a server runs, and not at all when the port is taken', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    try {
      const admin = new MeshAdmin(systemClock);
      const port = (taken.address() as { port: number }).port;
      let refused = false;
      await admin.serve(source, { port }).catch(() => (refused = true));
      expect(refused).to.equal(true);
      expect(admin.recorder).to.equal(undefined);
      expect(admin.callRecorder('orders')).to.equal(undefined);

      const server = await admin.serve(source, { port: 0 });
      expect(admin.recorder).to.be.a('function');
      expect(admin.callRecorder('orders')).to.be.a('function');
      await server.close();
      expect(admin.recorder).to.equal(undefined);
      expect(admin.callRecorder('orders')).to.equal(undefined);
    } finally {
      taken.close();
    }
  });
});
