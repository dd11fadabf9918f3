/**
 * httpGet, the GET the downloads (`models pull`, `data pull`) send: a body is had whole or not at all, even
 * when the server closes the connection right after it and the reader is slow; redirects are followed as
 * fetch follows them; the signal stops the body too.
 */
import { createServer as createHttpServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { httpGet } from '../../src/io/http-get.js';
import { closeRawHttpServers, startRawHttpServer } from '../support/raw-http-server.js';

const servers: Server[] = [];
afterEach(async () => {
  await closeRawHttpServers();
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

async function httpServer(handler: Parameters<typeof createHttpServer>[1]): Promise<string> {
  const server = createHttpServer(handler);
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** Reads a body to its end, waiting `delayMs` after each piece (a disk slower than the network). */
async function readSlowly(body: ReadableStream<Uint8Array>, delayMs: number): Promise<number> {
  const reader = body.getReader();
  let bytes = 0;
  for (;;) {
    const piece = await reader.read();
    if (piece.done) return bytes;
    bytes += piece.value.byteLength;
    await sleep(delayMs);
  }
}

describe('httpGet', () => {
  it('reads a whole body that the server closes the connection right after, however slow the reader', async () => {
    // Node 20's fetch lost the last bytes here in 39 of 40 tries (UND_ERR_SOCKET); node:http none.
    const body = Buffer.alloc(1_500_000, 7);
    const server = await startRawHttpServer((socket) =>
      socket.end(
        Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\ncontent-length: ${body.length}\r\n\r\n`), body]),
      ),
    );
    for (let i = 0; i < 8; i++) {
      const res = await httpGet(server.url, {});
      expect(res.status).toBe(200);
      expect(await readSlowly(res.body!, 2)).toBe(body.length);
    }
  });

  it('errors a body cut short, saying after how many bytes', async () => {
    const server = await startRawHttpServer((socket) =>
      socket.end(
        Buffer.concat([Buffer.from('HTTP/1.1 200 OK\r\ncontent-length: 5000\r\n\r\n'), Buffer.alloc(1000)]),
      ),
    );
    const res = await httpGet(server.url, {});
    await expect(readSlowly(res.body!, 0)).rejects.toThrow(
      'the connection closed after 1000 of 5000 bytes of the body',
    );
  });

  it('follows redirects, keeps other headers, and drops credentials on a change of origin', async () => {
    const seen: Array<Record<string, string | string[] | undefined>> = [];
    const target = await httpServer((req, res) => {
      seen.push(req.headers);
      res.end('there');
    });
    const origin = await httpServer((req, res) => {
      seen.push(req.headers);
      if (req.url === '/start') res.writeHead(302, { location: '/next' }).end();
      else res.writeHead(307, { location: `${target}/file` }).end();
    });
    const res = await httpGet(`${origin}/start`, {
      headers: { authorization: 'Bearer secret', range: 'bytes=2-' },
    });
    expect(await res.text()).toBe('there');
    expect(seen.map((h) => [h.authorization, h.range])).toEqual([
      ['Bearer secret', 'bytes=2-'],
      ['Bearer secret', 'bytes=2-'],
      [undefined, 'bytes=2-'],
    ]);
  });

  it('gives up after 20 redirects, naming the last', async () => {
    const base = await httpServer((req, res) => {
      res.writeHead(302, { location: `/r${Number(req.url!.slice(2)) + 1}` }).end();
    });
    await expect(httpGet(`${base}/r0`, {})).rejects.toThrow('more than 20 redirects, the last to /r21');
  });

  it('stops the body being read when the signal aborts', async () => {
    const base = await httpServer((_req, res) => {
      res.writeHead(200, { 'content-length': '100000' });
      res.write(Buffer.alloc(1000)); // and no more
    });
    const controller = new AbortController();
    const res = await httpGet(base, { signal: controller.signal });
    const reader = res.body!.getReader();
    expect((await reader.read()).value?.byteLength).toBe(1000);
    const next = reader.read();
    controller.abort(new Error('stalled'));
    await expect(next).rejects.toThrow('stalled');
  });

  it('answers a status without a body with a null body, and refuses a URL that is not http', async () => {
    const base = await httpServer((_req, res) => res.writeHead(304).end());
    const res = await httpGet(base, {});
    expect(res.status).toBe(304);
    expect(res.body).toBeNull();
    await expect(httpGet('ftp://example.com/m.gguf', {})).rejects.toThrow(
      'cannot download from a ftp: URL (http or https only)',
    );
  });
});
