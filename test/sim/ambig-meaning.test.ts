/**
 * Final-answer correctness against the meaning the simulated user holds, over shipped AmbigQA test rows
 * (skipped without the data). Scripted stand-ins (loopback servers replaying chosen outputs) play the
 * assistant, which always asks first and then answers with the answer of the row's meaning 0, and the
 * user's model. The held meaning is computed here from the documented seeded draw; a conversation whose
 * user held another meaning scores 0.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadRows } from '../../src/data/load.js';
import type { DatasetRow } from '../../src/data/row.js';
import { meaningsOf, normalizeAnswer } from '../../src/sim/intent.js';
import { HAVE_DATA, shippedPath } from '../data/helpers.js';
import { runCliInProcess } from '../support/cli-in-process.js';
import { type OpenAIStubServer, startOpenAIStubServer } from '../support/openai-stub-server.js';
import { assistantArgs, assistantScript, heldIndex, simulatedUserArgs, userScript } from './scripted.js';

const LIMIT = 6;
let dir: string;
let assistant: OpenAIStubServer;
let user: OpenAIStubServer;
let rows: DatasetRow[];

const questionOf = (r: DatasetRow) => r.extra_info.single_turn_prompt as string;

beforeAll(async () => {
  if (!HAVE_DATA) return;
  dir = await mkdtemp(join(tmpdir(), 'gtalign-sim-ambig-'));
  rows = (await loadRows([shippedPath('ambig_qa', 'test')])).slice(0, LIMIT);
  assistant = await startOpenAIStubServer(
    assistantScript((messages, turn) => {
      const first = messages.map((m) => m.content).join('\n');
      const row = rows.find((r) => first.includes(questionOf(r)))!;
      const meaning0 = meaningsOf(row.ground_truth, questionOf(row))![0]!;
      return turn === 1
        ? { action: 'CQ', response: 'Which one do you mean?' }
        : { action: 'DA', response: `The answer is ${meaning0.answers[0]}.` };
    }),
  );
  user = await startOpenAIStubServer(userScript);
});
afterAll(async () => {
  if (!HAVE_DATA) return;
  await Promise.all([assistant.close(), user.close()]);
  await rm(dir, { recursive: true, force: true });
});

describe.skipIf(!HAVE_DATA)('AmbigQA conversations are judged against the held meaning', () => {
  it('scores 1 when the answer names the held meaning, 0 when it names another', {
    timeout: 60_000,
  }, async () => {
    // A seed under which some multi-meaning row holds a meaning whose answers differ from meaning 0's.
    const wrongFor = (seed: number) =>
      rows.filter((r) => {
        const ms = meaningsOf(r.ground_truth, questionOf(r))!;
        const held = ms[heldIndex(seed, r.id, ms.length)]!;
        return !held.answers.map(normalizeAnswer).includes(normalizeAnswer(ms[0]!.answers[0]!));
      }).length;
    const seed = [...Array(50).keys()].find((s) => wrongFor(s) > 0 && wrongFor(s) < rows.length)!;
    expect(seed).toBeDefined();
    const out = join(dir, 'run');
    const r = await runCliInProcess([
      'eval',
      'run',
      '--data',
      shippedPath('ambig_qa', 'test'),
      '--limit',
      String(LIMIT),
      '--out',
      out,
      ...assistantArgs(assistant.baseUrl, 'stub'),
      '--judge',
      'offline',
      '--tokenizer',
      'approx',
      '--no-progress',
      ...simulatedUserArgs(user.baseUrl),
      '--user-seed',
      String(seed),
    ]);
    // With --judge offline the asking turns await a verdict; the final answers are scored by the held meaning.
    expect(r.code, r.stderr).toBe(0);
    const records = (await readFile(join(out, 'results.jsonl'), 'utf8'))
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l));
    expect(records).toHaveLength(rows.length);
    let zeros = 0;
    for (const row of rows) {
      const rec = records.find((x) => x.id === `${row.id}~cooperative`)!;
      const ms = meaningsOf(row.ground_truth, questionOf(row))!;
      const index = heldIndex(seed, row.id, ms.length);
      const held = ms[index]!;
      const expected = held.answers.map(normalizeAnswer).includes(normalizeAnswer(ms[0]!.answers[0]!))
        ? 1
        : 0;
      if (expected === 0) zeros++;
      expect(rec.conversation.intent.meaning).toMatchObject({
        index,
        of: ms.length,
        question: held.question,
      });
      expect(rec.conversation).toMatchObject({ turns: 2, actions: ['CQ', 'DA'], correct: expected });
      // The final turn's reward uses that verdict (scored without a judge).
      expect(rec.reward.answer_reward).toBe(expected);
    }
    expect(zeros).toBeGreaterThan(0);
    const metrics = JSON.parse(await readFile(join(out, 'metrics.json'), 'utf8'));
    expect(metrics.conversations.overall.correct).toBeCloseTo((rows.length - zeros) / rows.length, 12);
  });
});
