/**
 * An interactive `gtalign chat` session whose conversation no longer fits the model's context says how to
 * go on (`/reset`), on the local engine with the generated tiny model (random weights; the prompt is
 * refused before any token is generated, so what it would say does not matter).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { writeTinyModel } from '../../src/assistant/tiny-model.js';
import { runCliInProcess } from '../support/cli-in-process.js';

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
