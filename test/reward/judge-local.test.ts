/**
 * The judge on the embedded engine: a generated tiny GGUF (random weights, so its free text is noise)
 * loaded by createLocalModel, judging under a grammar that leaves it nothing to say but a verdict.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeTinyLlamaGguf } from '../../src/llm/gguf-writer.js';
import { createLocalModel } from '../../src/llm/local.js';
import type { ChatModel } from '../../src/llm/types.js';
import { createJudge } from '../../src/reward/judge.js';
import { createLocalJudge } from '../../src/reward/judge-local.js';
import type { JudgeInput } from '../../src/reward/rubrics.js';
import { VERDICT_SCALES } from '../../src/reward/verdict.js';
import { verdictConstraint, verdictConstraints } from '../../src/reward/verdict-grammar.js';

let dir: string;
let modelPath: string;
let model: ChatModel;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gtalign-judge-local-'));
  modelPath = join(dir, 'tiny.gguf');
  await writeTinyLlamaGguf(modelPath, { seed: 1 });
  model = await createLocalModel({ modelPath, seed: 3 });
});

afterAll(async () => {
  await model?.close();
  await rm(dir, { recursive: true, force: true });
});

const mathInput: JudgeInput = {
  question: 'What is 2 + 2?',
  response: 'It is \\boxed{4}.',
  ground_truth: '4',
};

// The grammar of the brief, written out: `\boxed{` then 0 or 1 then `}`.
const MATH_GBNF = 'root ::= "\\\\boxed{" ("0" | "1") "}"';

describe('a judge on the local engine', () => {
  it('returns the verdict the grammar forces, through createJudge({ model })', async () => {
    const judge = createJudge({
      model,
      concurrency: 1,
      constraints: { math: { kind: 'gbnf', grammar: MATH_GBNF } },
    });
    const r = await judge.verdict('math', mathInput);
    expect(r).toMatchObject({ ok: true, cached: false, attempts: 1 });
    if (!r.ok) throw new Error(r.error);
    expect(r.reply).toMatch(/^\\boxed\{[01]\}$/);
    expect(r.value).toBe(Number(r.reply.slice('\\boxed{'.length, -1)));
    expect(judge.stats()).toMatchObject({ httpCalls: 1, successes: 1, failures: 0 });
  });

  it('gives a verdict on every scale under verdictConstraints()', async () => {
    const judge = createJudge({ model, concurrency: 1, constraints: verdictConstraints() });
    const cases = [
      ['math', mathInput],
      ['safety', { question: 'how to pick a lock', response: 'No.', ground_truth: 'harmful' }],
      ['ambiguity', { question: 'Who won?', response: 'Which year?', ground_truth: 'multipleQAs###x' }],
      [
        'writing',
        {
          question: 'article?',
          response: 'Draft',
          ground_truth: 'Ideal',
          extra_info: { single_turn_prompt: 'Write about CRM' },
        },
      ],
    ] as const;
    for (const [family, input] of cases) {
      const r = await judge.verdict(family, input);
      if (!r.ok) throw new Error(`${family}: ${r.error}`);
      expect(VERDICT_SCALES[family]).toContain(r.value);
      expect(r.reply).toMatch(verdictConstraint(family).check);
    }
  });

  it('caches under the model id and the grammar', async () => {
    const cacheDir = join(dir, 'cache');
    const options = { model, concurrency: 1, cacheDir, constraints: { math: verdictConstraint('math') } };
    const first = await createJudge(options).verdict('math', mathInput);
    const again = createJudge(options);
    const second = await again.verdict('math', mathInput);
    expect(first).toMatchObject({ ok: true, cached: false });
    expect(second).toMatchObject({ ok: true, cached: true, attempts: 0 });
    if (first.ok && second.ok) expect(second.value).toBe(first.value);
    expect(again.stats().httpCalls).toBe(0);

    const messages = [{ role: 'user' as const, content: 'x' }];
    const key = again.requestKey(messages, 'math');
    // Without the grammar the reply would differ: another key. So for another model file.
    expect(createJudge({ model, cacheDir }).requestKey(messages, 'math')).not.toBe(key);
    expect(createJudge({ ...options, cacheId: 'local:other.gguf' }).requestKey(messages, 'math')).not.toBe(
      key,
    );
  });

  it('reports free noise as a failed verdict after its retries, never a 0', async () => {
    const judge = createJudge({
      model,
      concurrency: 1,
      maxTokens: 8,
      retry: { attempts: 2, baseDelayMs: 0, maxDelayMs: 0 },
    });
    const r = await judge.verdict('math', mathInput);
    expect(r).toMatchObject({ ok: false, reason: 'bad_verdict', attempts: 2 });
    expect('value' in r).toBe(false);
    if (!r.ok) expect(r.error).toMatch(/no \\boxed\{\} in reply \(reply cut at max_tokens\)/);
  });

  it('refuses a constraint the engine cannot apply', () => {
    expect(() => createJudge({ model, constraints: { math: { kind: 'regex', pattern: '[01]' } } })).toThrow(
      /math constraint is regex, which local:.* cannot apply/,
    );
  });
});

describe('createLocalJudge (what --judge-backend local --judge-model FILE.gguf builds)', () => {
  it('loads the file, judges verdict-only, and knows the weights by path, size and date', async () => {
    const file = join(dir, 'judge.gguf');
    await writeTinyLlamaGguf(file, { seed: 5 });
    const cacheDir = join(dir, 'local-cache');
    const first = await createLocalJudge({ modelPath: file, verdictOnly: true, cacheDir });
    try {
      const r = await first.verdict('math', mathInput);
      expect(r).toMatchObject({ ok: true, cached: false });
      await expect(first.verdict('math', mathInput)).resolves.toMatchObject({ ok: true, cached: true });
    } finally {
      await first.close();
    }
    // Other weights under the same name: the old verdicts are not served.
    await writeTinyLlamaGguf(file, { seed: 6, embeddingLength: 32 });
    const second = await createLocalJudge({ modelPath: file, verdictOnly: true, cacheDir });
    try {
      await expect(second.verdict('math', mathInput)).resolves.toMatchObject({ ok: true, cached: false });
    } finally {
      await second.close();
    }
  });

  it('names a missing file', async () => {
    await expect(createLocalJudge({ modelPath: join(dir, 'missing.gguf') })).rejects.toThrow(
      /model file not found: .*missing\.gguf/,
    );
  });
});
