/**
 * The HTTP/1.1 client of the chat transport against servers that write exact bytes (node:net), so that
 * each framing and each hostile answer is what the test says: chunked bodies cut anywhere, a body without
 * a length, informational answers, oversized heads, malformed framing, connections cut mid-body.
 */
import { type AddressInfo, createServer as createNetServer, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { readLimited } from '../../src/llm/http.js';
import {
  createHttpClient,
  type HttpExchange,
  MAX_RESPONSE_HEAD_BYTES,
  requestTemplate,
} from '../../src/llm/http-client.js';
import { closeRawHttpServers, startRawHttpServer } from '../support/raw-http-server.js';
import { waitFor } from '../support/wait-for.js';

afterEach(closeRawHttpServers);

/** A raw server whose requests go to /v1/x?q=1 (the client must send the query). */
const rawServer = (answer: (socket: Socket, request: string, n: number) => void) =>
  startRawHttpServer(answer, '/v1/x?q=1');

const text = async (exchange: HttpExchange): Promise<string> => {
  await exchange.head;
  const read = await readLimited(exchange, 1 << 20);
  return read.text;
};

describe('the HTTP/1.1 client', () => {
  it('writes one request per exchange and reuses a kept-alive connection', async () => {
    const server = await rawServer((socket, _request, n) => {
      const body = `answer ${n}`;
      socket.write(
        `HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: ${body.length}\r\n\r\n${body}`,
      );
    });
    const client = createHttpClient();
    const template = requestTemplate(server.url, 'POST', { 'content-type': 'application/json', 'x-n': 'é' });
    expect(await text(client.send(template, '{"a":"ü"}'))).toBe('answer 0');
    const second = client.send(template, '{}');
    expect(await text(second)).toBe('answer 1');
    expect(second.status).toBe(200);
    expect(second.header('content-type')).toBe('text/plain');
    expect(server.connections).toBe(1);
    const first = server.received[0]!;
    expect(first).toMatch(/^POST \/v1\/x\?q=1 HTTP\/1\.1\r\nhost: 127\.0\.0\.1:\d+\r\n/);
    // The header value as Latin-1, the body as UTF-8 with its byte length.
    expect(first).toContain('x-n: \xe9\r\n');
    expect(first).toContain('content-length: 10\r\n\r\n{"a":"\xc3\xbc"}');
  });

  it('reads a chunked body cut anywhere, with extensions and trailers, and keeps the connection', async () => {
    const whole =
      'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n7\r\n, world\r\n0\r\ntrailer: x\r\n\r\n';
    const server = await rawServer((socket) => {
      // One byte a write, Nagle off: every boundary of the framing is crossed.
      socket.setNoDelay(true);
      let i = 0;
      const next = (): void => {
        if (i < whole.length) socket.write(whole[i++]!, next);
      };
      next();
    });
    const client = createHttpClient();
    const template = requestTemplate(server.url, 'GET', {});
    expect(await text(client.send(template))).toBe('hello, world');
    expect(await text(client.send(template))).toBe('hello, world');
    expect(server.connections).toBe(1);
  });

  it('skips informational answers and reads a body that ends with the connection', async () => {
    const server = await rawServer((socket) => {
      socket.end('HTTP/1.1 103 Early Hints\r\nlink: </x>\r\n\r\nHTTP/1.1 200 OK\r\n\r\nuntil the end');
    });
    const client = createHttpClient();
    const template = requestTemplate(server.url, 'GET', {});
    const exchange = client.send(template);
    expect(await text(exchange)).toBe('until the end');
    expect(exchange.status).toBe(200);
  });

  it('sends an idempotent request once more when a kept-alive connection closes before any answer; a POST fails', async () => {
    const OK = 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok';
    for (const method of ['GET', 'POST']) {
      // The first request is answered and the connection kept; the second one finds the server closing it.
      const server = await rawServer((socket, _request, n) => {
        if (n === 1) socket.destroy();
        else socket.write(OK);
      });
      const client = createHttpClient();
      const template = requestTemplate(server.url, method, {});
      expect(await text(client.send(template, method === 'POST' ? '{}' : undefined))).toBe('ok');
      const second = client.send(template, method === 'POST' ? '{}' : undefined);
      if (method === 'GET') {
        expect(await text(second)).toBe('ok');
        expect(server.connections).toBe(2);
      } else {
        // A POST may have been acted on: it is not sent again, the caller's retry policy decides.
        await expect(second.head).rejects.toMatchObject({ code: 'ECONNRESET' });
        expect(server.connections).toBe(1);
      }
      await server.close();
    }
  });

  it("does not reuse a connection idle past the server's Keep-Alive timeout", async () => {
    const server = await rawServer((socket) =>
      socket.write('HTTP/1.1 200 OK\r\nkeep-alive: timeout=1\r\ncontent-length: 2\r\n\r\nok'),
    );
    const client = createHttpClient();
    const template = requestTemplate(server.url, 'GET', {});
    expect(await text(client.send(template))).toBe('ok');
    expect(await text(client.send(template))).toBe('ok');
    expect(server.connections).toBe(1);
    // timeout=1: reused for half a second at most. Waiting longer can only make it staler.
    await new Promise((r) => setTimeout(r, 600));
    expect(await text(client.send(template))).toBe('ok');
    expect(server.connections).toBe(2);
  });

  it('reads headers as sent: repeats joined, folded lines, bare LFs, names an object would confuse', async () => {
    const server = await rawServer((socket) => {
      socket.end(
        'HTTP/1.1 200 OK\r\nX-A: 1\r\nx-a: 2\nX-Fold: one\r\n  two\r\nConstructor: c\r\n__proto__: p\r\n' +
          'content-length: 2\r\n\r\nok',
      );
    });
    const client = createHttpClient();
    const exchange = client.send(requestTemplate(server.url, 'GET', {}));
    expect(await text(exchange)).toBe('ok');
    expect(exchange.header('x-a')).toBe('1, 2');
    expect(exchange.header('x-fold')).toBe('one two');
    expect(exchange.header('constructor')).toBe('c');
    expect(exchange.header('__proto__')).toBe('p');
    expect(exchange.header('toString')).toBeNull();
    expect(Object.keys(exchange.headers)).toEqual([
      'x-a',
      'x-fold',
      'constructor',
      '__proto__',
      'content-length',
    ]);
    expect(exchange.headers.constructor).toBe('c');
  });

  it('has no body for a 204 and answers the next request on the same connection', async () => {
    const server = await rawServer((socket, _r, n) => {
      socket.write(
        n === 0 ? 'HTTP/1.1 204 No Content\r\n\r\n' : 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok',
      );
    });
    const client = createHttpClient();
    const template = requestTemplate(server.url, 'DELETE', {});
    const first = client.send(template);
    await first.head;
    expect(first.hasBody).toBe(false);
    expect(await first.read()).toBeUndefined();
    expect(await text(client.send(template))).toBe('ok');
    expect(server.connections).toBe(1);
  });

  it('fails a body cut before its declared length, never a short body', async () => {
    const server = await rawServer((socket) => {
      socket.end('HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly part');
    });
    const client = createHttpClient();
    await expect(text(client.send(requestTemplate(server.url, 'GET', {})))).rejects.toThrow(
      /closed mid-body/,
    );
  });

  it('fails a connection closed before the answer, naming the host', async () => {
    const server = await rawServer((socket) => socket.destroy());
    const client = createHttpClient();
    const exchange = client.send(requestTemplate(server.url, 'GET', {}));
    await expect(exchange.head).rejects.toMatchObject({ code: 'ECONNRESET' });
  });

  it('refuses a head over the limit, malformed framing and a malformed status line', async () => {
    const answers = [
      `HTTP/1.1 200 OK\r\nx-big: ${'a'.repeat(MAX_RESPONSE_HEAD_BYTES)}\r\n\r\n`,
      'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n',
      'HTTP/1.1 200 OK\r\ncontent-length: 5, 6\r\n\r\nhello',
      'SMTP ready\r\n\r\n',
      'HTTP/1.1 200 OK\r\nbad header line\r\n\r\n',
    ];
    const server = await rawServer((socket, _r, n) => socket.write(answers[n]!));
    const client = createHttpClient({ maxSockets: 1 });
    const template = requestTemplate(server.url, 'GET', {});
    await expect(client.send(template).head).rejects.toMatchObject({ code: 'HPE_HEADER_OVERFLOW' });
    await expect(text(client.send(template))).rejects.toMatchObject({ code: 'HPE_INVALID_CHUNK_SIZE' });
    await expect(client.send(template).head).rejects.toMatchObject({ code: 'HPE_INVALID_CONTENT_LENGTH' });
    await expect(client.send(template).head).rejects.toMatchObject({ code: 'HPE_INVALID_CONSTANT' });
    await expect(client.send(template).head).rejects.toMatchObject({ code: 'HPE_INVALID_HEADER_TOKEN' });
    // Each failure closed its connection: none was reused out of step.
    expect(server.connections).toBe(5);
  });

  it('aborts with the given reason and closes the connection; cancel closes it too', async () => {
    const server = await rawServer((socket) => {
      socket.write('HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\npartial');
    });
    const client = createHttpClient();
    const template = requestTemplate(server.url, 'GET', {});
    const aborted = client.send(template);
    await aborted.head;
    const reason = new Error('caller left');
    aborted.abort(reason);
    await expect(aborted.read()).rejects.toBe(reason);
    const cancelled = client.send(template);
    await cancelled.head;
    cancelled.cancel();
    expect(await cancelled.read()).toBeUndefined();
    expect(server.connections).toBe(2);
  });

  it('queues requests past maxSockets and sends them as connections free up', async () => {
    const server = await rawServer((socket, _r, n) => {
      setImmediate(() => socket.write(`HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\n${n % 10}`));
    });
    const client = createHttpClient({ maxSockets: 2 });
    const template = requestTemplate(server.url, 'GET', {});
    const answers = await Promise.all(Array.from({ length: 6 }, () => text(client.send(template))));
    expect(answers.sort()).toEqual(['0', '1', '2', '3', '4', '5']);
    expect(server.connections).toBe(2);
  });

  it("says where a request waits: for a free connection, for the answer's headers, in them", async () => {
    let partial: Socket | undefined;
    const server = await rawServer((socket, _request, n) => {
      // The first request gets no answer; the second one, on its own connection, half a head.
      if (n === 1) {
        partial = socket;
        socket.write('HTTP/1.1 200 OK\r\ncontent-');
      }
    });
    const client = createHttpClient({ maxSockets: 1 });
    const template = requestTemplate(server.url, 'POST', {});
    const first = client.send(template, '{}');
    const second = client.send(template, '{}');
    expect(second.progress()).toBe('waiting for a free connection (all maxSockets busy)');
    await waitFor(() => server.received[0]?.includes('{}') === true);
    expect(first.progress()).toBe('waiting for the response headers');
    first.abort(new Error('done waiting'));
    await waitFor(() => partial !== undefined);
    await waitFor(() => second.progress() !== 'waiting for the response headers');
    expect(second.progress()).toBe('reading the response headers');
    second.abort(new Error('done waiting'));
  });

  it('fails a connection whose TLS handshake never ends after connectTimeoutMs, and says it is connecting', async () => {
    const silent = createNetServer((socket) => socket.on('error', () => undefined));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const host = `127.0.0.1:${(silent.address() as AddressInfo).port}`;
    try {
      const client = createHttpClient({ connectTimeoutMs: 200 });
      const exchange = client.send(requestTemplate(`https://${host}/`, 'GET', {}));
      expect(exchange.progress()).toBe(`connecting to ${host}`);
      await expect(exchange.head).rejects.toMatchObject({
        code: 'ETIMEDOUT',
        message: `no connection to ${host} within 200 ms`,
      });
    } finally {
      silent.close();
    }
  });

  it('refuses header values and names node:http refuses, and URLs that are not http(s)', () => {
    expect(() => requestTemplate('http://127.0.0.1/', 'GET', { 'x-a': 'line\r\nbreak' })).toThrow(
      /invalid character in the value of the HTTP header "x-a"/,
    );
    expect(() => requestTemplate('http://127.0.0.1/', 'GET', { 'bad name': 'v' })).toThrow(/header name/);
    expect(() => requestTemplate('ftp://127.0.0.1/', 'GET', {})).toThrow(/unsupported protocol/);
  });
});
