// A refused TLS connection in words an operator can act on. grpc-js reports a connection that
// failed with Node's (OpenSSL's) words, wrapped by pick_first: "No connection established.
// Last error: …:tlsv13 alert certificate required:…:SSL alert number 116". The commonest
// mutual-TLS mistake — a server that requires a client certificate, a service whose `tls`
// section configures none — can be told from the alert the server sends, and is named:
//
//   alert 116 certificate_required  TLS 1.3 (OpenSSL, BoringSSL and Go servers): exactly this
//   alert 42  bad_certificate       TLS 1.2 Go servers; with no certificate sent, only this
//   alert 40  handshake_failure     TLS 1.2 OpenSSL servers; also a cipher or version mismatch,
//                                   so said as a possibility
//
// A connection closed before its error arrived reaches grpc-js as "Failed to connect" or a
// reset, with nothing to tell a refusal apart: it stays as it is.
import type { TlsFiles } from './tls-files.js';

/** The section a service's client certificate goes in, for the hint. */
function where(service: string | undefined): string {
  return service === undefined ? "tls.certFile/keyFile in the service's config" : `services.${service}.tls.certFile/keyFile`;
}

const CERTIFICATE_REQUIRED = /alert certificate required|SSL alert number 116\b/i;
const BAD_CERTIFICATE = /alert bad certificate|SSL alert number 42\b/i;
const HANDSHAKE_FAILURE = /alert handshake failure|SSL alert number 40\b/i;

/**
 * `message` (a connection failure grpc-js reported for an endpoint of a service with settings
 * `tls`), led by what it means when it is a server asking for a client certificate the service
 * does not configure; any other message as it is.
 *
 * @example
 *   explainConnectionFailure('No connection established. Last error: …tlsv13 alert certificate required…', { caFile }, 'orders')
 *   // 'the server asked for a client certificate (mutual TLS) and none is configured: set
 *   //  services.orders.tls.certFile/keyFile (No connection established. Last error: …)'
 */
export function explainConnectionFailure(message: string, tls: TlsFiles | undefined, service?: string): string {
  if (tls === undefined || tls.certFile !== undefined) return message;
  if (CERTIFICATE_REQUIRED.test(message) || BAD_CERTIFICATE.test(message))
    return `the server asked for a client certificate (mutual TLS) and none is configured: set ${where(service)} (${message})`;
  if (HANDSHAKE_FAILURE.test(message))
    return `the server refused the TLS handshake; if it requires a client certificate (mutual TLS over TLS 1.2), none is configured: set ${where(service)} (${message})`;
  return message;
}
