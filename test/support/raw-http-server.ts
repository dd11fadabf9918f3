/**
 * A loopback server that writes exact bytes (node:net), for tests of an HTTP client's framing and of hostile
 * answers: it splits the incoming stream into requests (head and Content-Length body) and hands each one to
 * the test, which writes whatever it likes on the socket. A test file closes them with
 * `afterEach(closeRawHttpServers)`: test files share this module (isolate: false), so a hook here would
 * be registered in the first file only.
 */
import { createServer, type Server, type Socket } from 'node:net';

export interface RawHttpServer {
  /** The base URL plus `path`. */
  url: string;
  /** Connections accepted so far. */
  connections: number;
  /** The raw bytes of every request received, by connection. */
  received: string[];
  close(): Promise<void>;
}

const running: RawHttpServer[] = [];

/** Closes every server started here and not yet closed. */
export async function closeRawHttpServers(): Promise<void> {
  await Promise.all(running.splice(0).map((s) => s.close()));
}

/** Calls `answer` once per complete request on a connection; `n` counts requests over all connections. */
export async function startRawHttpServer(
  answer: (socket: Socket, request: string, n: number) => void,
  path = '/',
): Promise<RawHttpServer> {
  const sockets = new Set<Socket>();
  let count = 0;
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    const index = raw.connections++;
    raw.received[index] = '';
    let pending = '';
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => {
      raw.received[index] += d;
      pending += d;
      for (;;) {
        const end = pending.indexOf('\r\n\r\n');
        if (end < 0) return;
        const length = Number(/content-length: (\d+)/i.exec(pending.slice(0, end))?.[1] ?? 0);
        if (pending.length < end + 4 + length) return;
        const request = pending.slice(0, end + 4 + length);
        pending = pending.slice(end + 4 + length);
        answer(socket, request, count++);
      }
    });
    socket.on('error', () => undefined);
  });
  const raw: RawHttpServer = {
    url: '',
    connections: 0,
    received: [],
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  raw.url = `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}${path}`;
  running.push(raw);
  return raw;
}
