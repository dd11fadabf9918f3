import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { extractBlocks, isWellFormed } from '../../src/chain/blocks.js';
import { buildFormatRegExp, buildGbnf } from '../../src/chain/grammar.js';
import { DEFAULT_SPEC, payoffKeyOrder } from '../../src/game/spec.js';
import { writeTinyLlamaGguf } from '../../src/llm/gguf-writer.js';
import { createLocalModel } from '../../src/llm/local.js';
import {
  type ChatMessage,
  type ChatModel,
  ChatModelError,
  type GenerateRequest,
} from '../../src/llm/types.js';

let dir: string;
let modelPath: string;
let model: ChatModel;

const messages: ChatMessage[] = [
  { role: 'system', content: 'You are a careful assistant. Answer in the four tagged blocks.' },
  { role: 'user', content: 'What is the capital of France? Please be brief.' },
];

// Short blocks and whitespace runs keep each well-formed output around a hundred tokens.
const SMALL = { maxChars: 12, maxWhitespace: 2 };

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gtalign-local-'));
  modelPath = join(dir, 'tiny.gguf');
  await writeTinyLlamaGguf(modelPath, { seed: 1 });
  model = await createLocalModel({ modelPath, seed: 11 });
});

afterAll(async () => {
  await model?.close();
  await rm(dir, { recursive: true, force: true });
});

/** The payoff object of a well-formed output, checked to hold exactly the spec's keys with numbers. */
function expectSpecPayoff(text: string): Record<string, { LLM: number; user: number }> {
  const extraction = extractBlocks(text);
  expect(isWellFormed(extraction), `${JSON.stringify(extraction.problems)} in ${text}`).toBe(true);
  const payoff = JSON.parse(extraction.blocks.payoff?.content ?? '') as Record<
    string,
    Record<string, unknown>
  >;
  expect(Object.keys(payoff)).toEqual(payoffKeyOrder(DEFAULT_SPEC));
  for (const cell of Object.values(payoff)) {
    expect(Object.keys(cell)).toEqual(['LLM', 'user']);
    expect(typeof cell.LLM).toBe('number');
    expect(typeof cell.user).toBe('number');
  }
  return payoff as Record<string, { LLM: number; user: number }>;
}

const utf8Length = (s: string): number => Buffer.byteLength(s, 'utf8');

describe('createLocalModel', () => {
  it('declares what it supports', () => {
    expect(model.capabilities).toEqual({
      continuation: true,
      gbnf: true,
      regex: false,
      seed: true,
      cacheReport: true,
    });
    expect(model.id).toContain(modelPath);
  });

  it('names the path of a missing model file', async () => {
    const missing = join(dir, 'nope', 'missing.gguf');
    const error = await createLocalModel({ modelPath: missing }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ChatModelError);
    expect((error as Error).message).toContain(missing);
    expect((error as ChatModelError).details.backend).toBe('local');
  });

  it('says so when the model path is a directory', async () => {
    const error = await createLocalModel({ modelPath: dir }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ChatModelError);
    expect((error as Error).message).toBe(`the model path is a directory, not a GGUF file: ${dir}`);
  });

  it('names the path of a file that is not a model', async () => {
    const notModel = join(dir, 'not-a-model.gguf');
    await (await import('node:fs/promises')).writeFile(notModel, 'hello');
    const error = await createLocalModel({ modelPath: notModel }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ChatModelError);
    expect((error as Error).message).toContain(notModel);
  });

  it('says that a model file cut short (an interrupted download) is incomplete', async () => {
    const { readFile, writeFile } = await import('node:fs/promises');
    const whole = await readFile(modelPath);
    const cut = join(dir, 'cut.gguf');
    for (const length of [24, 5000, whole.length - 1]) {
      await writeFile(cut, whole.subarray(0, length));
      const error = await createLocalModel({ modelPath: cut }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ChatModelError);
      const message = (error as Error).message;
      expect(message.startsWith(`${cut} is not a usable GGUF model: `), message).toBe(true);
      expect(message).toContain('cut short');
    }
  });
});

