// An etcd v3 client (the `etcd3` package) as the mesh uses it. Loaded on first use: it reads
// its own .proto files at import, which an app that never uses etcd should not pay for (nor
// its bundler have to ship).
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Etcd3 } from 'etcd3';

export interface EtcdTlsConfig {
  /** CA bundle that signed the etcd servers' certificates (PEM file). */
  readonly caFile: string;
  /** Client certificate and key (PEM files), when etcd asks for one. */
  readonly certFile?: string;
  readonly keyFile?: string;
}

export interface EtcdConnection {
  /** The cluster's client endpoints: "127.0.0.1:2379" or "https://etcd-0:2379". */
  readonly endpoints: readonly string[];
  readonly tls?: EtcdTlsConfig;
  /** etcd's own user/password authentication. The password never reaches a log line. */
  readonly auth?: { readonly username: string; readonly password: string };
  /** How long one etcd request may take before it counts as failed. */
  readonly dialTimeoutMs: number;
}

/** What to install when etcd discovery or registration is used without it. */
export const ETCD3_MISSING = 'etcd discovery and registration need the etcd3 package, which is not installed: npm install etcd3@^1.1.2';

/**
 * etcd3, an optional peer dependency: an app that does not use etcd installs none of its
 * packages. Its cockatiel (the no-op policies that turn etcd3's own retries off) is etcd3's
 * dependency, found from where etcd3 is, not one of this package's.
 */
async function loadEtcd3() {
  let etcd3: typeof import('etcd3');
  try {
    etcd3 = await import('etcd3');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND') throw new Error(ETCD3_MISSING);
    throw error;
  }
  const fromEtcd3 = createRequire(createRequire(import.meta.url).resolve('etcd3'));
  const { noop } = fromEtcd3('cockatiel') as typeof import('cockatiel');
  return { Etcd3: etcd3.Etcd3, noop };
}

/** "etcd 127.0.0.1:2379,127.0.0.1:22379": for log lines and error messages (no secrets). */
export function describeEtcd(connection: EtcdConnection): string {
  return `etcd ${connection.endpoints.join(',')}`;
}

/**
 * A client for `connection`. The mesh does its own re-listing and backoff, so the client's
 * retries and per-host circuit breaker (which would keep a restarted etcd unused for 5 s) are
 * off, and its channels reconnect within a second.
 */
export async function connectEtcd(connection: EtcdConnection): Promise<Etcd3> {
  const { Etcd3, noop } = await loadEtcd3();
  const scheme = connection.tls ? 'https' : 'http';
  const { tls, auth } = connection;
  return new Etcd3({
    hosts: connection.endpoints.map((endpoint) => (endpoint.includes('://') ? endpoint : `${scheme}://${endpoint}`)),
    ...(tls && {
      credentials: {
        rootCertificate: readFileSync(tls.caFile),
        ...(tls.keyFile && { privateKey: readFileSync(tls.keyFile) }),
        ...(tls.certFile && { certChain: readFileSync(tls.certFile) }),
      },
    }),
    ...(auth && { auth: { username: auth.username, password: auth.password } }),
    dialTimeout: connection.dialTimeoutMs,
    // Requests end in time; streams (watch, lease keep-alive) live on.
    defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + connection.dialTimeoutMs }),
    faultHandling: { host: () => noop, global: noop },
    grpcOptions: {
      'grpc.initial_reconnect_backoff_ms': 100,
      'grpc.max_reconnect_backoff_ms': 1000,
      // A silent outage (host gone, packets dropped) ends the watch stream within ~15 s, which
      // leads to a fresh list; etcd refuses pings more often than every 5 s by default, and
      // pings on a connection without a stream (its PermitWithoutStream is false, as in
      // etcd's own clientv3): those made it answer GOAWAY "too many pings" after a while, and
      // grpc-js then doubled the interval. The watch and the lease keep-alive are streams, so
      // the pings that matter still go.
      'grpc.keepalive_time_ms': 10_000,
      'grpc.keepalive_timeout_ms': 5000,
      'grpc.keepalive_permit_without_calls': 0,
    },
  });
}
