/**
 * Any JSON body, on every POST route of `gtalign serve` and `gtalign reward serve`: arbitrary JSON values,
 * and valid requests with one value anywhere in them replaced by an arbitrary one, deleted, or joined by
 * an unknown key. The upstream is a SCRIPTED loopback server (scripted-upstream.ts) that answers every
 * well-formed turn, so a body the server accepts runs a whole turn.
 *
 * Shown: no body makes an internal error (no 500, nothing logged as one); every refusal is JSON with an
 * `error.message`, and a 400 names what is wrong; the servers answer a valid request afterwards. The runs
 * are seeded, so a failure is reproduced by running the file again.
 */
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../src/server/listen.js';
import { startProxyServer } from '../../src/server/proxy.js';
import { startRewardServer } from '../../src/server/reward.js';
import { bodies, type Json } from '../support/json-mutations.js';
import { type OpenAIStubServer, startOpenAIStubServer, stubModel } from '../support/openai-stub-server.js';
import { dinosaurScript, QUESTION } from './scripted-upstream.js';

let upstream: OpenAIStubServer;
let proxy: RunningServer;
let reward: RunningServer;
const logged: string[] = [];

beforeAll(async () => {
  upstream = await startOpenAIStubServer(dinosaurScript());
  proxy = await startProxyServer({
    model: stubModel(upstream),
    modelName: 'gtalign-dino',
    log: (line) => logged.push(line),
  });
  reward = await startRewardServer({ clipVerdicts: true, log: (line) => logged.push(line) });
});
afterAll(async () => {
  await proxy?.close();
  await reward?.close();
  await upstream?.close();
});

/** Posts `body`; checks the answer is no internal error and a refusal says what is wrong. */
async function postChecked(url: string, body: Json): Promise<number> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  const where = `${url} with ${JSON.stringify(body).slice(0, 400)}: ${res.status} ${text.slice(0, 300)}`;
  expect(res.status, where).not.toBe(500);
  if (res.status >= 400) {
    const error = (JSON.parse(text) as { error?: { message?: unknown } }).error;
    expect(typeof error?.message === 'string' && error.message.length > 0, where).toBe(true);
  }
  return res.status;
}

async function fuzz(path: string, server: () => RunningServer, valid: Json, numRuns: number): Promise<void> {
  const url = `${server().url}${path}`;
  expect(await postChecked(url, valid)).toBe(200);
  const seen = new Map<number, number>();
  await fc.assert(
    fc.asyncProperty(bodies(valid), async (body) => {
      const status = await postChecked(url, body);
      seen.set(status, (seen.get(status) ?? 0) + 1);
    }),
    { numRuns, seed: 20261207, endOnFailure: true },
  );
  // Both kinds of answer were met: the runs reached past the first checks.
  expect(seen.get(200) ?? 0, JSON.stringify([...seen])).toBeGreaterThan(0);
  expect(seen.get(400) ?? 0, JSON.stringify([...seen])).toBeGreaterThan(0);
  expect(await postChecked(url, valid)).toBe(200);
  expect(logged.filter((l) => /internal|Error:|\n\s+at /.test(l))).toEqual([]);
}

describe('any JSON body', () => {
  it('POST /v1/chat/completions', async () => {
    const valid: Json = {
      model: 'gtalign-dino',
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: [{ type: 'text', text: QUESTION }] },
      ],
      max_tokens: 300,
      temperature: 0.2,
      gtalign: { policy: 'api', analysis: 'solver', rule: 'product', reasoning: false },
    };
    await fuzz('/v1/chat/completions', () => proxy, valid, 150);
  });

  it('POST /v1/responses', async () => {
    const valid: Json = {
      model: 'gtalign-dino',
      instructions: 'Be brief.',
      input: [{ role: 'user', content: [{ type: 'input_text', text: QUESTION }] }],
      max_output_tokens: 300,
      metadata: { run: 'fuzz' },
      text: { format: { type: 'text' } },
    };
    await fuzz('/v1/responses', () => proxy, valid, 150);
  });

  it('POST /v1/conversations', async () => {
    const valid: Json = {
      metadata: { topic: 'dinosaurs' },
      items: [{ type: 'message', role: 'user', content: [{ type: 'input_text', text: QUESTION }] }],
    };
    await fuzz('/v1/conversations', () => proxy, valid, 100);
  });

  // Two parity cases, a short math one and an ambiguity one, as trainers send them.
  const cases = readFileSync(new URL('../fixtures/reward-parity.jsonl', import.meta.url), 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Record<string, Json>)
    .filter((c) => c.data_source === 'math-hard' || c.data_source === 'ambig_qa')
    .sort((a, b) => String(a.response).length - String(b.response).length)
    .slice(0, 2)
    .map(({ expected: _, ...sample }) => sample);

  it('POST /v1/reward/score', async () => {
    await fuzz('/v1/reward/score', () => reward, { samples: cases }, 150);
  });

  it('POST /get_reward', async () => {
    const prompt = '<|im_start|>user\nQuestion<|im_end|>\n<|im_start|>assistant\n';
    const valid: Json = {
      query: cases.map((c) => `${prompt}${c.response}<|im_end|>`),
      prompts: cases.map(() => prompt),
      labels: cases.map((c) => JSON.stringify(c)),
    };
    await fuzz('/get_reward', () => reward, valid, 150);
  });
});

