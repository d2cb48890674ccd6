// Endpoint addresses as the mesh config accepts them: "host:port" with a host name (RFC 1123),
// an IPv4 address, or an IPv6 literal in brackets; ports 1–65535. Each is normalised (host
// names lower-cased, IPv6 in its canonical form), so the same backend written twice is seen
// as one.
import { isIPv4, isIPv6 } from 'node:net';

export interface EndpointAddress {
  /** Host name, IPv4 address, or IPv6 address without brackets. */
  readonly host: string;
  readonly port: number;
  /** "host:port", "[v6]:port": the form the balancer and the snapshots use. */
  readonly normalized: string;
}

const HOST_LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

/** Parses and normalises an endpoint address, or says in a few words what is wrong with it. */
export function parseEndpointAddress(text: string): EndpointAddress | string {
  const match = /^(?:\[([^\]]*)\]|([^:[\]]*)):(\d{1,5})$/.exec(text);
  if (!match) return 'must be "host:port" or "[ipv6]:port"';
  const port = Number(match[3]);
  if (port < 1 || port > 65535) return 'port must be 1-65535';
  if (match[1] !== undefined) {
    const zoneless = match[1].replace(/%.*$/, '');
    if (!isIPv6(match[1]) || !isIPv6(zoneless)) return `"${match[1]}" is not an IPv6 address`;
    const host = new URL(`http://[${zoneless}]/`).hostname.slice(1, -1) + match[1].slice(zoneless.length);
    return { host, port, normalized: `[${host}]:${port}` };
  }
  const host = match[2]!.toLowerCase();
  const labels = host.split('.');
  if (labels.every((label) => /^\d+$/.test(label))) {
    if (!isIPv4(host)) return `"${host}" is not an IPv4 address (four numbers 0-255)`;
  } else if (host.length > 253 || !labels.every((label) => HOST_LABEL.test(label)) || /^\d+$/.test(labels.at(-1)!)) {
    return `"${match[2]}" is not a host name (RFC 1123: labels of letters, digits and hyphens, 1-63 characters, not starting or ending with a hyphen)`;
  }
  return { host, port, normalized: `${host}:${port}` };
}
