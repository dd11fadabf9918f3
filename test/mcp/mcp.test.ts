/**
 * `gtalign mcp` through the official MCP SDK client: over stdio (the real CLI spawned as a child process,
 * `gtalign mcp …` from test/support/cli.ts) and over streamable HTTP (the server in-process, and the real
 * CLI with `--transport http`). `decide` and `respond` run against a scripted OpenAI-compatible upstream
 * (test/support/openai-stub-server.ts, not a model) that replays the paper's dinosaur example
 * (test/server/scripted-upstream.ts); the backend is given with `--vendor vllm` explicitly.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningMcpServer } from '../../src/mcp/http.js';
import { PRESETS } from '../../src/steering/presets.js';
import {
  dinosaurScript,
  MATRIX,
  PAPER_API_MATRIX,
  QUESTION,
  RESPONSES,
} from '../server/scripted-upstream.js';
import { cliArgs, REPO_ROOT } from '../support/cli.js';
import { type OpenAIStubServer, startOpenAIStubServer } from '../support/openai-stub-server.js';
import { startMcpOverHttp } from './http-server.js';

const TOOLS = ['analyze_game', 'decide', 'respond', 'score_reward', 'steer'];

/** The paper's motivating prisoner's dilemma (GTALIGN.md §1), as {LLM, user}. */
const PRISONERS_DILEMMA = {
  VQ_DA: { LLM: 1, user: 1 },
  VQ_AQ: { LLM: 0, user: 4 },
  VQ_CQ: { LLM: 0, user: 1 },
  DQ_DA: { LLM: 1, user: 0 },
  DQ_AQ: { LLM: 3, user: 3 },
  DQ_CQ: { LLM: 1, user: 2 },
};

interface ParityCase {
  id: string;
  data_source: string;
  response: string;
  ground_truth: string;
  extra_info?: Record<string, unknown>;
  verdict: number;
  category: string;
  expected: { score: number; user_reward: number; llm_reward: number; answer_reward: number };
}
const PARITY: ParityCase = readFileSync(new URL('../fixtures/reward-parity.jsonl', import.meta.url), 'utf8')
  .split('\n')
  .filter((l) => l.trim() !== '')
  .map((l) => JSON.parse(l) as ParityCase)
  .find((c) => c.id === 'medium-42-1')!;

let upstream: OpenAIStubServer;
beforeAll(async () => {
  upstream = await startOpenAIStubServer(dinosaurScript());
});
afterAll(async () => {
  await upstream.close();
});

// biome-ignore lint/suspicious/noExplicitAny: the tests read nested fields of the tools' JSON results
const structured = (r: unknown) => (r as CallToolResult).structuredContent as Record<string, any>;

