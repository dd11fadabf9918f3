/**
 * An interactive `gtalign chat` session whose conversation no longer fits the model's context says how to
 * go on (`/reset`): on the local engine with the generated tiny model (random weights; the prompt is
 * refused before any token is generated, so what it would say does not matter), and on a server that
 * refuses it in its own words (a scripted server answering vLLM's 400).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { writeTinyModel } from '../../src/assistant/tiny-model.js';
import { runCliInProcess } from '../support/cli-in-process.js';
import { startOpenAIStubServer } from '../support/openai-stub-server.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gtalign-chat-context-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

it('a session question past the context names the limit and /reset', { timeout: 120_000 }, async () => {
  const { path } = await writeTinyModel(dir);
  const r = await runCliInProcess(
    ['chat', '--backend', 'local', '--model', path, '--context-size', '256', '--threads', '1'],
    { stdin: `${'Tell me about dinosaurs and their first appearance. '.repeat(60)}\n` },
  );
  expect(r.code).toBe(1);
  expect(r.stderr).toMatch(/does not fit the context of 256 tokens.*; \/reset starts the conversation over/);
});

it('a session question a server refuses as too long for its context names /reset too', async () => {
  // vLLM's wording for a prompt past the model's context (a 400, as vLLM sends it).
  const message =
    "This model's maximum context length is 4096 tokens. However, you requested 5120 tokens (5000 in the messages, 120 in the completion). Please reduce the length of the messages or completion.";
  const server = await startOpenAIStubServer(() => ({ status: 400, errorMessage: message }));
  try {
    const r = await runCliInProcess(
      ['chat', '--backend', 'openai', '--base-url', server.baseUrl, '--model', 'm', '--vendor', 'vllm'],
      { stdin: 'A question.\n' },
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('maximum context length is 4096 tokens');
    expect(r.stderr).toContain('; /reset starts the conversation over');
  } finally {
    await server.close();
  }
});
