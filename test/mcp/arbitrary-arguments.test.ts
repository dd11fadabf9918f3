/**
 * Any arguments to every tool of `gtalign mcp`, through the official MCP SDK client (1.32.2) over its
 * in-memory transport: arbitrary JSON objects, and valid arguments with one value anywhere in them
 * replaced by an arbitrary one, deleted, or joined by an unknown key. Agents write these arguments, so
 * they are untrusted. `decide` and `respond` run against a SCRIPTED loopback upstream
 * (scripted-upstream.ts), which answers every well-formed turn.
 *
 * Shown: no arguments make an unexpected failure (nothing logged as one, no internal error from a tool);
 * a refusal is an error result or an invalid-params error whose message names the problem (arguments that
 * are not an object are refused by the SDK's request check, naming `arguments`); the server answers valid
 * arguments afterwards. The runs are seeded, so a failure is reproduced by running
 * the file again.
 */
import { readFileSync } from 'node:fs';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { type CallToolResult, ErrorCode, McpError } from '@modelcontextprotocol/sdk/types.js';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dinosaurScript, MATRIX, QUESTION } from '../server/scripted-upstream.js';
import { bodies, type Json } from '../support/json-mutations.js';
import { type OpenAIStubServer, startOpenAIStubServer } from '../support/openai-stub-server.js';
import { connectInMemory } from './in-memory-client.js';

const PARITY = readFileSync(new URL('../fixtures/reward-parity.jsonl', import.meta.url), 'utf8')
  .split('\n')
  .filter((l) => l.trim() !== '')
  .map((l) => JSON.parse(l) as Record<string, Json>)
  .find((c) => c.id === 'medium-42-1')!;

let upstream: OpenAIStubServer;
let client: Client;
const logged: string[] = [];

beforeAll(async () => {
  upstream = await startOpenAIStubServer(dinosaurScript());
  client = await connectInMemory(upstream, logged, 'gtalign-fuzz');
});
afterAll(async () => {
  await client?.close();
  await upstream?.close();
});

type Outcome = 'ok' | 'refused';

/** Calls a tool; checks the outcome is a result or a named refusal, never an internal error. */
async function call(name: string, args: Json): Promise<Outcome> {
  const where = `${name}(${JSON.stringify(args).slice(0, 400)})`;
  try {
    const result = (await client.callTool({
      name,
      arguments: args as Record<string, unknown>,
    })) as CallToolResult;
    if (result.isError === true) {
      const text = result.content.map((c) => (c.type === 'text' ? c.text : '')).join('');
      expect(text.length, where).toBeGreaterThan(name.length + 2);
      return 'refused';
    }
    expect(result.structuredContent, where).toBeTypeOf('object');
    return 'ok';
  } catch (err) {
    expect(err, where).toBeInstanceOf(McpError);
    const { code, message } = err as McpError;
    if (args === null || typeof args !== 'object' || Array.isArray(args)) {
      // Not an object: the SDK refuses the request itself, before any tool runs, with its request schema's
      // error (as an internal error, -32603) naming params.arguments.
      expect(message, where).toContain('"arguments"');
      return 'refused';
    }
    // The SDK's check of the arguments against the tool's input schema.
    expect(code, where).toBe(ErrorCode.InvalidParams);
    expect(message.length, where).toBeGreaterThan(0);
    return 'refused';
  }
}

async function fuzz(name: string, valid: Json, numRuns: number): Promise<void> {
  expect(await call(name, valid)).toBe('ok');
  const seen = { ok: 0, refused: 0 };
  await fc.assert(
    fc.asyncProperty(bodies(valid), async (args) => {
      seen[await call(name, args)]++;
    }),
    { numRuns, seed: 20261207, endOnFailure: true },
  );
  expect(seen.ok, JSON.stringify(seen)).toBeGreaterThan(0);
  expect(seen.refused, JSON.stringify(seen)).toBeGreaterThan(0);
  expect(await call(name, valid)).toBe('ok');
  expect(logged).toEqual([]);
}

