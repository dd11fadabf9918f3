/**
 * An upstream that answers every request with a body that never ends: the same piece written again and
 * again, as fast as the client reads, until the client closes the connection. For the tests of bounded
 * upstream reads; `closed` tells (by event, not by time) that the client gave up on the body.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface EndlessUpstream {
  /** `http://127.0.0.1:PORT/v1` */
  readonly baseUrl: string;
  /** Requests received. */
  readonly requests: number;
  /** Responses whose connection the client closed (each one a body it stopped reading). */
  readonly closedResponses: number;
  /** Resolves once `n` responses have been closed by the client. */
  closed(n?: number): Promise<void>;
  close(): Promise<void>;
}

export interface EndlessOptions {
  status?: number;
  contentType: string;
  /** Written once, first (e.g. `data: `). */
  head?: string;
  /** Written again and again. */
  piece: string;
}

export async function startEndlessUpstream(options: EndlessOptions): Promise<EndlessUpstream> {
  let requests = 0;
  let closedResponses = 0;
  const waiters: Array<{ n: number; resolve: () => void }> = [];
  const server: Server = createServer((req, res) => {
    requests++;
    req.resume();
    req.on('end', () => {
      res.writeHead(options.status ?? 200, { 'content-type': options.contentType });
      if (options.head !== undefined) res.write(options.head);
      const piece = Buffer.from(options.piece.repeat(Math.max(1, Math.floor(65_536 / options.piece.length))));
      const pump = (): void => {
        while (!res.destroyed && res.write(piece)) {
          // until the socket's buffer is full; then 'drain'
        }
      };
      res.on('drain', pump);
      res.on('close', () => {
        closedResponses++;
        for (const w of waiters.filter((x) => closedResponses >= x.n)) w.resolve();
      });
      pump();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    get requests() {
      return requests;
    },
    get closedResponses() {
      return closedResponses;
    },
    closed(n = 1) {
      if (closedResponses >= n) return Promise.resolve();
      return new Promise((resolve) => waiters.push({ n, resolve }));
    },
    close() {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