describe('generation', () => {
  it('stops at maxTokens and reuses the cached prompt on the next call with the same messages', async () => {
    // A seed with which the random model does not end the turn within 6 tokens.
    const request: GenerateRequest = {
      messages: [{ role: 'user', content: 'cache me' }],
      maxTokens: 6,
      seed: 1,
    };
    const first = await model.generate(request);
    expect(first.finishReason).toBe('length');
    expect(first.usage.completionTokens).toBe(6);
    expect(first.usage.promptTokens).toBeGreaterThan(5);
    const second = await model.generate(request);
    expect(second.usage.promptTokens).toBe(first.usage.promptTokens);
    // Everything but the last prompt token (re-evaluated for its logits) comes from the KV cache.
    expect(second.usage.cachedPromptTokens).toBe(second.usage.promptTokens - 1);
  });

  it('reproduces a sample for the same seed and differs for another', async () => {
    const request: GenerateRequest = { messages, maxTokens: 24, temperature: 1, seed: 42 };
    const a = await model.generate(request);
    const b = await model.generate(request);
    const c = await model.generate({ ...request, seed: 43 });
    expect(b.text).toBe(a.text);
    expect(c.text).not.toBe(a.text);
  });

  it('always writes the four-block format under the GBNF grammar', async () => {
    const grammar = buildGbnf(DEFAULT_SPEC, SMALL);
    for (const seed of [1, 2, 3, 4, 5]) {
      const result = await model.generate({
        messages,
        constraint: { kind: 'gbnf', grammar },
        temperature: 1,
        seed,
      });
      expect(result.finishReason).toBe('stop');
      expectSpecPayoff(result.text);
    }
  });

  it('tests constraint.check against the output, counting the stop string', async () => {
    const grammar = buildGbnf(DEFAULT_SPEC, { ...SMALL, endAt: 'payoff' });
    // llama.cpp counts maxChars in code points; the `u` flag makes the RegExp count the same way.
    const check = new RegExp(buildFormatRegExp(DEFAULT_SPEC, { ...SMALL, endAt: 'payoff' }).source, 'u');
    const ok = await model.generate({
      messages,
      constraint: { kind: 'gbnf', grammar, check },
      stop: ['</payoff>'],
      seed: 4,
    });
    expect(ok.stoppedBy).toBe('</payoff>');
    await expect(
      model.generate({ messages, constraint: { kind: 'gbnf', grammar, check: /^<response>/ }, seed: 4 }),
    ).rejects.toThrow(/does not match constraint\.check/);
  });

  it('stops before a stop string and streams exactly the final text', async () => {
    const grammar = 'root ::= "<response>abc" "STOP" "def</response>"';
    const events: string[] = [];
    let done: unknown;
    for await (const event of model.stream({
      messages,
      constraint: { kind: 'gbnf', grammar },
      stop: ['STOP'],
    })) {
      if (event.type === 'text') events.push(event.text);
      else done = event.result;
    }
    expect(done).toMatchObject({ text: '<response>abc', stoppedBy: 'STOP', finishReason: 'stop' });
    expect(events.join('')).toBe('<response>abc');
    // A stop string that only starts to match is held back, then released.
    const partial: string[] = [];
    for await (const event of model.stream({
      messages,
      constraint: { kind: 'gbnf', grammar },
      stop: ['STOQ'],
    })) {
      if (event.type === 'text') partial.push(event.text);
      else expect(event.result.text).toBe('<response>abcSTOPdef</response>');
    }
    expect(partial.join('')).toBe('<response>abcSTOPdef</response>');
  });

  it('treats a trailing assistant message as a finished turn and opens a new one', async () => {
    const user: ChatMessage = { role: 'user', content: 'Hi' };
    const asPrefix = await model.generate({ messages: [user], assistantPrefix: 'Hello', maxTokens: 1 });
    const asTurn = await model.generate({
      messages: [user, { role: 'assistant', content: 'Hello' }],
      maxTokens: 1,
    });
    // "<|im_end|>\n<|im_start|>assistant\n" follows the finished turn: at least 5 more tokens than the prefix.
    expect(asTurn.usage.promptTokens - asPrefix.usage.promptTokens).toBeGreaterThanOrEqual(5);
  });

  it('rejects regex constraints and invalid grammars with a ChatModelError', async () => {
    await expect(model.generate({ messages, constraint: { kind: 'regex', pattern: 'a+' } })).rejects.toThrow(
      /GBNF constraints only/,
    );
    await expect(
      model.generate({ messages, constraint: { kind: 'gbnf', grammar: 'root ::= ( "a" ' } }),
    ).rejects.toBeInstanceOf(ChatModelError);
  });

  it('honours an abort signal and serializes concurrent calls', async () => {
    const controller = new AbortController();
    controller.abort(new Error('user cancelled'));
    await expect(model.generate({ messages, maxTokens: 4, signal: controller.signal })).rejects.toThrow(
      'user cancelled',
    );
    const results = await Promise.all(
      [1, 2, 3].map((seed) => model.generate({ messages, maxTokens: 5, seed, temperature: 1 })),
    );
    for (const r of results) expect(r.usage.completionTokens).toBe(5);
  });
});

