/**
 * `gtalign serve` in front of the embedded engine (a generated tiny GGUF, random weights): a conversation
 * longer than the model's context is the client's to shorten, so it is a 400 with OpenAI's code
 * `context_length_exceeded` (which clients use to trim history), not a 502 counted as an upstream failure.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeTinyLlamaGguf } from '../../src/llm/gguf-writer.js';
import { createLocalModel } from '../../src/llm/local.js';
import type { ChatModel } from '../../src/llm/types.js';
import type { RunningServer } from '../../src/server/listen.js';
import { startProxyServer } from '../../src/server/proxy.js';

let dir: string;
let model: ChatModel;
let proxy: RunningServer;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gtalign-local-context-'));
  const modelPath = join(dir, 'tiny.gguf');
  await writeTinyLlamaGguf(modelPath, { seed: 1 });
  model = await createLocalModel({ modelPath, seed: 5, contextSize: 256 });
  proxy = await startProxyServer({ model, port: 0 });
});
afterAll(async () => {
  await proxy?.close();
  await model?.close();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

describe('a conversation longer than the local model’s context', () => {
  it('is a 400 context_length_exceeded naming both sizes, not an upstream error', async () => {
    const res = await fetch(`${proxy.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ messages: [{ role: 'user', content: `Explain: ${'word '.repeat(400)}` }] }),
    });
    expect(res.status).toBe(400);
    const { error } = (await res.json()) as { error: { code: string; message: string } };
    expect(error.code).toBe('context_length_exceeded');
    expect(error.message).toMatch(/prompt of \d+ tokens does not fit the context of 256 tokens/);
    const metrics = await (await fetch(`${proxy.url}/metrics`)).text();
    expect(metrics).not.toMatch(/gtalign_upstream_errors_total\{[^}]*\} [1-9]/);
  });
});