describe('refusals these runs found unclear, now naming the field and what it holds', () => {
  async function refusal(path: string, body: Json): Promise<{ message: string; param: string }> {
    const res = await fetch(`${proxy.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    expect(res.status).toBe(400);
    return ((await res.json()) as { error: { message: string; param: string } }).error;
  }

  it('a chat text part without text, a part of another type, an item’s part whose type is not a string', async () => {
    const chat = (part: Json) => ({ messages: [{ role: 'user', content: [part] }] });
    expect(await refusal('/v1/chat/completions', chat({ type: 'text', text: 3 }))).toMatchObject({
      message: expect.stringContaining('messages.0.content.0.text: expected a string, got a number'),
      param: 'messages.0.content.0.text',
    });
    expect(await refusal('/v1/chat/completions', chat({ type: 'image_url' }))).toMatchObject({
      message: expect.stringContaining('only text content parts are supported, got type "image_url"'),
      param: 'messages.0.content.0.type',
    });
    const items = {
      items: [{ type: 'message', role: 'user', content: [{ type: ['input_text'], text: 'hi' }] }],
    };
    expect(await refusal('/v1/conversations', items)).toMatchObject({
      message: expect.stringContaining('got an array for type'),
      param: 'items.0.content.0.type',
    });
  });

  it('a chat message content that is neither text, parts nor null says what it may be', async () => {
    expect(
      await refusal('/v1/chat/completions', { messages: [{ role: 'user', content: 42 }] }),
    ).toMatchObject({
      message:
        'invalid request: messages.0.content: expected a string, an array of content parts or null, got a number',
      param: 'messages.0.content',
    });
  });
});

describe('what the turn cannot give is refused by name, what it does not apply is noted', () => {
  const ask = (body: Record<string, unknown>) =>
    fetch(`${proxy.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ messages: [{ role: 'user', content: QUESTION }], ...body }),
    });

  it('chat completions: JSON output, log probabilities, audio and tool choices are 400s naming the field', async () => {
    for (const [field, value] of [
      ['response_format', { type: 'json_object' }],
      ['response_format', { type: 'json_schema', json_schema: { name: 'x', schema: {} } }],
      ['logprobs', true],
      ['top_logprobs', 3],
      ['modalities', ['text', 'audio']],
      ['audio', { voice: 'alloy', format: 'wav' }],
      ['tool_choice', 'required'],
      ['functions', [{ name: 'get_weather', parameters: { type: 'object', properties: {} } }]],
      ['function_call', { name: 'get_weather' }],
    ] as const) {
      const res = await ask({ [field]: value });
      expect(res.status, field).toBe(400);
      const { error } = (await res.json()) as { error: { message: string; param: string } };
      expect(error.param.startsWith(field), `${field}: ${error.param}`).toBe(true);
      expect(error.message, field).toMatch(/text|log probabilities|tools|function calling/);
    }
    // Their harmless values pass.
    const fine = await ask({
      response_format: { type: 'text' },
      logprobs: false,
      tool_choice: 'none',
      function_call: 'none',
      functions: [],
      modalities: ['text'],
    });
    expect(fine.status).toBe(200);
    await fine.text();
  });

  it('sampling fields the turn does not apply are named in gtalign.notes', async () => {
    const res = await ask({ stop: ['\n\n'], top_p: 0.9, presence_penalty: 0.5, reasoning_effort: 'high' });
    expect(res.status).toBe(200);
    const { gtalign } = (await res.json()) as { gtalign: { notes: string[] } };
    expect(gtalign.notes).toContain(
      'stop, top_p, presence_penalty not applied: the GTAlign turn samples both stages with its own settings and stop strings',
    );
    expect(gtalign.notes).toContain(
      'reasoning_effort not applied: the GTAlign turn reasons in its own <thinking> and <payoff> blocks',
    );
    const responses = await fetch(`${proxy.url}/v1/responses`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        input: QUESTION,
        top_p: 0.5,
        reasoning: { effort: 'high' },
        include: ['message.output_text.logprobs'],
        truncation: 'auto',
        context_management: [{ type: 'compaction' }],
      }),
    });
    expect(((await responses.json()) as { gtalign: { notes: string[] } }).gtalign.notes).toEqual(
      expect.arrayContaining([
        'top_p not applied: the GTAlign turn samples both stages with its own settings',
        'reasoning not applied: the GTAlign turn reasons in its own <thinking> and <payoff> blocks',
        'include not applied (message.output_text.logprobs): the GTAlign turn returns its text, trace and usage',
        'truncation auto not applied: a conversation longer than the context is not trimmed',
        'context_management not applied: the conversation is not compacted',
      ]),
    );
    const toolChoice = await fetch(`${proxy.url}/v1/responses`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ input: QUESTION, tool_choice: 'required' }),
    });
    expect(toolChoice.status).toBe(400);
    expect(((await toolChoice.json()) as { error: { param: string } }).error.param).toBe('tool_choice');
  });
});