describe('two-stage continuation in the same context', () => {
  it('continues an edited payoff, evaluating only the tokens after the first edit', async () => {
    const stage1 = await model.generate({
      messages,
      constraint: { kind: 'gbnf', grammar: buildGbnf(DEFAULT_SPEC, { ...SMALL, endAt: 'payoff' }) },
      stop: ['</payoff>'],
      temperature: 1,
      seed: 9,
    });
    expect(stage1.stoppedBy).toBe('</payoff>');
    const original = `${stage1.text}</payoff>`;
    const payoff = expectSpecPayoff(`${original}<analyze>a</analyze><response>b</response>`);

    // Steering edits the numbers of the last two cells (as a pricing policy would), keeping the layout.
    // The grammar lists the keys in the paper's order, so the last two are VQ_CQ and VQ_DA.
    const vqDa = payoff.VQ_DA;
    expect(vqDa).toBeDefined();
    const cut = original.lastIndexOf('"VQ_CQ"');
    const edited =
      original.slice(0, cut) +
      original.slice(cut).replace(/("user"\s*:\s*)-?[0-9.]+/g, (_m, key: string) => `${key}-3.5`);
    expect(edited).not.toBe(original);
    let firstDiff = 0;
    while (edited[firstDiff] === original[firstDiff]) firstDiff++;

    const stage2 = await model.generate({
      messages,
      assistantPrefix: edited,
      constraint: { kind: 'gbnf', grammar: buildGbnf(DEFAULT_SPEC, { ...SMALL, startAt: 'analyze' }) },
      temperature: 1,
      seed: 9,
    });
    const full = edited + stage2.text;
    const finalPayoff = expectSpecPayoff(full);
    expect(finalPayoff.VQ_CQ?.user).toBe(-3.5);
    expect(finalPayoff.VQ_DA?.user).toBe(-3.5);

    const evaluated = stage2.usage.promptTokens - stage2.usage.cachedPromptTokens;
    // The template and stage 1's tokens up to the first edit come from the KV cache ...
    expect(stage2.usage.cachedPromptTokens).toBeGreaterThanOrEqual(stage1.usage.promptTokens);
    // ... and only the edited tail is evaluated (at most one token per byte of it).
    expect(evaluated).toBeGreaterThan(0);
    expect(evaluated).toBeLessThanOrEqual(utf8Length(edited.slice(firstDiff)));
    expect(evaluated).toBeLessThan(stage1.usage.promptTokens / 2);
  });

  it('reuses the generated tokens exactly when the prefix is the unedited stage-1 text', async () => {
    const stage1 = await model.generate({
      messages,
      constraint: { kind: 'gbnf', grammar: buildGbnf(DEFAULT_SPEC, { ...SMALL, endAt: 'payoff' }) },
      stop: ['</payoff>'],
      temperature: 1,
      seed: 21,
    });
    const stage2 = await model.generate({
      messages,
      assistantPrefix: `${stage1.text}</payoff>`,
      constraint: { kind: 'gbnf', grammar: buildGbnf(DEFAULT_SPEC, { ...SMALL, startAt: 'analyze' }) },
      temperature: 1,
      seed: 21,
    });
    // The prompt is stage 1's prompt plus exactly the tokens stage 1 generated: no re-tokenization drift.
    expect(stage2.usage.promptTokens).toBe(stage1.usage.promptTokens + stage1.usage.completionTokens);
    expect(stage2.usage.promptTokens - stage2.usage.cachedPromptTokens).toBe(1);
    expectSpecPayoff(`${stage1.text}</payoff>${stage2.text}`);
  });
});

