import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { readLimitedText } from '../../src/llm/http.js';
import { createNodeFetch } from '../../src/llm/node-fetch.js';

interface Loopback {
  url: string;
  /** Connections the server accepted, and how many of them have closed. */
  connections: number;
  closed: number;
  close(): Promise<void>;
}

const servers: Loopback[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function serve(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<Loopback> {
  const sockets = new Set<Socket>();
  const server = createServer(handler);
  const loopback: Loopback = {
    url: '',
    connections: 0,
    closed: 0,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
  server.on('connection', (socket: Socket) => {
    loopback.connections++;
    sockets.add(socket);
    socket.on('close', () => {
      loopback.closed++;
      sockets.delete(socket);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  loopback.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  servers.push(loopback);
  return loopback;
}

const until = async (condition: () => boolean): Promise<void> => {
  while (!condition()) await new Promise((r) => setTimeout(r, 5));
};

describe('createNodeFetch', () => {
  it('posts a string body and keeps the connection for the next request', async () => {
    const server = await serve((req, res) => {
      let body = '';
      req.setEncoding('utf8').on('data', (d: string) => {
        body += d;
      });
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'application/json', 'x-echo': req.headers['x-echo'] ?? '' });
        res.end(JSON.stringify({ method: req.method, body }));
      });
    });
    const f = createNodeFetch();
    for (const n of [1, 2, 3]) {
      const res = await f(server.url, { method: 'POST', headers: { 'x-echo': `e${n}` }, body: `b${n}` });
      expect(res.status).toBe(200);
      expect(res.headers.get('x-echo')).toBe(`e${n}`);
      expect(await res.json()).toEqual({ method: 'POST', body: `b${n}` });
    }
    expect(server.connections).toBe(1);
  });

  it('hands out the response at its headers; the body streams, and cancelling it closes the connection', async () => {
    const server = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: first\n\n');
      // …and nothing more until the client leaves.
    });
    const res = await createNodeFetch()(server.url);
    const reader = res.body!.getReader();
    const first = await reader.read();
    expect(new TextDecoder().decode(first.value)).toBe('data: first\n\n');
    await reader.cancel();
    await until(() => server.closed === 1);
  });

  it('reads a large body with backpressure, and a limited read stops and closes at its limit', async () => {
    const chunk = 'x'.repeat(64 << 10);
    const server = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      let sent = 0;
      const pump = (): void => {
        while (sent < 64) {
          sent++;
          if (!res.write(chunk)) {
            res.once('drain', pump);
            return;
          }
        }
        res.end();
      };
      pump();
    });
    const f = createNodeFetch();
    expect((await (await f(server.url)).text()).length).toBe(64 * chunk.length);
    const limited = await readLimitedText(await f(server.url), 256 << 10);
    expect(limited.complete).toBe(false);
    await until(() => server.closed >= 1);
  });

  it('errors the body when the signal aborts mid-body, with the signal’s reason', async () => {
    const server = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('partial');
    });
    const controller = new AbortController();
    const res = await createNodeFetch()(server.url, { signal: controller.signal });
    const reason = new Error('caller left');
    controller.abort(reason);
    await expect(res.text()).rejects.toBe(reason);
    await until(() => server.closed === 1);
  });

  it('errors the body when the connection is cut mid-body, never a short body', async () => {
    const server = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '100' });
      res.write('only part of it');
      setTimeout(() => res.socket?.destroy(), 10);
    });
    const res = await createNodeFetch()(server.url);
    await expect(res.text()).rejects.toThrow();
  });

  it('rejects an aborted signal, a connection refused and what it does not send', async () => {
    const f = createNodeFetch();
    const controller = new AbortController();
    controller.abort(new Error('before'));
    await expect(f('http://127.0.0.1:9/', { signal: controller.signal })).rejects.toThrow('before');
    const server = await serve(() => {});
    const url = server.url;
    await server.close();
    servers.length = 0;
    await expect(f(url, { method: 'POST', body: '{}' })).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    await expect(f('ftp://127.0.0.1/')).rejects.toThrow(/unsupported protocol/);
    await expect(f(url, { method: 'POST', body: new Uint8Array(1) })).rejects.toThrow(/string bodies only/);
  });
});
