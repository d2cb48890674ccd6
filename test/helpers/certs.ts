// Test certificates made by openssl (Debian's, on every machine): a CA, and certificates it
// signs for servers (SAN IP 127.0.0.1 and DNS localhost) and clients. Written to a temp
// directory the pool removes.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requireBinary } from '../../examples/system-package.js';
import type { TestPool } from './servers.js';

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

export function testCa(pool: TestPool): TestCa {
  const dir = mkdtempSync(join(tmpdir(), 'meshlite-certs-'));
  pool.defer(() => rmSync(dir, { recursive: true, force: true }));
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl(dir, 'req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-subj', '/CN=meshlite test CA', '-days', '2');
  return {
    dir,
    caFile: join(dir, 'ca.crt'),
    issue(name, usage, subjectAltName = 'IP:127.0.0.1,DNS:localhost') {
      writeFileSync(join(dir, `${name}.ext`), `subjectAltName=${subjectAltName}\nextendedKeyUsage=${usage}\n`);
      openssl(dir, 'req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
      openssl(dir, 'x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.crt`, '-days', '2', '-extfile', `${name}.ext`);
      return { caFile: join(dir, 'ca.crt'), certFile: join(dir, `${name}.crt`), keyFile: join(dir, `${name}.key`) };
    },
  };
}