/** Calls each tool and checks what a user relies on; shared by every transport. */
async function callEveryTool(client: Client): Promise<void> {
  const { tools } = await client.listTools();
  expect(tools.map((t) => t.name).sort()).toEqual(TOOLS);
  for (const t of tools) {
    expect(t.inputSchema.type, t.name).toBe('object');
    expect(t.outputSchema?.type, t.name).toBe('object');
  }

  const game = structured(
    await client.callTool({ name: 'analyze_game', arguments: { matrix: PRISONERS_DILEMMA } }),
  );
  expect(game.pure_nash).toEqual(['VQ_DA']);
  expect(game.choice).toBe('DQ_AQ');
  expect(game.pareto).toContain('DQ_AQ');

  const steered = structured(
    await client.callTool({ name: 'steer', arguments: { matrix: MATRIX, policy: 'paper-api' } }),
  );
  expect(steered.choice_before).toBe('VQ_CQ');
  expect(steered.choice_after).toBe('DQ_DA');
  expect(steered.matrix_after).toEqual(PAPER_API_MATRIX);
  expect(steered.edits.DQ_DA).toEqual({ LLM: 1, user: -0.5 });

  // The same edit as an inline policy object.
  const inline = (await client.callTool({
    name: 'steer',
    arguments: {
      matrix: MATRIX,
      policy: { kind: 'fixed', all: { user: -0.5 }, columns: { DA: { LLM: 1 }, AQ: { LLM: 0.5 }, CQ: {} } },
    },
  })) as CallToolResult;
  expect(inline.isError, JSON.stringify(inline.content)).toBeFalsy();
  expect(structured(inline).matrix_after).toEqual(PAPER_API_MATRIX);

  const decided = structured(await client.callTool({ name: 'decide', arguments: { question: QUESTION } }));
  expect(decided).toMatchObject({ user_type: 'VQ', action: 'CQ', cell: 'VQ_CQ', should_clarify: true });
  expect(decided.matrix_before).toEqual(MATRIX);
  expect(decided.reasoning).toContain('<payoff>');
  expect(Object.keys(decided.tokens)).toEqual(['stage1']);
  const decidedApi = structured(
    await client.callTool({ name: 'decide', arguments: { question: QUESTION, policy: 'paper-api' } }),
  );
  expect(decidedApi).toMatchObject({ user_type: 'DQ', action: 'DA', should_clarify: false });

  const answered = structured(await client.callTool({ name: 'respond', arguments: { question: QUESTION } }));
  expect(answered.response).toBe(RESPONSES.CQ);
  expect(answered.gtalign.cell).toBe('VQ_CQ');
  expect(answered.output).toContain(`<response>${RESPONSES.CQ}</response>`);
  const answeredApi = structured(
    await client.callTool({ name: 'respond', arguments: { question: QUESTION, policy: 'paper-api' } }),
  );
  expect(answeredApi.response).toBe(RESPONSES.DA);

  const reward = structured(
    await client.callTool({
      name: 'score_reward',
      arguments: {
        output: PARITY.response,
        ground_truth: PARITY.ground_truth,
        data_source: PARITY.data_source,
        verdict: PARITY.verdict,
        ...(PARITY.extra_info === undefined ? {} : { extra_info: PARITY.extra_info }),
      },
    }),
  );
  for (const k of ['score', 'user_reward', 'llm_reward', 'answer_reward'] as const) {
    expect(Math.abs(reward[k] - PARITY.expected[k]), k).toBeLessThan(1e-12);
  }
  expect(reward.components.bleu).toBeGreaterThan(0);
  // A verdict off the task's scale (a judge's failure marker) is refused, not clipped into a 0 reward.
  const offScale = (await client.callTool({
    name: 'score_reward',
    arguments: {
      output: PARITY.response,
      ground_truth: PARITY.ground_truth,
      data_source: PARITY.data_source,
      verdict: -1,
      ...(PARITY.extra_info === undefined ? {} : { extra_info: PARITY.extra_info }),
    },
  })) as CallToolResult;
  expect(offScale.isError).toBe(true);
  expect(JSON.stringify(offScale.content)).toMatch(/verdict -1 is outside the \w+ scale/);

  // Bad arguments are tool errors naming the problem, not protocol failures.
  const badPolicy = (await client.callTool({
    name: 'steer',
    arguments: { matrix: MATRIX, policy: { billing: 'per-token' } },
  })) as CallToolResult;
  expect(badPolicy.isError).toBe(true);
  expect(JSON.stringify(badPolicy.content)).toMatch(/pricePerMillionInput/);
  const missing = (await client.callTool({
    name: 'analyze_game',
    arguments: { matrix: { DQ_DA: { LLM: 1, user: 1 } } },
  })) as CallToolResult;
  expect(missing.isError).toBe(true);
  expect(JSON.stringify(missing.content)).toMatch(/DQ_CQ/);
  // A payoff whose sums would pass the largest double is named as such, not an output-schema failure.
  const huge = (await client.callTool({
    name: 'analyze_game',
    arguments: {
      matrix: Object.fromEntries(Object.keys(MATRIX).map((k) => [k, { LLM: 1e308, user: 1e308 }])),
    },
  })) as CallToolResult;
  expect(huge.isError).toBe(true);
  expect(JSON.stringify(huge.content)).toMatch(/payoffs lie within ±1000000000000/);
  expect(JSON.stringify(huge.content)).not.toMatch(/Output validation/);

  const { resources } = await client.listResources();
  expect(resources.map((r) => r.uri).sort()).toEqual(['gtalign://policy-schema', 'gtalign://presets']);
  const presets = await client.readResource({ uri: 'gtalign://presets' });
  expect(JSON.parse((presets.contents[0] as { text: string }).text)).toEqual(PRESETS);
  const schema = await client.readResource({ uri: 'gtalign://policy-schema' });
  expect(JSON.parse((schema.contents[0] as { text: string }).text).anyOf).toBeDefined();
}

const backendArgs = () => [
  '--backend',
  'openai',
  '--base-url',
  upstream.baseUrl,
  '--vendor',
  'vllm',
  '--model',
  'stub-model',
];

