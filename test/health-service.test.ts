import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { expect } from 'chai';
import { protoPath as officialHealthProto } from 'grpc-health-check';
import { HealthService, HealthState } from 'grpc-meshlite';
import { HealthClient, healthServiceDefinition } from 'grpc-meshlite/layers';
import { expectGrpcError, nextEvent, unary, useTestPool } from './helpers/servers.js';
import { streamReader } from './helpers/streams.js';

describe('grpc.health.v1 service', () => {
  const pool = useTestPool();

  async function serve(initial: Record<string, 'SERVING' | 'NOT_SERVING'> = { '': 'SERVING' }) {
    const state = new HealthState(initial);
    const service = new HealthService(state);
    const { address } = await pool.server((server) => service.addTo(server));
    const client = pool.track(new HealthClient(address, grpc.credentials.createInsecure()));
    const check = (name: string) => unary<{ status: string }>((cb) => client.check({ service: name }, {}, cb));
    return { state, service, client, check };
  }

  describe('Check', () => {
    it('answers the status of a known service and of the whole server', async () => {
      const { check } = await serve({ '': 'SERVING', orders: 'NOT_SERVING' });
      expect(await check('')).to.deep.equal({ status: 'SERVING' });
      expect(await check('orders')).to.deep.equal({ status: 'NOT_SERVING' });
    });

    it('answers NOT_FOUND for a service that does not exist', async () => {
      const { check } = await serve();
      const error = await expectGrpcError(check('nope'));
      expect(error.code).to.equal(grpc.status.NOT_FOUND);
      expect(error.details).to.contain('nope');
    });
  });

  describe('Watch', () => {
    it('sends the current status at once, then every change, without repeats', async () => {
      const { state, client } = await serve({ '': 'SERVING', orders: 'SERVING' });
      const reader = streamReader(client.watch({ service: 'orders' }));
      expect(await reader.next()).to.deep.equal({ status: 'SERVING' });
      state.set('orders', 'NOT_SERVING');
      state.set('orders', 'NOT_SERVING');
      state.set('', 'NOT_SERVING'); // another service: not for this watcher
      state.set('orders', 'SERVING');
      expect(await reader.next()).to.deep.equal({ status: 'NOT_SERVING' });
      expect(await reader.next()).to.deep.equal({ status: 'SERVING' });
      reader.cancel();
    });

    it('reports SERVICE_UNKNOWN, keeps the stream open, and reports a service registered later', async () => {
      const { state, client } = await serve();
      const reader = streamReader(client.watch({ service: 'late' }));
      expect(await reader.next()).to.deep.equal({ status: 'SERVICE_UNKNOWN' });
      state.set('late', 'SERVING');
      expect(await reader.next()).to.deep.equal({ status: 'SERVING' });
      state.remove('late');
      expect(await reader.next()).to.deep.equal({ status: 'SERVICE_UNKNOWN' });
      reader.cancel();
    });

    it('forgets the watcher when the client cancels', async () => {
      const { service, client } = await serve();
      const reader = streamReader(client.watch({ service: '' }));
      await reader.next();
      expect(service.watchCount).to.equal(1);
      const gone = nextEvent<number>(
        (l) => service.onWatchCountChange(l),
        (count) => count === 0,
      );
      reader.cancel();
      await gone;
      expect(service.watchCount).to.equal(0);
    });
  });

  describe('List', () => {
    it('returns every service with its status', async () => {
      const { client } = await serve({ '': 'SERVING', orders: 'NOT_SERVING' });
      const response = await unary<{ statuses: Record<string, { status: string }> }>((cb) => client.list({}, {}, cb));
      expect(response.statuses).to.deep.equal({ '': { status: 'SERVING' }, orders: { status: 'NOT_SERVING' } });
    });

    it('refuses more than 100 services with RESOURCE_EXHAUSTED', async () => {
      const { state, client } = await serve();
      for (let i = 0; i < 100; i++) state.set(`svc-${i}`, 'SERVING');
      const error = await expectGrpcError(unary((cb) => client.list({}, {}, cb)));
      expect(error.code).to.equal(grpc.status.RESOURCE_EXHAUSTED);
    });
  });

  it('works with a client built from the official grpc.health.v1 proto (grpc-health-check)', async () => {
    const { state } = await serve({ '': 'SERVING', orders: 'SERVING' });
    const definition = protoLoader.loadSync(officialHealthProto, { keepCase: true, enums: String, defaults: true });
    const { address } = await pool.server((server) => new HealthService(state).addTo(server));
    const Official = grpc.loadPackageDefinition(definition)['grpc']!;
    const Health = ((Official as grpc.GrpcObject)['health'] as grpc.GrpcObject)['v1'] as grpc.GrpcObject;
    const Ctor = Health['Health'] as grpc.ServiceClientConstructor;
    const client = pool.track(new Ctor(address, grpc.credentials.createInsecure()));
    const response = await unary<{ status: string }>((cb) => client['Check']!({ service: 'orders' }, cb));
    expect(response.status).to.equal('SERVING');
    const reader = streamReader<{ status: string }>(client['Watch']!({ service: 'orders' }));
    expect((await reader.next()).status).to.equal('SERVING');
    state.set('orders', 'NOT_SERVING');
    expect((await reader.next()).status).to.equal('NOT_SERVING');
    reader.cancel();
  });

  it('speaks the wire format of the shipped protos/health.proto byte for byte (no protobuf.js at run time)', () => {
    const fromFile = protoLoader.loadSync(fileURLToPath(new URL('../protos/health.proto', import.meta.url)), {
      keepCase: true,
      enums: String,
      defaults: true,
      oneofs: true,
    })['grpc.health.v1.Health'] as grpc.ServiceDefinition;
    const samples: Record<string, [unknown, unknown][]> = {
      Check: [
        [{ service: 'orders' }, { status: 'NOT_SERVING' }],
        [{ service: '' }, { status: 'UNKNOWN' }],
        [{ service: 'é'.repeat(200) }, { status: 'SERVICE_UNKNOWN' }],
      ],
      List: [
        [{}, { statuses: { orders: { status: 'SERVING' }, '': { status: 'SERVICE_UNKNOWN' } } }],
        [{}, { statuses: {} }],
      ],
      Watch: [[{ service: '' }, { status: 'SERVING' }]],
    };
    expect(Object.keys(healthServiceDefinition)).to.have.members(Object.keys(fromFile));
    for (const [name, method] of Object.entries(fromFile)) {
      const embedded = healthServiceDefinition[name]!;
      expect([embedded.path, embedded.requestStream, embedded.responseStream, embedded.originalName]).to.deep.equal([
        method.path,
        method.requestStream,
        method.responseStream,
        method.originalName,
      ]);
      for (const [request, response] of samples[name]!) {
        const requestBytes = method.requestSerialize(request);
        expect(embedded.requestSerialize(request)).to.deep.equal(requestBytes);
        expect(embedded.requestDeserialize(requestBytes)).to.deep.equal(method.requestDeserialize(requestBytes));
        const bytes = method.responseSerialize(response);
        expect(embedded.responseSerialize(response)).to.deep.equal(bytes);
        expect(embedded.responseDeserialize(bytes)).to.deep.equal(method.responseDeserialize(bytes));
        // A newer peer's fields (here field 15 as a varint and field 9 as bytes) are skipped.
        const extended = Buffer.concat([Buffer.from([0x78, 0x96, 0x01, 0x4a, 0x02, 0x68, 0x69]), bytes]);
        expect(embedded.responseDeserialize(extended)).to.deep.equal(method.responseDeserialize(extended));
      }
    }
    expect(() => healthServiceDefinition['Check']!.responseDeserialize(Buffer.from([0x0a, 0x05, 0x61]))).to.throw(/truncated/);
  });
});

describe('HealthState', () => {
  it('rejects a status that grpc.health.v1 does not have, naming it', () => {
    const state = new HealthState();
    expect(() => state.set('orders', 'MAYBE' as never)).to.throw(/orders.*"MAYBE"/);
  });

  it('setAll changes every service, the whole server included', () => {
    const state = new HealthState({ orders: 'SERVING' });
    state.setAll('NOT_SERVING');
    expect(Object.fromEntries(state.list())).to.deep.equal({ orders: 'NOT_SERVING', '': 'NOT_SERVING' });
  });
});
