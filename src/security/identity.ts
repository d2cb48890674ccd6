// Who a caller is, from the client certificate its TLS connection verified: the subject
// alternative names — DNS names and URIs (SPIFFE IDs such as spiffe://mesh/ns/orders/sa/web,
// as Linkerd and Istio issue them). Never the certificate itself or any key material.
import type { PeerCertificate } from 'node:tls';

export interface PeerIdentity {
  readonly dnsNames: readonly string[];
  readonly uris: readonly string[];
  /** "spiffe://…" when there is one, else the first DNS name: how a log line names the caller. */
  readonly name: string;
}

/** The identity a verified client certificate carries, or undefined without one. */
export function identityOf(certificate: PeerCertificate | undefined): PeerIdentity | undefined {
  if (!certificate || Object.keys(certificate).length === 0) return undefined;
  const dnsNames: string[] = [];
  const uris: string[] = [];
  // Node writes the SANs as one string: 'DNS:a.example, URI:spiffe://mesh/web, IP Address:127.0.0.1'.
  for (const entry of (certificate.subjectaltname ?? '').split(/,\s*/)) {
    if (entry.startsWith('DNS:')) dnsNames.push(entry.slice(4).toLowerCase());
    else if (entry.startsWith('URI:')) uris.push(entry.slice(4));
  }
  const subject = certificate.subject?.CN;
  const cn = Array.isArray(subject) ? subject[0] : subject;
  const name = uris.find((uri) => uri.startsWith('spiffe://')) ?? uris[0] ?? dnsNames[0] ?? (cn ? `CN=${cn}` : 'unnamed certificate');
  return { dnsNames, uris, name };
}

/**
 * Whether `identity` is one of `allowed`: URIs match exactly ("spiffe://mesh/ns/a/sa/web"),
 * DNS names case-insensitively ("web.internal"), "*.internal" any one label under it, and
 * "*" any caller with a verified certificate.
 */
export function isAllowed(identity: PeerIdentity, allowed: readonly string[]): boolean {
  return allowed.some((entry) => {
    if (entry === '*') return true;
    if (entry.includes('://')) return identity.uris.includes(entry);
    const name = entry.toLowerCase();
    if (name.startsWith('*.'))
      return identity.dnsNames.some((dns) => dns.endsWith(name.slice(1)) && !dns.slice(0, -name.length + 1).includes('.'));
    return identity.dnsNames.includes(name);
  });
}
