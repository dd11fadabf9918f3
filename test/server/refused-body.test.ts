/**
 * A refused request body (over the size limit, here) gets its error response to every kind of client:
 * `Connection: close`, HTTP/1.0, keep-alive, chunked uploads, and clients that send the whole body before
 * they read anything (as Python's http.client does). The clients are raw sockets, so that nothing
 * between the test and the server reads early or retries.
 */
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../src/server/listen.js';
import { startRewardServer } from '../../src/server/reward.js';

const LIMIT = 64 * 1024;
/** Large enough that the client is still sending when the server answers. */
const BODY_BYTES = 16 << 20;

let server: RunningServer;
beforeAll(async () => {
  server = await startRewardServer({ limits: { maxBodyBytes: LIMIT }, log: () => {} });
});
afterAll(async () => {
  await server.close();
});

interface Reply {
  /** Everything the server sent. */
  text: string;
  /** The socket error, if the connection broke (e.g. EPIPE, ECONNRESET). */
  error: string | undefined;
  /** The server closed the connection (the client did not give up first). */
  closedByServer: boolean;
}

/**
 * Writes `head` and then every piece of `body`, reading nothing until all of it has been handed to the
 * kernel; then reads until the server closes the connection.
 */
function sendThenRead(head: string, body: readonly Buffer[], giveUpMs = 30_000): Promise<Reply> {
  return new Promise((resolve) => {
    let text = '';
    let error: string | undefined;
    let gaveUp = false;
    const socket = connect(server.port, '127.0.0.1');
    socket.pause();
    socket.on('data', (d: Buffer) => {
      text += d.toString('latin1');
    });
    socket.on('error', (e: NodeJS.ErrnoException) => {
      error = e.code ?? e.message;
    });
    const timer = setTimeout(() => {
      gaveUp = true;
      socket.destroy();
    }, giveUpMs);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ text, error, closedByServer: !gaveUp });
    });
    socket.write(head);
    let i = 0;
    const next = (): void => {
      if (i === body.length) {
        socket.resume();
        return;
      }
      const piece = body[i++]!;
      // The callback runs once the piece is in the kernel (or with the error if the connection broke).
      socket.write(piece, (err) => {
        if (err === undefined || err === null) next();
      });
    };
    next();
  });
}

const filler = (bytes: number): Buffer => Buffer.alloc(bytes, 0x20);
const pieces = (total: number, size: number): Buffer[] =>
  Array.from({ length: Math.ceil(total / size) }, (_, i) => filler(Math.min(size, total - i * size)));

function head(version: '1.0' | '1.1', headers: Record<string, string>): string {
  const lines = Object.entries({ host: 'x', 'content-type': 'application/json', ...headers }).map(
    ([k, v]) => `${k}: ${v}`,
  );
  return `POST /get_reward HTTP/${version}\r\n${lines.join('\r\n')}\r\n\r\n`;
}

function expect413(reply: Reply): void {
  expect(reply.error).toBeUndefined();
  expect(reply.text).toMatch(/^HTTP\/1\.1 413 /);
  expect(reply.text).toMatch(/\r\nconnection: close\r\n/i);
  const body = JSON.parse(reply.text.slice(reply.text.indexOf('\r\n\r\n') + 4)) as {
    error: { code: string; message: string };
  };
  expect(body.error.code).toBe('request_too_large');
  expect(body.error.message).toMatch(/exceeds the server's limit of 65536 bytes/);
  expect(reply.closedByServer).toBe(true);
}

describe('a body over the limit is answered 413, readable by the client', () => {
  it('Connection: close, the client sending everything before it reads', async () => {
    const reply = await sendThenRead(
      head('1.1', { 'content-length': String(BODY_BYTES), connection: 'close' }),
      pieces(BODY_BYTES, 1 << 20),
    );
    expect413(reply);
  });

  it('HTTP/1.0', async () => {
    const reply = await sendThenRead(
      head('1.0', { 'content-length': String(BODY_BYTES) }),
      pieces(BODY_BYTES, 1 << 20),
    );
    expect413(reply);
  });

  it('keep-alive: the response says the connection closes, and it does once the body is in', async () => {
    const reply = await sendThenRead(
      head('1.1', { 'content-length': String(BODY_BYTES) }),
      pieces(BODY_BYTES, 1 << 20),
    );
    expect413(reply);
  });

  it('a chunked upload refused part-way, with Connection: close', async () => {
    const chunk = filler(64 * 1024);
    const framed = Buffer.concat([
      Buffer.from(`${chunk.length.toString(16)}\r\n`),
      chunk,
      Buffer.from('\r\n'),
    ]);
    const body = [
      ...Array.from({ length: BODY_BYTES / chunk.length }, () => framed),
      Buffer.from('0\r\n\r\n'),
    ];
    const reply = await sendThenRead(
      head('1.1', { 'transfer-encoding': 'chunked', connection: 'close' }),
      body,
    );
    expect413(reply);
  });
});