describe('any arguments', () => {
  it('analyze_game', async () => {
    await fuzz('analyze_game', { matrix: MATRIX as unknown as Json, rule: 'product' }, 200);
  });

  it('steer', async () => {
    const policy = {
      kind: 'fixed',
      all: { user: -0.5 },
      columns: { DA: { LLM: 1 }, AQ: { LLM: 0.5 }, CQ: {} },
    };
    await fuzz('steer', { matrix: MATRIX as unknown as Json, policy }, 200);
  });

  it('score_reward', async () => {
    const valid: Json = {
      output: PARITY.response!,
      ground_truth: PARITY.ground_truth!,
      data_source: PARITY.data_source!,
      verdict: PARITY.verdict!,
      extra_info: PARITY.extra_info!,
    };
    await fuzz('score_reward', valid, 200);
  });

  it('decide and respond', async () => {
    await fuzz('decide', { question: QUESTION, policy: 'paper-api' }, 60);
    await fuzz('respond', { question: QUESTION, policy: 'api' }, 60);
  });
});

describe('refusals these runs found unclear', () => {
  it('a policy the schema refuses is named by the steering check, not as "Invalid input"', async () => {
    const text = async (policy: Json) => {
      const result = (await client.callTool({
        name: 'steer',
        arguments: { matrix: MATRIX as unknown as Json, policy },
      })) as CallToolResult;
      expect(result.isError).toBe(true);
      return result.content.map((c) => (c.type === 'text' ? c.text : '')).join('');
    };
    expect(await text('nope')).toContain('unknown steering preset: "nope"; known presets: none');
    expect(await text({ billing: 'per-token', pricePerMillionInput: 'x' })).toContain(
      'pricePerMillionInput: must be a finite number',
    );
    expect(await text(5)).toContain('a policy must be a JSON object');
  });

  it('a problem of rows or columns is named as theirs, not as the matrix’s', async () => {
    const result = (await client.callTool({
      name: 'analyze_game',
      arguments: { matrix: { DQ_D_A: { LLM: 1, user: 1 } }, rows: ['DQ', 'DQ'], columns: ['D_A'] },
    })) as CallToolResult;
    expect(result.isError).toBe(true);
    expect(result.content.map((c) => (c.type === 'text' ? c.text : '')).join('')).toBe(
      'analyze_game: rows/columns: duplicate user strategy "DQ"; cell key "DQ_D_A" is ambiguous',
    );
  });
});

describe("what a client learns from steer's input schema", () => {
  it('spells out the profile, and a profile in that shape changes the edits', async () => {
    const { tools } = await client.listTools();
    const profile = tools.find((t) => t.name === 'steer')!.inputSchema.properties!.profile as {
      properties?: Record<string, { properties?: unknown; additionalProperties?: { properties?: unknown } }>;
    };
    expect(Object.keys(profile.properties ?? {}).sort()).toEqual([
      'actions',
      'extraTurnOutputTokens',
      'inputTokensPerTurn',
    ]);
    expect(Object.keys(profile.properties!.actions!.additionalProperties!.properties!).sort()).toEqual([
      'extraTurns',
      'outputTokens',
    ]);
    const steer = async (args: Record<string, Json>) =>
      (await client.callTool({
        name: 'steer',
        arguments: { matrix: MATRIX as unknown as Json, policy: 'api', ...args },
      })) as CallToolResult;
    const plain = await steer({});
    const costly = await steer({ profile: { actions: { DA: { outputTokens: 5000 } } } });
    expect(costly.isError, JSON.stringify(costly.content)).toBeFalsy();
    const edit = (r: CallToolResult) =>
      (r.structuredContent as { edits: Record<string, { user: number }> }).edits.DQ_DA!.user;
    expect(edit(costly)).toBeLessThan(edit(plain));
  });
});
