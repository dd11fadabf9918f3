/**
 * gtalign against a real llama.cpp `llama-server` (built from the llama.cpp source node-llama-cpp 3.x ships,
 * see scripts/build-llama-server.mjs), serving a generated GGUF with random weights: the grammar, not the
 * weights, makes the four blocks valid, so a valid matrix here shows the server applied gtalign's grammar.
 *
 * - `gtalign chat` with only --base-url: the server is detected as llama.cpp, stage 2 continues the same
 *   assistant turn (its prompt comes from the server's KV cache: cached prompt tokens > 0);
 * - `gtalign serve` in front of it, called with the official `openai` client (plain and streamed);
 * - a live study turn (the studio's code): one stage 1, continued by two policies;
 * - `gtalign eval run --mode assistant` on shipped rows of every data set.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeTinyModel } from '../../src/assistant/tiny-model.js';
import { createOpenAIModel } from '../../src/llm/openai.js';
import { PRESETS } from '../../src/steering/presets.js';
import { createLiveStudies } from '../../src/studio/live-study.js';
import { createPlayground } from '../../src/studio/playground.js';
import { openStudyStore } from '../../src/studio/study.js';
import { HAVE_DATA, shippedPath } from '../data/helpers.js';
import { cliArgs, REPO_ROOT } from '../support/cli.js';
import { runCliInProcess } from '../support/cli-in-process.js';
import { findLlamaServer, type RunningLlamaServer, startLlamaServer } from '../support/llama-server.js';

const binary = findLlamaServer();
if (binary.kind === 'skip') {
  process.stderr.write(`\n!!! ${binary.reason}\n\n`);
}
const QUESTION = 'Which planet is the largest?';
// Short blocks keep random text brief; one integer digit keeps payoffs small.
const SHORT = ['--max-chars', '16', '--seed', '3'];

let dir: string;
let server: RunningLlamaServer;

describe.skipIf(binary.kind === 'skip')('a real llama-server', () => {
  beforeAll(async () => {
    if (binary.kind !== 'found') return;
    dir = await mkdtemp(join(tmpdir(), 'gtalign-llama-server-'));
    const model = await writeTinyModel(dir);
    // The shipped rows' prompts run to ~5k tokens of the tiny byte-level vocabulary.
    server = await startLlamaServer(binary.path, model.path, { contextSize: 16_384 });
  }, 180_000);
  afterAll(async () => {
    await server?.stop();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it('gtalign chat with only --base-url: detected, grammar applied, stage 2 continues in the KV cache', {
    timeout: 120_000,
  }, async () => {
    const r = await runCliInProcess([
      'chat',
      QUESTION,
      '--backend',
      'openai',
      '--base-url',
      `${server.origin}/v1`,
      '--model',
      'tiny',
      '--continuation',
      'continue',
      ...SHORT,
      '--json',
    ]);
    expect(r.stderr).not.toMatch(/error/i);
    expect(r.code).toBe(0);
    const result = JSON.parse(r.stdout) as {
      trace: {
        formatProblems: string[];
        continuation?: string;
        backend?: string;
        constraintIgnored?: unknown;
        stages: Array<{ name: string; promptTokens: number; cachedPromptTokens: number }>;
      };
    };
    expect(JSON.stringify(result)).toMatch(/llamacpp/);
    expect(result.trace.formatProblems).toEqual([]);
    expect(result.trace.stages.map((s) => s.name)).toEqual(['stage1', 'stage2']);
    const stage2 = result.trace.stages[1]!;
    expect(stage2.cachedPromptTokens).toBeGreaterThan(0);
    expect(stage2.cachedPromptTokens).toBeLessThanOrEqual(stage2.promptTokens);
    expect(JSON.stringify(result)).not.toMatch(/constraint_ignored/);
  });

  it('gtalign serve in front of it answers the official openai client, plain, streamed and in the background; the access log has each turn’s tokens as the server counted them', {
    timeout: 120_000,
  }, async () => {
    const logDir = await mkdtemp(join(tmpdir(), 'gtalign-real-log-'));
    const accessLog = join(logDir, 'access.log');
    const child = spawn(
      process.execPath,
      cliArgs([
        'serve',
        '--upstream-url',
        `${server.origin}/v1`,
        '--port',
        '0',
        '--max-chars',
        '16',
        '--access-log',
        accessLog,
      ]),
      { cwd: REPO_ROOT, env: process.env },
    );
    try {
      const url = await listening(child);
      const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'unused', maxRetries: 0 });
      const plain = await client.chat.completions.create({
        model: 'tiny',
        messages: [{ role: 'user', content: QUESTION }],
        seed: 5,
      });
      const gtalign = (plain as unknown as { gtalign: { action: string; cell: string } }).gtalign;
      expect(['DA', 'CQ', 'AQ']).toContain(gtalign.action);
      expect(gtalign.cell).toMatch(/^[DV]Q_(DA|CQ|AQ)$/);
      expect(typeof plain.choices[0]!.message.content).toBe('string');
      expect(plain.usage?.prompt_tokens).toBeGreaterThan(0);

      const stream = await client.chat.completions.create({
        model: 'tiny',
        messages: [{ role: 'user', content: QUESTION }],
        seed: 6,
        stream: true,
      });
      let finish: string | null | undefined;
      let chunks = 0;
      for await (const chunk of stream) {
        chunks++;
        finish = chunk.choices[0]?.finish_reason ?? finish;
      }
      expect(chunks).toBeGreaterThan(1);
      expect(['stop', 'length']).toContain(finish);

      // Separate reasoning: stage 1 streams from the real server (stop at </payoff> and the grammar in
      // streaming mode), its thinking and then the analysis ahead of the content, no tag in it.
      const separate = await client.chat.completions.create(
        { model: 'tiny', messages: [{ role: 'user', content: QUESTION }], seed: 7, stream: true },
        { headers: { 'x-gtalign-reasoning': 'separate' } },
      );
      let reasoning = '';
      let content = '';
      let reasoningAfterContent = false;
      let cell = '';
      for await (const chunk of separate) {
        const delta = chunk.choices[0]?.delta as { content?: string; reasoning_content?: string } | undefined;
        if (delta?.reasoning_content !== undefined) {
          if (content !== '') reasoningAfterContent = true;
          reasoning += delta.reasoning_content;
        }
        content += delta?.content ?? '';
        cell = (chunk as unknown as { gtalign?: { cell: string } }).gtalign?.cell ?? cell;
      }
      expect(reasoning.length).toBeGreaterThan(0);
      expect(reasoning).not.toMatch(/<\/?(thinking|payoff|analyze|response)>/);
      expect(reasoningAfterContent).toBe(false);
      expect(cell).toMatch(/^[DV]Q_(DA|CQ|AQ)$/);

      // A background response, streamed, then retrieved: the same turn, run detached and kept.
      const background = await client.responses.create({
        model: 'tiny',
        input: QUESTION,
        background: true,
        stream: true,
        seed: 5,
      } as never);
      const types: string[] = [];
      let id = '';
      for await (const event of background as unknown as AsyncIterable<OpenAI.Responses.ResponseStreamEvent>) {
        types.push(event.type);
        if (event.type === 'response.created') id = event.response.id;
      }
      expect(types.slice(0, 3)).toEqual(['response.created', 'response.queued', 'response.in_progress']);
      expect(['response.completed', 'response.incomplete']).toContain(types.at(-1));
      const kept = await client.responses.retrieve(id);
      expect(['completed', 'incomplete']).toContain(kept.status);
      expect(kept.background).toBe(true);
      expect((kept as unknown as { gtalign: { cell: string } }).gtalign.cell).toMatch(/^[DV]Q_(DA|CQ|AQ)$/);
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('close', resolve));
      // The access log, written out by the time the process has exited: the plain turn's tokens are the
      // usage llama-server reported for its two calls.
      const logged = (await readFile(accessLog, 'utf8'))
        .trim()
        .split('\n')
        .map(
          (l) =>
            JSON.parse(l) as {
              route?: string;
              kind?: string;
              turn?: { cell: string; tokens: Record<string, number> };
            },
        );
      const usage = plain.usage!;
      expect(logged[0]!.turn).toMatchObject({
        cell: gtalign.cell,
        tokens: {
          prompt: usage.prompt_tokens,
          cached_prompt: usage.prompt_tokens_details?.cached_tokens ?? 0,
          completion: usage.completion_tokens,
        },
      });
      expect(logged.find((l) => l.kind === 'background')).toMatchObject({
        response: id,
        turn: { cell: expect.any(String) },
      });
    } finally {
      if (child.exitCode === null) child.kill('SIGTERM');
      if (child.exitCode === null) await new Promise((resolve) => child.once('close', resolve));
      await rm(logDir, { recursive: true, force: true });
    }
  });

  it('a live study turn: one stage 1, and two policies continue it in the same turn on the server', {
    timeout: 120_000,
  }, async () => {
    const model = createOpenAIModel({ baseUrl: `${server.origin}/v1`, model: 'tiny', vendor: 'llamacpp' });
    const store = await openStudyStore(join(dir, 'studies'));
    try {
      const study = await store.create({
        kind: 'live',
        name: 'real server',
        arms: {
          A: { run: 'none', policy: PRESETS.none, rule: 'sum' },
          B: { run: 'paper-api', policy: PRESETS['paper-api'], rule: 'sum' },
        },
        items: [],
        seed: 1,
      });
      const live = createLiveStudies(
        store,
        createPlayground(async () => model, { grammar: { maxChars: 16 }, seed: 3 }),
      );
      const item = await live.turn(study.id, 'r1', { message: QUESTION, newConversation: false });
      // Both arms' outputs begin with the one stage 1 and hold a cell of the game.
      const stage1 = item.live!.stage1!;
      expect(stage1).toContain('<payoff>');
      for (const arm of ['A', 'B'] as const) {
        expect(item.live!.cells[arm]).toMatch(/^[DV]Q_(DA|CQ|AQ)$/);
        expect(item.live!.outputs[arm]).toContain('<response>');
        expect(item.live!.outputs[arm].startsWith(stage1.slice(0, stage1.indexOf('<payoff>')))).toBe(true);
      }
      expect(store.get(study.id).items).toHaveLength(1);
    } finally {
      await store.close();
      await model.close();
    }
  });

  it.skipIf(!HAVE_DATA)(
    'eval run --mode assistant on shipped rows of every data set',
    {
      timeout: 300_000,
    },
    async () => {
      const out = join(dir, 'run');
      const sources = ['math-hard', 'medium', 'wildguard', 'ambig_qa', 'minerva'];
      const r = await runCliInProcess([
        'eval',
        'run',
        ...sources.map((s) => shippedPath(s, 'test')),
        '--limit',
        '1',
        '--backend',
        'openai',
        '--base-url',
        `${server.origin}/v1`,
        '--model',
        'tiny',
        '--judge',
        'offline',
        '--out',
        out,
        ...SHORT,
      ]);
      expect(r.code, r.stderr).toBe(0);
      const metrics = JSON.parse(await readFile(join(out, 'metrics.json'), 'utf8')) as {
        overall: { n: number; format_score: number };
      };
      expect(metrics.overall.n).toBe(sources.length);
      const records = (await readFile(join(out, 'results.jsonl'), 'utf8')).trim().split('\n');
      expect(records).toHaveLength(sources.length);
      const config = JSON.parse(await readFile(join(out, 'config.json'), 'utf8')) as { backend: unknown };
      expect(JSON.stringify(config.backend)).toMatch(/llamacpp/);
    },
  );
});

function listening(child: ChildProcessWithoutNullStreams): Promise<string> {
  let stderr = '';
  return new Promise((resolve, reject) => {
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
      const m = /listening on (http:\/\/[\d.:]+)/.exec(stderr);
      if (m) resolve(m[1]!);
    });
    child.once('close', (code) => reject(new Error(`gtalign serve exited with ${code}: ${stderr}`)));
  });
}
