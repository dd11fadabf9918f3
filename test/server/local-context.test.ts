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

describe('a conversation that fits the local model’s context but leaves the turn too little of it', () => {
  let roomy: ChatModel;
  let server: RunningServer;
  beforeAll(async () => {
    // The served instruction prompt is ~2,300 tokens on this byte-level model: 2,400 leave stage 1 ~100.
    roomy = await createLocalModel({ modelPath: join(dir, 'tiny.gguf'), seed: 5, contextSize: 2400 });
    server = await startProxyServer({ model: roomy, port: 0 });
  });
  afterAll(async () => {
    await server?.close();
    await roomy?.close();
  });

  it('is a 400 context_length_exceeded (the client can trim its history), not a 502', async () => {
    const res = await fetch(`${server.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        messages: [
          { role: 'user', content: 'Hi' },
          { role: 'assistant', content: 'Hello! How can I help?' },
          { role: 'user', content: 'Why?' },
        ],
      }),
    });
    const { error } = (await res.json()) as { error: { code: string; message: string } };
    expect(res.status, error.message).toBe(400);
    expect(error.code).toBe('context_length_exceeded');
    expect(error.message).toMatch(/leaves the GTAlign turn too little of the model's context/);
  });
});