describe('consumers that stop early', () => {
  /** Resolves to the promise's value, or rejects when it takes longer than `ms` (a hang). */
  const within = <T>(p: Promise<T>, ms: number, what: string): Promise<T> =>
    Promise.race([
      p,
      new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`${what} hung`)), ms).unref()),
    ]);

  it('a consumer that breaks out of stream() frees the sequence for the next call', async () => {
    const request: GenerateRequest = { messages, maxTokens: 40, temperature: 1, seed: 5 };
    for await (const event of model.stream(request)) if (event.type === 'text') break;
    const next = await within(model.generate({ ...request, maxTokens: 4 }), 10_000, 'generate');
    expect(next.usage.completionTokens).toBe(4);
    // The cache still matches what the sequence holds: the same prompt is reused, not re-evaluated.
    expect(next.usage.cachedPromptTokens).toBe(next.usage.promptTokens - 1);
  });

  it('a consumer that stops pulling without return() blocks neither the next call nor close()', async () => {
    const own = await createLocalModel({ modelPath, seed: 3 });
    const abandoned = own.stream({ messages, maxTokens: 60, temperature: 1 })[Symbol.asyncIterator]();
    const first = await abandoned.next();
    expect(first.done).toBe(false);
    // The iterator is dropped here: no next(), no return().
    const next = await within(own.generate({ messages, maxTokens: 3 }), 10_000, 'generate');
    expect(next.usage.completionTokens).toBe(3);
    await within(own.close(), 10_000, 'close');
  });

  it('says when the context, not maxTokens, ended the output', async () => {
    // A seed with which the random model does not end the turn before the context does.
    const own = await createLocalModel({ modelPath, seed: 2, contextSize: 96 });
    const byContext = await own.generate({ messages, maxTokens: 400, temperature: 1 });
    expect(byContext.finishReason).toBe('length');
    expect(byContext.usage.completionTokens).toBeLessThan(400);
    expect(byContext.limitedBy).toBe('context');
    const byLimit = await own.generate({ messages, maxTokens: 3, temperature: 1 });
    expect(byLimit.finishReason).toBe('length');
    expect(byLimit.limitedBy).toBeUndefined();
    await own.close();
  });

  // Its own time limit: on a busy machine the two evaluations of ~15,000 tokens took past the suite's 30 s
  // (2026-12-08, load 10); the check is a proportion of the prompt, not a time.
  it('an abort stops the evaluation of a long prompt part-way, not after the whole prompt', {
    timeout: 120_000,
  }, async () => {
    const own = await createLocalModel({ modelPath, seed: 3, contextSize: 16384 });
    // About 15,000 prompt tokens (the tiny model's tokens are about bytes): ~1.5 s of evaluation on one
    // thread; the abort comes after 100 ms.
    const long = [{ role: 'user' as const, content: 'abc def '.repeat(1900) }];
    const abort = new AbortController();
    setTimeout(() => abort.abort(new Error('interrupted')), 100);
    await expect(own.generate({ messages: long, maxTokens: 1, signal: abort.signal })).rejects.toThrow(
      'interrupted',
    );
    // What the sequence holds now is what was evaluated before the abort: the next call over the same
    // prompt finds it cached. Evaluated in one piece, the whole prompt would be there.
    const again = await own.generate({ messages: long, maxTokens: 1 });
    expect(again.usage.cachedPromptTokens).toBeLessThan(again.usage.promptTokens / 2);
    await own.close();
  });

  it('close() stops a generation in progress instead of waiting for its token limit', async () => {
    const own = await createLocalModel({ modelPath, seed: 3, contextSize: 4096 });
    // A grammar that admits one 2000-byte string: the tiny model cannot end early (about 4 s of work).
    const grammar = `root ::= "${'abcdefghij'.repeat(200)}"`;
    const events = own.stream({ messages, constraint: { kind: 'gbnf', grammar } })[Symbol.asyncIterator]();
    // The generation is under way once its first text has come (a fixed wait was a bet on the machine).
    expect((await events.next()).done).toBe(false);
    const outcome = (async () => {
      for (;;) if ((await events.next()).done === true) return 'ended';
    })().then(
      (r) => r,
      (e: unknown) => e,
    );
    const queued = own
      .stream({ messages, maxTokens: 2 })
      [Symbol.asyncIterator]()
      .next()
      .then(
        (r) => r,
        (e: unknown) => e,
      );
    await within(own.close(), 10_000, 'close');
    const error = await outcome;
    expect(error).toBeInstanceOf(ChatModelError);
    expect((error as Error).message).toMatch(/closed during generation/);
    // A call queued behind it never starts on a disposed context.
    expect(await queued).toBeInstanceOf(ChatModelError);
    expect(((await queued) as Error).message).toMatch(/is closed/);
  });

  it('an abort mid-generation rejects with the reason and leaves the model usable', async () => {
    const controller = new AbortController();
    const seen: string[] = [];
    const error = await (async () => {
      for await (const event of model.stream({ messages, maxTokens: 200, signal: controller.signal })) {
        if (event.type === 'text') {
          seen.push(event.text);
          controller.abort(new Error('user pressed ctrl-c'));
        }
      }
    })().catch((e: unknown) => e);
    expect(seen.length).toBeGreaterThan(0);
    expect((error as Error).message).toBe('user pressed ctrl-c');
    const after = await within(model.generate({ messages, maxTokens: 2 }), 10_000, 'generate');
    expect(after.usage.completionTokens).toBe(2);
  });
});

