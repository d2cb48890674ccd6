// TLS credentials from PEM files that rotate: a grpc-js certificate provider that re-reads
// the files every `refreshMs`, and hands a new CA bundle or certificate/key pair to grpc-js
// (for new connections; open ones keep theirs) only once it has checked that Node can use it
// — the CA parses, the certificate parses, the key matches the certificate. A rotation to a
// bad or mismatched file is refused with the reason (never the files' contents) and the
// previous credentials stay.
import { createPrivateKey, createPublicKey, X509Certificate, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createSecureContext, type PeerCertificate } from 'node:tls';
import { experimental, type ChannelCredentials, type ServerCredentials } from '@grpc/grpc-js';
import { setTimer, systemClock, unrefTimer, type Clock } from '../clock.js';
import { logTlsRotations } from '../observability/event-log.js';
import type { Logger } from '../observability/logger.js';
import { RefusalMemo } from '../observability/refusal-memo.js';
import { Signal, type Disposer } from '../observability/signal.js';
import { identityOf, isAllowed } from './identity.js';

export interface TlsFiles {
  /** CA bundle (PEM) that signed the servers' certificates. */
  readonly caFile: string;
  /** Client certificate and key (PEM), for mutual TLS. */
  readonly certFile?: string;
  readonly keyFile?: string;
}

export interface TlsFilesEvent {
  readonly kind: 'loaded' | 'refused';
  /** Which files: "ca.pem, client.pem, client.key". */
  readonly files: string;
  /** Why a new version was refused; the credentials in use stay. */
  readonly reason?: string;
}

interface Loaded {
  readonly ca: Buffer;
  readonly cert: Buffer | undefined;
  readonly key: Buffer | undefined;
}

/** The files' current contents, checked; or why they cannot be used. */
function load(files: TlsFiles): Loaded | string {
  const read = readFiles(files);
  return typeof read === 'string' ? read : (problemWith(files, read) ?? read);
}

/** The files' bytes, or why one cannot be read (naming it). */
function readFiles(files: TlsFiles): Loaded | string {
  let ca: Buffer, cert: Buffer | undefined, key: Buffer | undefined;
  let reading = files.caFile;
  try {
    ca = readFileSync(reading);
    if (files.certFile) cert = readFileSync((reading = files.certFile));
    if (files.keyFile) key = readFileSync((reading = files.keyFile));
  } catch (error) {
    return `cannot read ${reading}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`;
  }
  return { ca, cert, key };
}

/**
 * Why Node could not use the files, if it could not: certificates that do not parse, a key that
 * does not parse or does not match its certificate — each naming the file, as OpenSSL's own
 * words ("key values mismatch", a DECODER error) name none.
 */
function problemWith(files: TlsFiles, { ca, cert, key }: Loaded): string | undefined {
  const unusable =
    certificatesProblem('CA file', files.caFile, ca) ?? (cert && certificatesProblem('certificate file', files.certFile!, cert));
  if (unusable) return unusable;
  if (cert && key) {
    let privateKey: KeyObject;
    try {
      privateKey = createPrivateKey(key);
    } catch (error) {
      // A file caught half-written by a rotation, an encrypted key, or no key at all.
      return `the key file ${files.keyFile} cannot be read as a private key (${openSslText(error)})`;
    }
    // Compared by public key, not left to OpenSSL: it keeps an RSA and an EC pair in separate
    // slots, so a half-rotated pair of two types (a new EC certificate, the old RSA key) passes it.
    const certificate = new X509Certificate(cert).publicKey;
    if (!spki(certificate).equals(spki(createPublicKey(privateKey)))) {
      const types = [privateKey.asymmetricKeyType, certificate.asymmetricKeyType];
      const kinds = types[0] === types[1] ? '' : ` (a key of type ${types[0]}, a certificate of type ${types[1]})`;
      return `the key in ${files.keyFile} does not belong to the certificate in ${files.certFile}${kinds}`;
    }
  }
  try {
    createSecureContext({ ca, ...(cert && key ? { cert, key } : {}) });
  } catch (error) {
    return `${[files.caFile, files.certFile, files.keyFile].filter(Boolean).join(', ')}: ${openSslText(error)}`;
  }
  return undefined;
}

