import { credentials as grpcCredentials, type ChannelCredentials } from '@grpc/grpc-js';
import type { Clock } from '../clock.js';
import type { TlsConfig } from '../config/mesh-config.js';
import { ConfigError, errorText } from '../errors.js';
import { TlsFilesProvider, type TlsFilesEvent } from './tls-files.js';

/**
 * The channel credentials of each service, from its `tls` section's files, kept current as
 * they rotate. One provider and one credentials object per service and settings: grpc-js
 * shares a connection only between channels with the same credentials object, so every
 * client of a service gets the same one. A change of settings makes a new one; clients made
 * before keep theirs (and their provider, closed with the rest).
 */
export class ServiceCredentials {
  readonly #clock: Clock;
  readonly #onEvent: (service: string, event: TlsFilesEvent) => void;
  readonly #current = new Map<string, { signature: string; provider: TlsFilesProvider; credentials: ChannelCredentials }>();
  readonly #retired: TlsFilesProvider[] = [];

  constructor(clock: Clock, onEvent: (service: string, event: TlsFilesEvent) => void) {
    this.#clock = clock;
    this.#onEvent = onEvent;
  }

  /** TLS (or mTLS) credentials for `service`, plaintext without a `tls` section. Throws a ConfigError when the files cannot be used at all. */
  for(service: string, tls: TlsConfig | undefined): ChannelCredentials {
    if (!tls) return grpcCredentials.createInsecure();
    const signature = JSON.stringify(tls);
    const known = this.#current.get(service);
    if (known?.signature === signature) return known.credentials;
    let provider: TlsFilesProvider;
    try {
      provider = new TlsFilesProvider(tls, { refreshMs: tls.refreshMs, clock: this.#clock });
    } catch (error) {
      // Files that cannot be used at all are a config problem, named like the config's others.
      throw new ConfigError(
        `services.${service}.tls`,
        [tls.caFile, tls.certFile, tls.keyFile].filter(Boolean).join(', '),
        `services.${service}.tls: ${errorText(error)}`,
      );
    }
    if (known) this.#retired.push(known.provider);
    provider.onEvent((event) => this.#onEvent(service, event));
    const entry = { signature, provider, credentials: provider.channelCredentials(tls.identities) };
    this.#current.set(service, entry);
    return entry.credentials;
  }

  close(): void {
    for (const provider of [...this.#retired.splice(0), ...[...this.#current.values()].map((entry) => entry.provider)]) provider.close();
    this.#current.clear();
  }
}
