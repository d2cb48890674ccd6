// A real etcd for a test (examples/etcd-server.ts), with a client of its own for the test to
// write keys with; both closed, and the data removed, by the test pool.
import { Etcd3 } from 'etcd3';
import { startEtcdProcess, type EtcdProcess } from '../../examples/etcd-server.js';
import type { TestPool } from './servers.js';

export interface EtcdServer extends EtcdProcess {
  readonly client: Etcd3;
}

export async function startEtcd(pool: TestPool): Promise<EtcdServer> {
  const etcd = await startEtcdProcess();
  const client = new Etcd3({ hosts: `http://${etcd.endpoint}` });
  pool.defer(async () => {
    client.close();
    await etcd.dispose();
  });
  return Object.assign(etcd, { client });
}