/** An OpenSSL error's message on one line ("error:05800074:x509 certificate routines::key values mismatch"). */
function openSslText(error: unknown): string {
  return (error as Error).message.replace(/\s+/g, ' ').trim();
}

function spki(key: KeyObject): Buffer {
  return key.export({ type: 'spki', format: 'der' });
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

/**
 * Why a PEM file's certificates cannot be used, if they cannot: Node's secure context skips a
 * CA block it cannot decode without a word, so a broken CA file would be taken as a good
 * rotation and every new connection would fail its handshake. Each block must parse.
 */
function certificatesProblem(what: string, path: string, pem: Buffer): string | undefined {
  const text = pem.toString();
  const blocks = text.match(PEM_CERTIFICATE) ?? [];
  if (blocks.length === 0) return `the ${what} ${path} holds no PEM certificate`;
  if (blocks.length !== (text.match(/-----BEGIN CERTIFICATE-----/g) ?? []).length)
    return `the ${what} ${path} holds a certificate block without its END line`;
  for (const [index, block] of blocks.entries()) {
    try {
      new X509Certificate(block);
    } catch {
      return `the ${what} ${path}: certificate ${index + 1} of ${blocks.length} does not parse`;
    }
  }
  return undefined;
}

/**
 * The CA and identity of one TLS configuration, kept current. One instance serves every
 * channel that uses it; `close()` stops its timer.
 */
export class TlsFilesProvider implements experimental.CertificateProvider {
  readonly #files: TlsFiles;
  readonly #refreshMs: number;
  readonly #clock: Clock;
  readonly #caListeners = new Set<experimental.CaCertificateUpdateListener>();
  readonly #identityListeners = new Set<experimental.IdentityCertificateUpdateListener>();
  readonly #events = new Signal<TlsFilesEvent>();
  #current: Loaded;
  /** The refusal last said of these files: each said once while they stay refused. */
  readonly #refusals = new RefusalMemo();
  /** The bytes last refused, not checked again while they stay the same. */
  #refusedFiles: Loaded | undefined;
  #timer: unknown;

  /** Throws (naming the files) when they cannot be used at all: there is nothing to fall back on. */
  constructor(files: TlsFiles, options: { refreshMs?: number; clock?: Clock } = {}) {
    this.#files = files;
    this.#refreshMs = options.refreshMs ?? 1000;
    this.#clock = options.clock ?? systemClock;
    const loaded = load(files);
    if (typeof loaded === 'string') throw new Error(`TLS files ${this.describe()}: ${loaded}`);
    this.#current = loaded;
    this.#schedule();
  }

  /** "ca.pem, client.pem, client.key". */
  describe(): string {
    return [this.#files.caFile, this.#files.certFile, this.#files.keyFile].filter(Boolean).join(', ');
  }

  onEvent(listener: (event: TlsFilesEvent) => void): Disposer {
    return this.#events.subscribe(listener);
  }

  /**
   * Reads the files now; a changed, valid version replaces the current one. Unchanged files
   * (the current ones, or the set last refused) are not checked again: parsing a CA bundle of a
   * few hundred certificates every second would hold the event loop for tens of ms.
   */
  refresh(): void {
    const loaded = readFiles(this.#files);
    if (typeof loaded === 'string') return this.#refuse(loaded, undefined);
    if (sameFiles(loaded, this.#current)) {
      this.#refusals.recovered(this.describe());
      return;
    }
    if (this.#refusedFiles && sameFiles(loaded, this.#refusedFiles)) return;
    const problem = problemWith(this.#files, loaded);
    if (problem !== undefined) return this.#refuse(problem, loaded);
    this.#refusals.recovered(this.describe());
    this.#refusedFiles = undefined;
    this.#current = loaded;
    for (const listener of this.#caListeners) listener({ caCertificate: loaded.ca });
    if (loaded.cert && loaded.key)
      for (const listener of this.#identityListeners) listener({ certificate: loaded.cert, privateKey: loaded.key });
    this.#events.emit({ kind: 'loaded', files: this.describe() });
  }

  /** Says a refusal (once per reason); the credentials in use stay. */
  #refuse(reason: string, files: Loaded | undefined): void {
    if (this.#refusals.news(this.describe(), reason)) this.#events.emit({ kind: 'refused', files: this.describe(), reason });
    this.#refusedFiles = files;
  }

  /**
   * Channel credentials on these files, verifying the server's certificate against the CA and,
   * by default, its host name; with `identities`, against those instead (a certificate
   * carrying one of them, as a SPIFFE/URI or DNS SAN, passes).
   */
  channelCredentials(identities?: readonly string[]): ChannelCredentials {
    const identity = this.#files.certFile && this.#files.keyFile ? this : null;
    if (!identities?.length) return experimental.createCertificateProviderChannelCredentials(this, identity);
    const checkServerIdentity = (_host: string, certificate: PeerCertificate): Error | undefined => {
      const carried = identityOf(certificate);
      if (carried && isAllowed(carried, identities)) return undefined;
      const names = carried ? [...carried.uris, ...carried.dnsNames].join(', ') || 'none' : 'none';
      return new Error(`server certificate carries none of the expected identities (${identities.join(', ')}); it carries: ${names}`);
    };
    return experimental.createCertificateProviderChannelCredentials(this, identity, { checkServerIdentity });
  }

  /**
   * Server credentials on these files: the certificate and key are the server's, the CA is the
   * one client certificates must chain to. grpc-js hands a caller's certificate to the layers
   * (`call.identity()`) only when it verified it. With `requireClientCertificate` false
   * (default) a caller without a certificate still connects, and the authorization layer
   * answers it UNAUTHENTICATED; true refuses it at the handshake.
   */
  serverCredentials(requireClientCertificate = false): ServerCredentials {
    if (!this.#files.certFile || !this.#files.keyFile) throw new Error(`server TLS needs certFile and keyFile (${this.describe()})`);
    return experimental.createCertificateProviderServerCredentials(this, this, requireClientCertificate);
  }

  close(): void {
    this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  // The current files reach a new listener on the next tick: grpc-js's server credentials
  // register their watcher only after adding the listener, and would miss a synchronous call.
  addCaCertificateListener(listener: experimental.CaCertificateUpdateListener): void {
    this.#caListeners.add(listener);
    process.nextTick(() => this.#caListeners.has(listener) && listener({ caCertificate: this.#current.ca }));
  }

  removeCaCertificateListener(listener: experimental.CaCertificateUpdateListener): void {
    this.#caListeners.delete(listener);
  }

  addIdentityCertificateListener(listener: experimental.IdentityCertificateUpdateListener): void {
    this.#identityListeners.add(listener);
    process.nextTick(() => {
      if (!this.#identityListeners.has(listener)) return;
      const { cert, key } = this.#current;
      listener(cert && key ? { certificate: cert, privateKey: key } : null);
    });
  }

  removeIdentityCertificateListener(listener: experimental.IdentityCertificateUpdateListener): void {
    this.#identityListeners.delete(listener);
  }

  #schedule(): void {
    this.#timer = unrefTimer(
      setTimer(
        this.#clock,
        () => {
          this.refresh();
          this.#schedule();
        },
        this.#refreshMs,
      ),
    );
  }
}

function sameFiles(a: Loaded, b: Loaded): boolean {
  return a.ca.equals(b.ca) && sameBuffer(a.cert, b.cert) && sameBuffer(a.key, b.key);
}

function sameBuffer(a: Buffer | undefined, b: Buffer | undefined): boolean {
  return a === undefined ? b === undefined : b !== undefined && a.equals(b);
}

/**
 * Watched TLS files for a server: `{ credentials, provider }`; pass the credentials to
 * `server.bindAsync`, and `provider.close()` when the server stops. Rotated files are used for
 * new connections; a bad rotation is refused (`provider.onEvent`), the old files stay.
 *
 * With `logger`, each rotation is logged (loaded at info, refused at error).
 *
 * @example
 *   const tls = serverTls({ caFile: 'ca.pem', certFile: 'server.pem', keyFile: 'server.key' }, { logger });
 *   server.bindAsync('127.0.0.1:50051', tls.credentials, callback);
 */
export function serverTls(
  files: Required<TlsFiles>,
  options: { requireClientCertificate?: boolean; refreshMs?: number; clock?: Clock; logger?: Logger } = {},
): { credentials: ServerCredentials; provider: TlsFilesProvider } {
  const provider = new TlsFilesProvider(files, options);
  if (options.logger) logTlsRotations(provider, options.logger);
  return { credentials: provider.serverCredentials(options.requireClientCertificate ?? false), provider };
}
