/**
 * Progress of `respond` for a client that asks for it, through the official MCP SDK client (1.32.2) over
 * its in-memory transport: one `notifications/progress` once stage 1 has decided the cell, before the reply
 * (so a client with `resetTimeoutOnProgress` keeps waiting for a slow model). The upstream is a SCRIPTED
 * loopback server (the paper's dinosaur example), not a model.
 */
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { Progress } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { dinosaurScript, QUESTION, RESPONSES } from '../server/scripted-upstream.js';
import { type OpenAIStubServer, startOpenAIStubServer } from '../support/openai-stub-server.js';
import { connectInMemory } from './in-memory-client.js';

let upstream: OpenAIStubServer;
let client: Client;
const logged: string[] = [];

beforeAll(async () => {
  upstream = await startOpenAIStubServer(dinosaurScript());
  client = await connectInMemory(upstream, logged, 'progress-test');
});
afterAll(async () => {
  await client.close();
  await upstream.close();
});

it('respond tells a client that asked how far the turn is: the decided cell, before the reply', async () => {
  const seen: Progress[] = [];
  let answered = false;
  const result = await client.callTool({ name: 'respond', arguments: { question: QUESTION } }, undefined, {
    onprogress: (p) => {
      expect(answered).toBe(false);
      seen.push(p);
    },
  });
  answered = true;
  expect(result.isError).not.toBe(true);
  expect((result.structuredContent as { response: string }).response).toBe(RESPONSES.CQ);
  expect(seen).toEqual([{ progress: 1, total: 2, message: 'decided VQ_CQ; writing the reply' }]);
  expect(logged).toEqual([]);
});
