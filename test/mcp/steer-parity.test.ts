/**
 * The MCP `steer` tool reports what a turn would pick: the same matrix and policy give the same steered
 * matrix and choice as the library's steering of a turn (`steer` in src/studio/steer.ts, the steps
 * `runTurn` takes), through the official SDK client over the in-memory transport.
 */
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { PayoffMatrix } from '../../src/game/spec.js';
import { parsePolicy } from '../../src/steering/policy.js';
import { steer } from '../../src/studio/steer.js';
import { dinosaurScript, MATRIX } from '../server/scripted-upstream.js';
import { type OpenAIStubServer, startOpenAIStubServer } from '../support/openai-stub-server.js';
import { connectInMemory } from './in-memory-client.js';

let upstream: OpenAIStubServer;
let client: Client;
const logged: string[] = [];

beforeAll(async () => {
  upstream = await startOpenAIStubServer(dinosaurScript());
  client = await connectInMemory(upstream, logged, 'gtalign-steer-parity');
});
afterAll(async () => {
  await client?.close();
  await upstream?.close();
});

// biome-ignore lint/suspicious/noExplicitAny: the tests read nested fields of the tools' JSON results
async function steerTool(matrix: PayoffMatrix, policy: unknown): Promise<Record<string, any>> {
  const result = (await client.callTool({ name: 'steer', arguments: { matrix, policy } })) as CallToolResult;
  const text = result.content.map((c) => (c.type === 'text' ? c.text : '')).join('');
  expect(result.isError, text).toBeFalsy();
  // biome-ignore lint/suspicious/noExplicitAny: as above
  return result.structuredContent as Record<string, any>;
}

it('a policy that edits nothing keeps the payoffs as written, so the choice does not move', async () => {
  // DQ_DA wins by 0.001 on LLM + user; rounded to two decimals the two cells tie and DQ_CQ would win.
  const close: PayoffMatrix = {
    ...MATRIX,
    DQ_DA: { LLM: 4.004, user: 1 },
    DQ_CQ: { LLM: 4, user: 1.003 },
  };
  const turn = steer(close, parsePolicy({ kind: 'none' }));
  expect(turn.chosen).toBe('DQ_DA');
  const tool = await steerTool(close, 'none');
  expect(tool.choice_before).toBe('DQ_DA');
  expect(tool.choice_after).toBe(turn.chosen);
  expect(tool.matrix_after.DQ_DA).toEqual({ LLM: 4.004, user: 1 });
  expect(logged).toEqual([]);
});

it('takes a fixed edit with per-cell edits, as the library and policy files do', async () => {
  const policy = { kind: 'fixed', cells: { VQ_CQ: { user: -1 } } };
  const turn = steer(MATRIX, parsePolicy(policy));
  const tool = await steerTool(MATRIX, policy);
  expect(tool.edits.VQ_CQ).toEqual({ LLM: 0, user: -1 });
  expect(tool.matrix_after).toEqual(turn.after);
  expect(tool.choice_after).toBe(turn.chosen);
  expect(tool.choice_after).not.toBe(tool.choice_before);
});
