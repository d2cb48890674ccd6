// The client's mutual-TLS files for the cert-rotation scenario: a throwaway CA with the
// backends' certificate (examples/tls-certs.ts), and the client's CA bundle, certificate and
// key in a directory of their own that the fault rewrites in place while the load runs.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createTestCa, meshCertificates, type CertFiles } from '../examples/tls-certs.js';

/** The identity the backends' certificate carries, and the one they let in. */
export const SERVER_IDENTITY = 'spiffe://meshlite/orders';
export const CLIENT_IDENTITY = 'spiffe://meshlite/bench';

export interface ClientFiles {
  readonly caFile: string;
  readonly certFile: string;
  readonly keyFile: string;
}

/**
 * @example
 *   const certificates = new RotatingClientCertificates();
 *   certificates.reset();            // before a run: CA alone, a fresh pair
 *   certificates.rotate(3000);       // the fault: new pair, CA bundle + a CA, new pair
 *   certificates.stopRotating();
 *   certificates.dispose();
 */
export class RotatingClientCertificates {
  /** The backends' files (ca.pem, server.pem, server.key), for `--tls-dir`. */
  readonly serverDir: string;
  /** What both stacks read, and what the rotation rewrites. */
  readonly files: ClientFiles;
  readonly #certificates = meshCertificates(SERVER_IDENTITY, CLIENT_IDENTITY);
  /** The CA the bundle gains during the rotation (it signs nothing the bench uses). */
  readonly #addedCa = createTestCa();
  readonly #timers = new Set<ReturnType<typeof setTimeout>>();
  #issued = 0;
  #next: CertFiles[] = [];

  constructor() {
    this.serverDir = this.#certificates.serverDir;
    const dir = join(this.#certificates.dir, 'client-files');
    mkdirSync(dir);
    this.files = { caFile: join(dir, 'ca.pem'), certFile: join(dir, 'client.pem'), keyFile: join(dir, 'client.key') };
    this.reset();
  }

  /**
   * Before a run: the bundle holds the one CA, the client a pair issued now, and the two pairs
   * the rotation will write are issued already (openssl stays out of the measured window).
   */
  reset(): void {
    this.stopRotating();
    writeFileSync(this.files.caFile, readFileSync(join(this.serverDir, 'ca.pem')));
    this.#write(this.#issue());
    this.#next = [this.#issue(), this.#issue()];
  }

  /**
   * Over `faultMs`: a newly issued pair at once, the CA bundle with a second CA added a third
   * in, another new pair two thirds in. Each file is rewritten in place (truncate, write), the
   * certificate just before its key, as a renewal agent that writes files does.
   */
  rotate(faultMs: number): void {
    const [first, second] = this.#next;
    if (!first || !second) throw new Error('rotate() again without reset(): the issued pairs are used up');
    this.#next = [];
    this.#write(first);
    this.#at(faultMs / 3, () =>
      writeFileSync(this.files.caFile, Buffer.concat([readFileSync(join(this.serverDir, 'ca.pem')), readFileSync(this.#addedCa.caFile)])),
    );
    this.#at((2 * faultMs) / 3, () => this.#write(second));
  }

  /** Cancels what the rotation has not written yet. */
  stopRotating(): void {
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
  }

  dispose(): void {
    this.stopRotating();
    this.#certificates.dispose();
    this.#addedCa.dispose();
  }

  #issue(): CertFiles {
    return this.#certificates.issueClient(`client-${++this.#issued}`);
  }

  #write(pair: CertFiles): void {
    const cert = readFileSync(pair.certFile);
    const key = readFileSync(pair.keyFile);
    writeFileSync(this.files.certFile, cert);
    writeFileSync(this.files.keyFile, key);
  }

  #at(ms: number, write: () => void): void {
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      write();
    }, ms);
    this.#timers.add(timer);
  }
}
