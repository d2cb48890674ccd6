import { createServer, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy on 127.0.0.1 in front of a backend that can freeze: connections stay open but
 * no byte moves in either direction, and new connections are accepted but go nowhere —
 * what a client sees of a hung (SIGSTOPped) process. Bytes wait in the socket buffers and
 * flow again on thaw, as after SIGCONT.
 */
export class FreezableProxy {
  readonly #server: Server;
  readonly #pairs = new Set<[Socket, Socket]>();
  #frozen = false;
  #cut = false;
  readonly #held: Array<() => void> = [];
  port = 0;

  constructor(private readonly targetPort: number) {
    this.#server = createServer((client) => {
      if (this.#cut) {
        client.destroy();
        return;
      }
      const upstream = new (client.constructor as typeof Socket)();
      upstream.connect(this.targetPort, '127.0.0.1');
      // Without this, Nagle and delayed ACKs add ~40 ms to every small gRPC frame.
      client.setNoDelay(true);
      upstream.setNoDelay(true);
      const pair: [Socket, Socket] = [client, upstream];
      this.#pairs.add(pair);
      this.#forward(client, upstream);
      this.#forward(upstream, client);
      const close = () => {
        this.#pairs.delete(pair);
        client.destroy();
        upstream.destroy();
      };
      client.on('close', close).on('error', close);
      upstream.on('close', close).on('error', close);
    });
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  async listen(): Promise<this> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    this.port = (this.#server.address() as { port: number }).port;
    return this;
  }

  /** Connections open through the proxy now. */
  get openConnections(): number {
    return this.#pairs.size;
  }

  /** Stops every byte, on open and new connections alike. */
  freeze(): void {
    this.#frozen = true;
  }

  thaw(): void {
    this.#frozen = false;
    for (const flush of this.#held.splice(0)) flush();
  }

  /** A network cut: every connection is reset, and new ones are refused, until restore(). */
  cut(): void {
    this.#cut = true;
    for (const [a, b] of this.#pairs) {
      a.destroy();
      b.destroy();
    }
  }

  restore(): void {
    this.#cut = false;
  }

  /** Moves bytes from one socket to the other, holding them back (in order) while frozen. */
  #forward(from: Socket, to: Socket): void {
    from.on('data', (chunk: Buffer) => {
      if (this.#frozen) this.#held.push(() => to.write(chunk));
      else to.write(chunk);
    });
  }

  close(): void {
    for (const [a, b] of this.#pairs) {
      a.destroy();
      b.destroy();
    }
    this.#server.close();
  }
}
