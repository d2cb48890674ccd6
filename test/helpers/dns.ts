// A real DNS server (UDP, the dns2 package) on 127.0.0.1 and a free port, answering A and AAAA
// from a table the test changes; NXDOMAIN for a name it does not know, REFUSED for a query type
// the test says it refuses (as split-horizon and some corporate resolvers refuse AAAA). Closed
// by the pool.
import dns2 from 'dns2';
import type { TestPool } from './servers.js';

export interface DnsServer {
  /** "127.0.0.1:PORT", for the config's `discovery.dns.servers`. */
  readonly address: string;
  /** name → addresses (IPv4 and IPv6); change it and the next query sees it. */
  readonly records: Map<string, string[]>;
  /** Queries answered, per name (an A and an AAAA query per lookup). */
  readonly queries: Map<string, number>;
  /** Query types answered REFUSED, for every name; change it and the next query sees it. */
  readonly refused: Set<'A' | 'AAAA'>;
}

const NXDOMAIN = 3;
const REFUSED = 5;

export async function startDns(pool: TestPool): Promise<DnsServer> {
  const { Packet } = dns2;
  const records = new Map<string, string[]>();
  const queries = new Map<string, number>();
  const refused = new Set<'A' | 'AAAA'>();
  const server = dns2.createServer({
    udp: true,
    handle: (request, send) => {
      const response = Packet.createResponseFromRequest(request);
      const [question] = request.questions;
      const name = question?.name.toLowerCase() ?? '';
      const known = records.get(name);
      const v6 = question?.type === Packet.TYPE.AAAA;
      if ((question?.type === Packet.TYPE.A && refused.has('A')) || (v6 && refused.has('AAAA'))) {
        response.header.rcode = REFUSED;
      } else if (!question || known === undefined) {
        response.header.rcode = NXDOMAIN;
      } else {
        for (const address of known.filter((ip) => ip.includes(':') === v6)) {
          response.answers.push(new Packet.Resource({ name: question.name, type: question.type, class: Packet.CLASS.IN, ttl: 1, address }));
        }
      }
      void send(response).then(() => queries.set(name, (queries.get(name) ?? 0) + 1));
    },
  });
  const { udp } = await server.listen({ udp: { port: 0, address: '127.0.0.1' } });
  pool.defer(() => server.close());
  return { address: `127.0.0.1:${udp!.port}`, records, queries, refused };
}
