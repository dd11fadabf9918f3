/**
 * A client that closes its connection before it has sent the whole body of a POST (a killed agent, a
 * network drop) is not a failure of the MCP HTTP server: nothing is logged, where it used to log
 * "POST /mcp failed: Error: aborted" with a stack trace, as for a bug. The server serves the next request.
 */
import type { IncomingMessage } from 'node:http';
import { connect } from 'node:net';
import { expect, it } from 'vitest';
import { startMcpHttpServer } from '../../src/mcp/http.js';
import { createGtalignMcpServer } from '../../src/mcp/server.js';

it('a body cut off by the client leaving logs nothing', async () => {
  const logged: string[] = [];
  const server = await startMcpHttpServer({
    createServer: () =>
      createGtalignMcpServer({
        model: () => Promise.reject(new Error('no model in this test')),
        defaults: {},
        log: (line) => logged.push(line),
      }),
    token: 'test-token',
    port: 0,
    log: (line) => logged.push(line),
  });
  try {
    const received = new Promise<IncomingMessage>((resolve) => server.server.once('request', resolve));
    const socket = connect(server.port, '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write(
      'POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer test-token\r\n' +
        'Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\n' +
        'Content-Length: 1000\r\n\r\n{"jsonrpc":',
    );
    // The server has the headers and part of the body when the client leaves.
    const req = await received;
    const closed = new Promise((resolve) => req.once('close', resolve));
    socket.destroy();
    await closed;
    // The handler's reaction to the cut-off body runs in promise callbacks, all done before the next turn.
    await new Promise((resolve) => setImmediate(resolve));
    expect(logged).toEqual([]);
    const res = await fetch(server.endpoint, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        authorization: 'Bearer test-token',
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    });
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('analyze_game');
  } finally {
    await server.close();
  }
});
