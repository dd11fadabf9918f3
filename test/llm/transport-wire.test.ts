/**
 * The chat transport against servers that write exact bytes (node:net), so that each framing and each
 * hostile answer is what the test says: chunked bodies cut anywhere, connections cut mid-body, oversized
 * heads and bodies, and connections kept alive and bounded per host.
 */
import type { Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createTransport, type Transport, type TransportOptions } from '../../src/llm/transport.js';
import { ChatModelError } from '../../src/llm/types.js';
import { closeRawHttpServers, startRawHttpServer } from '../support/raw-http-server.js';
import { waitFor } from '../support/wait-for.js';

afterEach(closeRawHttpServers);

/** A raw server at /v1/chat; `answer` gets the connection and the request's number. */
const rawServer = (answer: (socket: Socket, n: number) => void) =>
  startRawHttpServer((socket, _request, n) => answer(socket, n), '/v1/chat');

function transport(url: string, options: Partial<TransportOptions> = {}): Transport {
  return createTransport({
    url,
    backend: 'wire',
    timeoutMs: 30_000,
    maxResponseBytes: 1024,
    maxEventChars: 1024,
    retry: { attempts: 1, baseDelayMs: 1, maxDelayMs: 1 },
    ...options,
  });
}

const json = (t: Transport): Promise<unknown> => t.call({}, undefined, (exchange) => exchange.json());

async function failure(pending: Promise<unknown>): Promise<ChatModelError> {
  try {
    await pending;
  } catch (err) {
    if (err instanceof ChatModelError) return err;
    throw err;
  }
  throw new Error('the call succeeded');
}

/** Writes `bytes` one byte a write, Nagle off: every boundary of the framing is crossed. */
function trickle(socket: Socket, bytes: string): void {
  socket.setNoDelay(true);
  let i = 0;
  const next = (): void => {
    if (i < bytes.length) socket.write(bytes[i++]!, 'latin1', next);
  };
  next();
}

describe('the transport on the wire', () => {
  it('reads a chunked JSON body cut anywhere, with extensions and trailers', async () => {
    const server = await rawServer((socket) =>
      trickle(
        socket,
        'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n' +
          // "ü" as its two UTF-8 bytes (the server writes Latin-1): the trickle cuts between them too.
          '5;ext=1\r\n{"a":\r\n5\r\n"\xc3\xbc"}\r\n0\r\ntrailer: x\r\n\r\n',
      ),
    );
    expect(await json(transport(server.url))).toEqual({ a: 'ü' });
  });

  it('reads SSE events from a chunked stream cut anywhere', async () => {
    const server = await rawServer((socket) =>
      trickle(
        socket,
        'HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n' +
          '13\r\ndata: one\n\ndata: tw\r\n8\r\no\n\n: ka\n\r\n0\r\n\r\n',
      ),
    );
    const events: string[] = [];
    for await (const data of transport(server.url).stream({}, undefined, (exchange) => exchange.events())) {
      events.push(data);
    }
    expect(events).toEqual(['one', 'two']);
  });

  it('fails a body cut before its declared length, never a short body', async () => {
    const server = await rawServer((socket) => {
      socket.end('HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{"a":1}');
    });
    const error = await failure(json(transport(server.url)));
    expect(error.details.reason).toBe('network');
    expect(error.message).toContain(`cannot reach ${server.url}`);
  });

  it('fails a connection closed before the answer as a network failure', async () => {
    const server = await rawServer((socket) => socket.destroy());
    const error = await failure(json(transport(server.url)));
    expect(error.details.reason).toBe('network');
  });

  it('refuses response headers over 16 KiB', async () => {
    const server = await rawServer((socket) => {
      socket.write(`HTTP/1.1 200 OK\r\nx-big: ${'a'.repeat(16 << 10)}\r\ncontent-length: 2\r\n\r\n{}`);
    });
    const error = await failure(json(transport(server.url)));
    expect(error.details.reason).toBe('network');
  });

  it('refuses a body over maxResponseBytes, announced or not, and closes its connection', async () => {
    // Far more than a socket read takes at once, so the refusal comes before the answer's end.
    const big = `{"a":"${'x'.repeat(4 << 20)}"}`;
    const server = await rawServer((socket, n) => {
      socket.write(
        n === 0
          ? `HTTP/1.1 200 OK\r\ncontent-length: ${big.length}\r\n\r\n${big}`
          : `HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n${big.length.toString(16)}\r\n${big}\r\n0\r\n\r\n`,
      );
    });
    const t = transport(server.url);
    expect((await failure(json(t))).details.reason).toBe('too_large');
    expect((await failure(json(t))).details.reason).toBe('too_large');
    // Neither connection was used again: each answer was cut short, with bytes still to come.
    expect(server.connections).toBe(2);
  });

  it('names what a timed-out attempt was waiting for', async () => {
    // The servers write what they write at once; the timeout is long enough for loopback to deliver it
    // on a loaded machine, and then runs out, as nothing more comes.
    const server = await rawServer((socket, n) => {
      if (n === 1) socket.write('HTTP/1.1 200 OK\r\ncontent-');
      if (n === 2) socket.write('HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n{"a"');
      if (n === 3) socket.write('HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\r\ndata: 1\n\n');
    });
    const t = transport(server.url, { timeoutMs: 1500 });
    const timedOut = async (pending: Promise<unknown>): Promise<string> => {
      const error = await failure(pending);
      expect(error.details.reason).toBe('timeout');
      return error.message.replace(/^.*timed out after 1500 ms /, '');
    };
    const ordered = <T>(n: number, start: () => Promise<T>): Promise<T> =>
      waitFor(() => server.received.join('').split('POST ').length - 1 >= n).then(start);
    const stream = async (): Promise<void> => {
      for await (const _ of t.stream({}, undefined, (exchange) => exchange.events()));
    };
    const stages = await Promise.all([
      timedOut(json(t)),
      timedOut(ordered(1, () => json(t))),
      timedOut(ordered(2, () => json(t))),
      timedOut(ordered(3, stream)),
    ]);
    expect(stages).toEqual([
      'waiting for the response headers',
      'reading the response headers',
      'reading the response body',
      'waiting for the next stream event (the silence allowed between events)',
    ]);
  });

  it('keeps connections alive between calls, and opens at most maxSockets of them', async () => {
    const server = await rawServer((socket, n) => {
      setImmediate(() => socket.write(`HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\n${n % 10}`));
    });
    const sequential = transport(server.url);
    for (let i = 0; i < 6; i++) await json(sequential);
    // undici may open a second connection while the first finishes its answer, never one per call.
    expect(server.connections).toBeLessThanOrEqual(2);
    const before = server.connections;
    const bounded = transport(server.url, { maxSockets: 2 });
    const answers = await Promise.all(Array.from({ length: 6 }, () => json(bounded)));
    expect(answers).toHaveLength(6);
    expect(server.connections - before).toBe(2);
  });
});
