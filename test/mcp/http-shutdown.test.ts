/**
 * A call in flight over streamable HTTP when the server ends its session (the server stops, or more
 * sessions open than it keeps) fails at once with a message saying why, and its model request stops;
 * before, the client's call waited for an answer that never came, until its own timeout (60 s by default).
 * The official SDK client on the other side; the upstream is a SCRIPTED loopback server that never answers.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { McpError } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { MAX_SESSIONS, type RunningMcpServer } from '../../src/mcp/http.js';
import { type OpenAIStubServer, startOpenAIStubServer } from '../support/openai-stub-server.js';
import { startMcpOverHttp } from './http-server.js';

const TOKEN = 'test-mcp-shutdown-token';
const HEADERS = {
  'content-type': 'application/json',
  accept: 'application/json, text/event-stream',
  authorization: `Bearer ${TOKEN}`,
};
let upstream: OpenAIStubServer;

beforeAll(async () => {
  upstream = await startOpenAIStubServer(() => ({ hang: true }));
});
afterAll(async () => {
  await upstream?.close();
});

async function connect(server: RunningMcpServer): Promise<Client> {
  const client = new Client({ name: 'gtalign-test', version: '1.0.0' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(server.endpoint), {
      requestInit: { headers: { authorization: `Bearer ${TOKEN}` } },
    }),
  );
  return client;
}

/** A `decide` call, settled to its error; the client's timeout is longer than the test may run. */
const decide = (client: Client) =>
  client
    .callTool({ name: 'decide', arguments: { question: 'When did dinosaurs first appear?' } }, undefined, {
      timeout: 10 * 60_000,
    })
    .then(
      () => new Error('the call succeeded'),
      (e: unknown) => e as Error,
    );

it('a call in flight when the server stops is answered with an error, and its model request stops', async () => {
  const server = await startMcpOverHttp(upstream, TOKEN);
  const client = await connect(server);
  const call = decide(client);
  await expect.poll(() => upstream.inFlight).toBe(1);
  await server.close();
  const error = await call;
  expect(error).toBeInstanceOf(McpError);
  expect(error.message).toMatch(/gtalign mcp is shutting down: the call was stopped/);
  await expect.poll(() => upstream.inFlight).toBe(0);
  await client.close();
});

it('a call without a session, in flight when the server stops, is answered too', async () => {
  const server = await startMcpOverHttp(upstream, TOKEN);
  const answer = fetch(server.endpoint, {
    method: 'POST',
    headers: HEADERS,
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: 7,
      method: 'tools/call',
      params: { name: 'decide', arguments: { question: 'When did dinosaurs first appear?' } },
    }),
  }).then((res) => res.text());
  await expect.poll(() => upstream.inFlight).toBe(1);
  await server.close();
  const text = await answer;
  expect(text).toContain('"id":7');
  expect(text).toMatch(/gtalign mcp is shutting down/);
  await expect.poll(() => upstream.inFlight).toBe(0);
});

it('a call in the session ended to make room for a new one is answered with an error saying so', async () => {
  const server = await startMcpOverHttp(upstream, TOKEN);
  try {
    const client = await connect(server);
    const call = decide(client);
    await expect.poll(() => upstream.inFlight).toBe(1);
    const init = {
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'x', version: '1' } },
    };
    // The client's session is the least recently used: the session after the last that fits ends it.
    for (let i = 0; i < MAX_SESSIONS; i++) {
      const res = await fetch(server.endpoint, {
        method: 'POST',
        headers: HEADERS,
        body: JSON.stringify(init),
      });
      expect(res.status).toBe(200);
      await res.text();
    }
    const error = await call;
    expect(error).toBeInstanceOf(McpError);
    expect(error.message).toMatch(/the session ended: more than 256 sessions were open/);
    await expect.poll(() => upstream.inFlight).toBe(0);
    await client.close();
  } finally {
    await server.close();
  }
});
