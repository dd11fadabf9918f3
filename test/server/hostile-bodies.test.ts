/**
 * Bodies built to make validation expensive (millions of wrong-typed elements, huge policy objects) are
 * refused with a 400 that names the first problems and where they are, after looking at no more of the
 * body than those problems: element reads are counted through a Proxy, so the bound is checked exactly,
 * not by timing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOpenAIModel } from '../../src/llm/openai.js';
import { checkChatRequestShape } from '../../src/server/chat-request.js';
import { HttpError } from '../../src/server/errors.js';
import type { RunningServer } from '../../src/server/listen.js';
import { startProxyServer } from '../../src/server/proxy.js';
import { startRewardServer } from '../../src/server/reward.js';
import { readGetRewardBody, readScoreBody } from '../../src/server/reward-request.js';

/** `array` behind a Proxy that counts how many of its elements are read. */
function counted<T>(array: T[]): { array: T[]; reads: () => number } {
  let reads = 0;
  const proxy = new Proxy(array, {
    get(target, key, receiver) {
      if (typeof key === 'string' && /^\d+$/.test(key)) reads++;
      return Reflect.get(target, key, receiver);
    },
  });
  return { array: proxy, reads: () => reads };
}

const numbers = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

function thrown(fn: () => unknown): HttpError {
  try {
    fn();
  } catch (err) {
    if (err instanceof HttpError) return err;
    throw err;
  }
  throw new Error('expected an HttpError');
}

describe('bounded checks: the work stops at the first problems', () => {
  it('get_reward: a million numbers where strings belong are refused after reading five of them', () => {
    const query = counted(numbers(1_000_000));
    const err = thrown(() =>
      readGetRewardBody(
        { query: query.array, prompts: numbers(1_000_000), labels: numbers(1_000_000) },
        2_000_000,
      ),
    );
    expect(err.status).toBe(400);
    expect(err.param).toBe('query.0');
    expect(err.message).toBe(
      'invalid request: query.0: expected a string, got a number; query.1: expected a string, got a number; ' +
        'query.2: expected a string, got a number; query.3: expected a string, got a number; ' +
        'query.4: expected a string, got a number (the first 5 problems)',
    );
    expect(query.reads()).toBe(5);
  });

  it('get_reward: the length limit is checked before any element is read', () => {
    const query = counted(numbers(70_000));
    const err = thrown(() => readGetRewardBody({ query: query.array, prompts: [], labels: [] }, 65_536));
    expect(err.code).toBe('too_many_samples');
    expect(err.message).toBe("too many samples: 70000, the server's limit is 65536");
    expect(query.reads()).toBe(0);
  });

  it('get_reward: problems in different arrays are named with their index', () => {
    const err = thrown(() =>
      readGetRewardBody(
        { query: ['a', 'b', 'c', 4], prompts: ['a', null, 'c', 'd'], labels: ['{}', {}, [], '{}'] },
        10,
      ),
    );
    expect(err.message).toBe(
      'invalid request: query.3: expected a string, got a number; prompts.1: expected a string, got null; ' +
        'labels.2: expected a JSON string or an object, got an array',
    );
  });

  it('score: the samples array is bounded before its records are parsed', () => {
    const samples = counted(numbers(70_000));
    const err = thrown(() => readScoreBody({ samples: samples.array }, 65_536));
    expect(err.code).toBe('too_many_samples');
    expect(samples.reads()).toBe(0);
    expect(thrown(() => readScoreBody({ samples: [], extra: 1 }, 10)).message).toMatch(
      /^invalid request: extra: unknown field/,
    );
  });

  it('chat: half a million numbers as a message content are refused after reading five of them', () => {
    const content = counted<unknown>(numbers(500_000));
    const err = thrown(() =>
      checkChatRequestShape({ messages: [{ role: 'user', content: content.array }] }, 256),
    );
    expect(err.param).toBe('messages.0.content.0');
    expect(err.message).toMatch(
      /^invalid request: messages\.0\.content\.0: expected a content part \(an object with a string "type"\), got a number; /,
    );
    expect(content.reads()).toBe(5);
  });

  it('chat: the message count is checked before any message is read', () => {
    const messages = counted<unknown>(numbers(500_000));
    const err = thrown(() => checkChatRequestShape({ messages: messages.array }, 256));
    expect(err.code).toBe('too_many_messages');
    expect(messages.reads()).toBe(0);
  });
});

