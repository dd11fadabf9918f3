/**
 * The MCP server over streamable HTTP with the official SDK client on the other side: a call the client
 * cancels (its AbortSignal; the SDK's own timeout sends the same notifications/cancelled) or leaves
 * (closing the client) stops the model request behind it, because the session's requests, the cancellation included, reach one server. The upstream
 * is a SCRIPTED loopback server that never answers (it only counts the requests it holds open).
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningMcpServer } from '../../src/mcp/http.js';
import { type OpenAIStubServer, startOpenAIStubServer } from '../support/openai-stub-server.js';
import { startMcpOverHttp } from './http-server.js';

const TOKEN = 'test-mcp-session-token';
let upstream: OpenAIStubServer;
let server: RunningMcpServer;

beforeAll(async () => {
  upstream = await startOpenAIStubServer(() => ({ hang: true }));
  server = await startMcpOverHttp(upstream, TOKEN);
});
afterAll(async () => {
  await server?.close();
  await upstream?.close();
});

async function connect(): Promise<Client> {
  const client = new Client({ name: 'gtalign-test', version: '1.0.0' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(server.endpoint), {
      requestInit: { headers: { authorization: `Bearer ${TOKEN}` } },
    }),
  );
  return client;
}

/** Starts a `respond` call and waits until its model request is open upstream; the call, unsettled. */
async function respondCall(client: Client, options: { signal?: AbortSignal; timeout?: number }) {
  const call = client
    .callTool({ name: 'respond', arguments: { question: 'When did dinosaurs first appear?' } }, undefined, {
      timeout: 60_000,
      ...options,
    })
    .then(
      () => undefined,
      (e: unknown) => e as Error,
    );
  // The stub records a request when it is answered; one it holds open shows in `inFlight`.
  await expect.poll(() => upstream.inFlight).toBe(1);
  // Wrapped: an async function returning the promise itself would wait for it to settle.
  return { call };
}

describe('a call over HTTP that the client gives up', () => {
  it('is cancelled upstream when the client aborts it', async () => {
    const client = await connect();
    const abort = new AbortController();
    const { call } = await respondCall(client, { signal: abort.signal });
    abort.abort('changed my mind');
    expect(await call).toBeInstanceOf(Error);
    await expect.poll(() => upstream.inFlight).toBe(0);
    await client.close();
  });

  it('is cancelled upstream when the client closes', async () => {
    const client = await connect();
    const { call } = await respondCall(client, {});
    await client.close();
    await call;
    await expect.poll(() => upstream.inFlight).toBe(0);
  });

  it('takes ?token= when a proxy sends an Authorization header of another kind', async () => {
    const init = {
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'x', version: '1' } },
    };
    const res = await fetch(`${server.endpoint}?token=${TOKEN}`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        authorization: 'Basic cHJveHk6cGFzcw==',
      },
      body: JSON.stringify(init),
    });
    expect(res.status).toBe(200);
    const session = res.headers.get('mcp-session-id');
    expect(session).toMatch(/^[0-9a-f]{48}$/);
    await res.text();
    // The session ends on DELETE; a request in it afterwards is a 404, which tells a client to start anew.
    const del = await fetch(server.endpoint, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${TOKEN}`, 'mcp-session-id': session! },
    });
    expect(del.status).toBe(200);
    const after = await fetch(server.endpoint, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        authorization: `Bearer ${TOKEN}`,
        'mcp-session-id': session!,
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/list' }),
    });
    expect(after.status).toBe(404);
  });
});
