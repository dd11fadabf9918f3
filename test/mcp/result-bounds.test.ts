/**
 * Results past the payoff bound that tool arguments must keep (±1e12), through the official MCP SDK client
 * (in-memory transport). A model's own matrix may pass it: `decide` and `respond` return it, where they
 * used to fail with the SDK's "Output validation error" naming the bound as if the caller had broken it.
 * Edits a policy compiles past it (huge prices) are refused by `steer` naming the policy, not by output
 * validation. `decide` and `respond` run against a SCRIPTED loopback upstream (the paper's dinosaur
 * example, test/server/scripted-upstream.ts) whose stage 1 writes one payoff of 1e13.
 */
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { dinosaurScript, MATRIX, QUESTION, RESPONSES, STAGE1 } from '../server/scripted-upstream.js';
import { type OpenAIStubServer, startOpenAIStubServer } from '../support/openai-stub-server.js';
import { connectInMemory } from './in-memory-client.js';

const HUGE = '"DQ_DA": {"LLM": 1e13, "user": 2.8}';
let upstream: OpenAIStubServer;
let client: Client;
const logged: string[] = [];

beforeAll(async () => {
  const script = dinosaurScript();
  upstream = await startOpenAIStubServer((body) => {
    const reply = script(body);
    return reply.content?.startsWith(STAGE1.slice(0, 40))
      ? { ...reply, content: reply.content.replace('"DQ_DA": {"LLM": 1.6, "user": 2.8}', HUGE) }
      : reply;
  });
  client = await connectInMemory(upstream, logged, 'gtalign-test');
});
afterAll(async () => {
  await client?.close();
  await upstream?.close();
});

const call = async (name: string, args: Record<string, unknown>) =>
  (await client.callTool({ name, arguments: args })) as CallToolResult;
const textOf = (r: CallToolResult) => r.content.map((c) => (c.type === 'text' ? c.text : '')).join('');
// biome-ignore lint/suspicious/noExplicitAny: the tests read nested fields of the tools' JSON results
const structured = (r: CallToolResult) => r.structuredContent as Record<string, any>;

it("decide and respond return a model's matrix with a payoff past the argument bound", async () => {
  const decided = await call('decide', { question: QUESTION });
  expect(decided.isError, textOf(decided)).toBeFalsy();
  expect(structured(decided).matrix_before.DQ_DA).toEqual({ LLM: 1e13, user: 2.8 });
  expect(structured(decided).cell).toBe('DQ_DA');
  const answered = await call('respond', { question: QUESTION });
  expect(answered.isError, textOf(answered)).toBeFalsy();
  expect(structured(answered).response).toBe(RESPONSES.DA);
  expect(structured(answered).gtalign.matrix_before.DQ_DA.LLM).toBe(1e13);
  expect(logged).toEqual([]);
});

it('steer names the policy whose edits pass the bound, not the output schema', async () => {
  const prices = await call('steer', {
    matrix: MATRIX,
    policy: {
      billing: 'per-token',
      pricePerMillionInput: 1e300,
      pricePerMillionOutput: 1e300,
      utilityPerCurrency: 50,
    },
  });
  expect(prices.isError).toBe(true);
  expect(textOf(prices)).toMatch(
    /^steer: the policy's edits reach -?[0-9.e+]+ at DQ_DA\.LLM: payoffs and edits lie within ±1000000000000; lower its prices/,
  );
  expect(textOf(prices)).not.toMatch(/Output validation/);
  // A payoff and an edit each within the bound whose sum is not.
  const sum = await call('steer', {
    matrix: Object.fromEntries(Object.keys(MATRIX).map((k) => [k, { LLM: 1e12, user: 1 }])),
    policy: { kind: 'fixed', all: { LLM: 1e12 } },
  });
  expect(sum.isError).toBe(true);
  expect(textOf(sum)).toMatch(
    /^steer: the steered payoffs \(payoff \+ edit\) reach 2000000000000 at \w+\.LLM/,
  );
  expect(logged).toEqual([]);
});

it('analyze_game lists at most 64 equilibria and says how many there are (a 10×10 coordination game has 1023)', async () => {
  const rows = Array.from({ length: 10 }, (_, i) => `R${i}`);
  const columns = Array.from({ length: 10 }, (_, j) => `C${j}`);
  const matrix: Record<string, { LLM: number; user: number }> = {};
  rows.forEach((r, i) => {
    columns.forEach((c, j) => {
      matrix[`${r}_${c}`] = i === j ? { LLM: 1, user: 1 } : { LLM: 0, user: 0 };
    });
  });
  const result = await call('analyze_game', { matrix, rows, columns });
  expect(result.isError, textOf(result)).toBeFalsy();
  expect(structured(result).nash).toHaveLength(64);
  expect(structured(result).nash_total).toBe(1023);
  expect(structured(result).note).toContain('the game has 1023 equilibria; the first 64 are listed');
  // It was 324 KB, twice over (the structured result and its text).
  expect(textOf(result).length).toBeLessThan(40_000);
  expect(logged).toEqual([]);
});
