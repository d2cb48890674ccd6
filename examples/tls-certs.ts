// Throwaway certificates made by the system's openssl (Debian's): a CA, and certificates it
// signs for servers (SAN IP 127.0.0.1 and DNS localhost by default) and clients, in a temp
// directory. For the demo over mTLS and the tests; never for production.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requireBinary } from './system-package.js';

export interface CertFiles {
  readonly caFile: string;
  readonly certFile: string;
  readonly keyFile: string;
}

export interface TestCa {
  readonly dir: string;
  readonly caFile: string;
  /** A certificate signed by the CA, for a server (`serverAuth`), a client (`clientAuth`) or both. */
  issue(name: string, usage: 'serverAuth' | 'clientAuth' | 'serverAuth,clientAuth', subjectAltName?: string): CertFiles;
}

function openssl(dir: string, ...args: string[]): void {
  execFileSync(requireBinary('openssl', 'openssl'), args, { cwd: dir, stdio: 'pipe' });
}

/** A new CA in a temp directory; `dispose()` removes it. */
export function createTestCa(): TestCa & { dispose(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'meshlite-certs-'));
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl(dir, 'req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-subj', '/CN=meshlite test CA', '-days', '2');
  return {
    dir,
    caFile: join(dir, 'ca.crt'),
    dispose: () => rmSync(dir, { recursive: true, force: true }),
    issue(name, usage, subjectAltName = 'IP:127.0.0.1,DNS:localhost') {
      writeFileSync(join(dir, `${name}.ext`), `subjectAltName=${subjectAltName}\nextendedKeyUsage=${usage}\n`);
      openssl(dir, 'req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
      openssl(
        dir,
        'x509',
        '-req',
        '-in',
        `${name}.csr`,
        '-CA',
        'ca.crt',
        '-CAkey',
        'ca.key',
        '-CAcreateserial',
        '-out',
        `${name}.crt`,
        '-days',
        '2',
        '-extfile',
        `${name}.ext`,
      );
      return { caFile: join(dir, 'ca.crt'), certFile: join(dir, `${name}.crt`), keyFile: join(dir, `${name}.key`) };
    },
  };
}

/**
 * A throwaway CA with a certificate for the backends (127.0.0.1 and `serverId`) in the layout
 * `npm run service -- --tls-dir` reads (ca.pem, server.pem, server.key), and one for a client
 * carrying `clientId`; `issueClient` signs another one for the same client (a rotation). For the
 * demo and the bench over mTLS.
 */
export function meshCertificates(serverId: string, clientId: string) {
  const ca = createTestCa();
  const server = ca.issue('server', 'serverAuth', `IP:127.0.0.1,URI:${serverId}`);
  const client = ca.issue('client', 'clientAuth', `URI:${clientId}`);
  const serverDir = join(ca.dir, 'server');
  mkdirSync(serverDir);
  copyFileSync(ca.caFile, join(serverDir, 'ca.pem'));
  copyFileSync(server.certFile, join(serverDir, 'server.pem'));
  copyFileSync(server.keyFile, join(serverDir, 'server.key'));
  const issueClient = (name: string) => ca.issue(name, 'clientAuth', `URI:${clientId}`);
  return { dir: ca.dir, serverDir, client, issueClient, dispose: () => ca.dispose() };
}