describe('close', () => {
  it('frees the model; later calls fail clearly', async () => {
    const own = await createLocalModel({ modelPath });
    await own.close();
    await own.close();
    await expect(own.generate({ messages, maxTokens: 1 })).rejects.toThrow(/closed/);
  });
});

describe('without node-llama-cpp installed', () => {
  it('tells the user to install it', async () => {
    vi.resetModules();
    vi.doMock('node-llama-cpp', () => {
      const error = new Error("Cannot find package 'node-llama-cpp' imported from local.js") as Error & {
        code: string;
      };
      error.code = 'ERR_MODULE_NOT_FOUND';
      throw error;
    });
    try {
      const fresh = await import('../../src/llm/local.js');
      const error = await fresh.createLocalModel({ modelPath }).catch((e: unknown) => e);
      expect((error as Error).name).toBe('ChatModelError');
      expect((error as Error).message).toMatch(/npm install node-llama-cpp/);
    } finally {
      vi.doUnmock('node-llama-cpp');
      vi.resetModules();
    }
  });
});

describe('exclusive with a signal (a queued turn whose client left)', () => {
  /** A holder of the engine that stays until `release()`; `entered` resolves once it holds it. */
  function hold(signal?: AbortSignal) {
    const exclusive = model.exclusive;
    if (exclusive === undefined) throw new Error('the local model has no exclusive');
    let release!: () => void;
    let entered!: () => void;
    const inside = new Promise<void>((resolve) => {
      entered = resolve;
    });
    let started = false;
    const done = exclusive.call(
      model,
      () =>
        new Promise<void>((resolve) => {
          started = true;
          release = resolve;
          entered();
        }),
      signal,
    );
    return { done, inside, release: () => release(), started: () => started };
  }

  it('rejects a waiting caller at once, without running its work, and keeps the callers behind it waiting', async () => {
    const first = hold();
    await first.inside;
    const leaving = new AbortController();
    const second = hold(leaving.signal);
    const third = hold();
    leaving.abort(new Error('the client left'));
    await expect(second.done).rejects.toThrow('the client left');
    expect(second.started()).toBe(false);
    // The third may start only when the first ends, not when the second gave its place back.
    await new Promise((resolve) => setImmediate(resolve));
    expect(third.started()).toBe(false);
    first.release();
    await first.done;
    await third.inside;
    third.release();
    await third.done;
  });

  it('a generate call queued behind a held engine ends at once when its signal aborts', async () => {
    const first = hold();
    await first.inside;
    const leaving = new AbortController();
    const queued = model.generate({ messages, maxTokens: 4, signal: leaving.signal });
    leaving.abort(new Error('the caller left'));
    // Rejected while the engine is still held: before, it waited for the holder to end.
    await expect(queued).rejects.toThrow('the caller left');
    expect(first.started()).toBe(true);
    first.release();
    await first.done;
    const after = await model.generate({ messages, maxTokens: 4 });
    expect(after.usage.completionTokens).toBeGreaterThan(0);
  });
});