describe('over stdio: the real CLI', () => {
  it('lists the tools and calls each one', async () => {
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: cliArgs(['mcp', ...backendArgs()]),
      cwd: REPO_ROOT,
      env: { ...(process.env as Record<string, string>), GTALIGN_POLICY: 'none' },
      stderr: 'pipe',
    });
    const client = new Client({ name: 'gtalign-test', version: '1.0.0' });
    await client.connect(transport);
    try {
      expect(client.getServerVersion()?.name).toBe('gtalign');
      await callEveryTool(client);
    } finally {
      await client.close();
    }
  }, 60_000);
});

describe('over streamable HTTP', () => {
  let server: RunningMcpServer;
  const TOKEN = 'test-mcp-token-0123456789';
  beforeAll(async () => {
    server = await startMcpOverHttp(upstream, TOKEN);
  });
  afterAll(async () => {
    await server.close();
  });

  it('binds 127.0.0.1; lists the tools and calls each one with the bearer token', async () => {
    expect(server.host).toBe('127.0.0.1');
    const client = new Client({ name: 'gtalign-test', version: '1.0.0' });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(server.endpoint), {
        requestInit: { headers: { authorization: `Bearer ${TOKEN}` } },
      }),
    );
    try {
      await callEveryTool(client);
    } finally {
      await client.close();
    }
  }, 60_000);

  it('takes the token in the URL, as printed at start-up', async () => {
    const client = new Client({ name: 'gtalign-test', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(`${server.endpoint}?token=${TOKEN}`)));
    const { tools } = await client.listTools();
    expect(tools).toHaveLength(TOOLS.length);
    await client.close();
  });

  it('a wrong or missing token is 401 (and the SDK client fails to connect)', async () => {
    const init = { jsonrpc: '2.0', id: 1, method: 'initialize', params: {} };
    for (const headers of [{ authorization: 'Bearer wrong' }, {}] as Record<string, string>[]) {
      const res = await fetch(server.endpoint, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          ...headers,
        },
        body: JSON.stringify(init),
      });
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toBe('Bearer');
      expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(/token/);
    }
    const client = new Client({ name: 'gtalign-test', version: '1.0.0' });
    const failed = await client
      .connect(
        new StreamableHTTPClientTransport(new URL(server.endpoint), {
          requestInit: { headers: { authorization: 'Bearer wrong' } },
        }),
      )
      .then(
        () => undefined,
        (e: unknown) => e as Error,
      );
    expect(failed?.message).toMatch(/401|token|Unauthorized/i);
  });

  it('refuses a body that is not UTF-8 by byte, as a JSON-RPC error', async () => {
    const call = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { clientInfo: { name: 'café' } } };
    const res = await fetch(server.endpoint, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        authorization: `Bearer ${TOKEN}`,
      },
      body: Buffer.from(JSON.stringify(call), 'latin1'),
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(
      /^the request body is not valid UTF-8: byte \d+ of the body \(0xE9\)/,
    );
  });
});

describe('the real CLI with --transport http', () => {
  let child: ChildProcessWithoutNullStreams | undefined;
  afterAll(() => {
    child?.kill('SIGTERM');
  });

  it('prints the URL with a random token at start, serves it, and stops on SIGTERM', async () => {
    child = spawn(
      process.execPath,
      cliArgs(['mcp', '--transport', 'http', '--port', '0', ...backendArgs()]),
      {
        cwd: REPO_ROOT,
        env: { ...process.env, GTALIGN_MCP_TOKEN: '' },
      },
    );
    const proc = child;
    let stderr = '';
    const exit = new Promise<number | null>((resolve) => proc.on('close', (code) => resolve(code)));
    const url = await new Promise<string>((resolve, reject) => {
      proc.stderr.setEncoding('utf8').on('data', (d: string) => {
        stderr += d;
        const m = /listening on (http:\/\/127\.0\.0\.1:\d+\/mcp\?token=[0-9a-f]{48})/.exec(stderr);
        if (m) resolve(m[1]!);
      });
      void exit.then((code) => reject(new Error(`exited with ${code}: ${stderr}`)));
    });
    const client = new Client({ name: 'gtalign-test', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(url)));
    const game = structured(
      await client.callTool({ name: 'analyze_game', arguments: { matrix: PRISONERS_DILEMMA } }),
    );
    expect(game.pure_nash).toEqual(['VQ_DA']);
    await client.close();
    const wrong = await fetch(url.replace(/token=\w+/, 'token=nope'), { method: 'POST', body: '{}' });
    expect(wrong.status).toBe(401);
    proc.kill('SIGTERM');
    expect(await exit).toBe(0);
  }, 60_000);
});
