// Discovery through etcd under a kill: ServiceA and ServiceB register themselves in a real etcd
// (TTL 3 s), a grpc-meshlite client finds them there, and ServiceA is SIGKILLed under load.
// Reported: how long until the client sends ServiceA nothing (its connection breaks first),
// how long until its key is gone from etcd and from the client's rotation (the lease runs
// out), and every call that failed meanwhile. Plain grpc-js has no etcd resolver: no pair.
import { createLogger } from 'grpc-meshlite';
import { createOrdersClient, exampleEtcdConfig } from '../examples/client.js';
import { startEtcdProcess } from '../examples/etcd-server.js';
import { LoadGenerator } from '../examples/load.js';
import { Supervisor } from '../examples/supervisor.js';

export interface EtcdKillRun {
  readonly calls: number;
  readonly errors: number;
  readonly errorsByCode: Readonly<Record<string, number>>;
  /** From the kill to the last call served by ServiceA (ms). */
  readonly lastServedMs: number;
  /** From the kill to the client's last pick of ServiceA (ms). */
  readonly lastPickMs: number;
  /** From the kill to ServiceA leaving the client's rotation: its key expired in etcd (ms). */
  readonly removedMs: number | null;
  readonly ttlSeconds: number;
}

const TTL_SECONDS = 3;

export async function runEtcdKill(storeDir: string, rate: number): Promise<EtcdKillRun> {
  const etcd = await startEtcdProcess();
  const weights: Record<string, string> = { ServiceA: '80', ServiceB: '20' };
  const supervisor = new Supervisor({
    args: ['--store-dir', storeDir, '--grace-ms', '200'],
    argsFor: (name) => [
      '--etcd',
      etcd.endpoint,
      '--etcd-prefix',
      'services/orders',
      '--weight',
      weights[name]!,
      '--ttl-seconds',
      String(TTL_SECONDS),
    ],
  });
  const orders = createOrdersClient(exampleEtcdConfig(etcd.endpoint), createLogger({ level: 'silent' }));
  try {
    await supervisor.start(['ServiceA', 'ServiceB']);
    orders.client.getChannel().getConnectivityState(true);
    const picksOfA = () => orders.mesh.snapshot('orders')[0]?.endpoints.find((e) => e.name === 'ServiceA')?.picks;
    const deadline = Date.now() + 15_000;
    while (picksOfA() === undefined || orders.mesh.snapshot('orders')[0]!.endpoints.filter((e) => e.status === 'in-rotation').length < 2) {
      if (Date.now() > deadline) throw new Error('ServiceA and ServiceB did not come into the rotation from etcd');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const load = new LoadGenerator(orders.client, { ratePerSecond: rate, keyPrefix: `etcd-${process.pid}` });
    await load.seed(5);
    load.start();
    await new Promise((resolve) => setTimeout(resolve, 2000));

    let removedAt: number | undefined;
    orders.mesh.events.onEndpoint((event) => {
      if (event.endpoint === 'ServiceA' && event.kind === 'removed') removedAt ??= Date.now();
    });
    // The last time ServiceA's pick count moved, sampled every 5 ms.
    let picks = picksOfA() ?? 0;
    let lastPickAt = Date.now();
    const sampler = setInterval(() => {
      const now = picksOfA();
      if (now !== undefined && now !== picks) {
        picks = now;
        lastPickAt = Date.now();
      }
    }, 5);
    const killedAt = Date.now();
    supervisor.kill('ServiceA', 60_000);
    while (removedAt === undefined && Date.now() < killedAt + (TTL_SECONDS + 5) * 1000)
      await new Promise((resolve) => setTimeout(resolve, 20));
    await new Promise((resolve) => setTimeout(resolve, 1000));
    clearInterval(sampler);
    await load.stop();

    const after = load.records.filter((r) => r.startedAt >= killedAt);
    const failed = after.filter((r) => r.code !== 0);
    const errorsByCode: Record<string, number> = {};
    for (const record of failed) errorsByCode[String(record.code)] = (errorsByCode[String(record.code)] ?? 0) + 1;
    const servedByA = load.records.filter((r) => r.servedBy === 'ServiceA' && r.code === 0).map((r) => r.endedAt);
    return {
      calls: after.length,
      errors: failed.length,
      errorsByCode,
      lastServedMs: Math.max(0, Math.max(...servedByA) - killedAt),
      lastPickMs: Math.max(0, lastPickAt - killedAt),
      removedMs: removedAt === undefined ? null : removedAt - killedAt,
      ttlSeconds: TTL_SECONDS,
    };
  } finally {
    orders.close();
    await supervisor.stop();
    await etcd.dispose();
  }
}