describe('over HTTP: the 400 says what is wrong and where', () => {
  let reward: RunningServer;
  let proxy: RunningServer;
  beforeAll(async () => {
    reward = await startRewardServer({ log: () => {} });
    proxy = await startProxyServer({
      model: createOpenAIModel({
        baseUrl: 'http://127.0.0.1:9',
        model: 'none',
        vendor: 'vllm',
        maxRetries: 0,
      }),
      log: () => {},
    });
  });
  afterAll(async () => {
    await reward.close();
    await proxy.close();
  });

  const post = async (url: string, body: string, headers: Record<string, string> = {}) => {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body,
    });
    return {
      status: res.status,
      error: ((await res.json()) as { error: { message: string; param: string | null } }).error,
    };
  };

  it('reward server: numbers in query and labels', async () => {
    const n = 50_000;
    const list = `[${numbers(n).join(',')}]`;
    const prompts = JSON.stringify(numbers(n).map(() => 'p'));
    const query = JSON.stringify(['pa', 'pb', 'pc', 3, ...numbers(n - 4).map(() => 'pz')]);
    const r1 = await post(
      `${reward.url}/get_reward`,
      `{"query":${list},"prompts":${prompts},"labels":${list}}`,
    );
    expect(r1.status).toBe(400);
    expect(r1.error.message).toMatch(
      /^invalid request: query\.0: expected a string, got a number; query\.1: /,
    );
    const r2 = await post(
      `${reward.url}/get_reward`,
      `{"query":${query},"prompts":${prompts},"labels":${list}}`,
    );
    expect(r2.error.message).toMatch(
      /^invalid request: query\.3: expected a string, got a number; labels\.0: /,
    );
    expect(r2.error.param).toBe('query.3');
  });

  it('proxy: numbers as a message content, and a policy too large to be one', async () => {
    const r1 = await post(
      `${proxy.url}/v1/chat/completions`,
      `{"messages":[{"role":"user","content":[${numbers(100_000).join(',')}]}]}`,
    );
    expect(r1.status).toBe(400);
    expect(r1.error.param).toBe('messages.0.content.0');
    expect(r1.error.message).toMatch(/^invalid request: messages\.0\.content\.0: expected a content part/);
    const columns = Object.fromEntries(numbers(5_000).map((i) => [`c${i}`, 1]));
    const r2 = await post(
      `${proxy.url}/v1/chat/completions`,
      JSON.stringify({
        messages: [{ role: 'user', content: 'hi' }],
        gtalign: { policy: { kind: 'fixed', columns } },
      }),
    );
    expect(r2.status).toBe(400);
    expect(r2.error.param).toBe('gtalign.policy');
    expect(r2.error.message).toMatch(
      /gtalign\.policy is too large: a policy object holds at most 256 values/,
    );
  });

  it('proxy: a name of half a megabyte is shown cut short in the 400, not sent back whole', async () => {
    const long = 'x'.repeat(500_000);
    const ask = (extra: Record<string, unknown>) =>
      JSON.stringify({ messages: [{ role: 'user', content: 'hi' }], ...extra });
    const preset = await post(`${proxy.url}/v1/chat/completions`, ask({ gtalign: { policy: long } }));
    expect(preset.status).toBe(400);
    expect(preset.error.param).toBe('gtalign.policy');
    expect(preset.error.message).toMatch(/^unknown steering preset: "x{40}…"; known presets: none, /);
    const key = await post(
      `${proxy.url}/v1/chat/completions`,
      ask({ gtalign: { policy: { billing: 'api', [long]: 1 } } }),
    );
    expect(key.status).toBe(400);
    expect(key.error.message).toMatch(/x{40}…: unknown field/);
    expect(key.error.message.length).toBeLessThan(300);
    const header = await post(`${proxy.url}/v1/chat/completions`, ask({}), {
      'x-gtalign-analysis': 'y'.repeat(8_000),
    });
    expect(header.status).toBe(400);
    expect(header.error.message).toBe(
      `header x-gtalign-analysis must be model or solver, got '${'y'.repeat(40)}…'`,
    );
  });
});
