/**
 * `eval sweep --turns`, `eval compare` and `eval report` on conversation runs, end to end: the real CLI
 * against scripted stand-ins (loopback OpenAI-compatible servers replaying outputs this test chooses;
 * none is a model). The price moves the first turn: the assistant's stage 1 always writes the same
 * matrix, in which a clarifying question (VQ_CQ, 1.7 + 2.9) beats a direct answer (DQ_DA, 1.6 + 2.8) by
 * 0.2 under the sum rule; the swept policy charges the user `userTimeCostPerTurn` per extra turn, and a
 * CQ costs one extra turn, so from 0.5 on the direct answer wins (free billing: no other edit). With
 * `--analysis solver` gtalign writes the chosen cell, and the scripted assistant writes the response of
 * that action: a question, or a guess ("It was Spain.", the 2010 meaning) when it answers at once, or,
 * after the user said which year, that year's answer. So asking costs a turn and finds the held meaning;
 * answering at once is right only for users who hold the 2010 meaning.
 *
 * Expected values are computed here: turns and correctness from the rule above and the documented meaning
 * draw; each turn's W from its recorded output with the reward code's scorer (`scoreWithVerdict`, asking
 * turns judged 1 by the scripted judge, final answers against the held meaning); means, the discounted
 * W_γ = Σ γ^(t−1)·W_t and the paired differences by hand.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { approxTokenCounter } from '../../src/eval/tokens.js';
import { scoreWithVerdict } from '../../src/reward/score.js';
import { rec } from '../eval/helpers.js';
import { runCliInProcess } from '../support/cli-in-process.js';
import {
  type OpenAIStubServer,
  type StubReply,
  type StubRequestBody,
  startOpenAIStubServer,
} from '../support/openai-stub-server.js';
import { jsonLines } from '../support/run-folder.js';
import {
  CUP_GROUND_TRUTH,
  cupRow,
  cut,
  heldIndex,
  judgeScript,
  type Message,
  STAGE1,
  turnOf,
  USER_TEXT,
} from './scripted.js';

const CQ_TEXT = 'Which year do you mean?';
const REPLY = { 0: 'I mean the one in 2010.', 1: 'I mean the one in 2014.' } as const;
const ANSWER = { 0: 'It was Spain.', 1: 'It was Germany.' } as const;
const PERSONAS = ['cooperative', 'impatient'];
const GAMMA = 0.9;
const POINTS = [0, 0.5, 1];

/** The assistant: stage 1 by turn; stage 2 writes the response of the cell gtalign chose. */
function assistant(body: StubRequestBody): StubReply {
  const { turn, stage2, messages } = turnOf(body);
  const stops = (body.stop as string[] | undefined) ?? [];
  if (!stage2) return { content: cut(turn === 1 ? STAGE1.CQ : STAGE1.DA, stops) };
  const chosen = /Chosen cell: (\w+)/.exec(messages.at(-1)!.content)?.[1] ?? '';
  const lastUser = messages
    .slice(0, -1)
    .filter((m) => m.role === 'user')
    .at(-1)!.content;
  const text = chosen.endsWith('_CQ') ? CQ_TEXT : lastUser.includes('2014') ? ANSWER[1] : ANSWER[0];
  return { content: cut(`<response>${text}</response>`, stops) };
}

/** The user's model: names the year of the meaning its prompt says it holds. */
function user(body: StubRequestBody): StubReply {
  const messages = body.messages as Message[];
  if (messages.at(-1)!.content.includes('will not answer any more questions'))
    return { content: USER_TEXT.insist };
  return { content: messages[0]!.content.includes('in 2014?') ? REPLY[1] : REPLY[0] };
}

// Row ids chosen so that the held meanings are mixed: two users hold 2010, one holds 2014.
const ids: string[] = [];
{
  const want = { 0: 2, 1: 1 };
  for (let i = 0; ids.length < 3; i++) {
    const held = heldIndex(0, `q-${i}`, 2) as 0 | 1;
    if (want[held] > 0) {
      want[held]--;
      ids.push(`q-${i}`);
    }
  }
}
const conversations = ids.flatMap((id) => PERSONAS.map((p) => ({ id: `${id}~${p}`, row: id, persona: p })));
const held = (rowId: string) => heldIndex(0, rowId, 2) as 0 | 1;

let dir: string;
let servers: OpenAIStubServer[];
let sweepDir: string;
const pointDir = (v: number) => join(sweepDir, `userTimeCostPerTurn=${v}`);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gtalign-conv-views-'));
  servers = await Promise.all([
    startOpenAIStubServer(assistant),
    startOpenAIStubServer(user),
    startOpenAIStubServer(judgeScript),
  ]);
  sweepDir = join(dir, 'sweep');
});
afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
  await rm(dir, { recursive: true, force: true });
});

/** What one conversation must be at a price: its actions, correctness and the user's tokens. */
function expectedConversation(rowId: string, price: number) {
  const asks = price < 0.2; // CQ wins by 0.2 under the sum rule; the user's time cost takes it away.
  return asks
    ? {
        actions: ['CQ', 'DA'],
        turns: 2,
        answeredAt: 2,
        correct: 1,
        userTokens: approxTokenCounter.count(REPLY[held(rowId)]),
      }
    : { actions: ['DA'], turns: 1, answeredAt: 1, correct: held(rowId) === 0 ? 1 : 0, userTokens: 0 };
}

/** W_γ of a conversation from its recorded outputs, scored here. */
async function discountedW(run: string, id: string, correct: number): Promise<number> {
  const turns = (await jsonLines(join(run, 'turns.jsonl'))).filter(
    (t) => t.conversation === id && t.role === 'assistant',
  );
  return turns.reduce((sum, t, i) => {
    const final = i === turns.length - 1;
    const r = scoreWithVerdict(
      { data_source: 'ambig_qa', response: t.output, ground_truth: CUP_GROUND_TRUTH },
      final ? correct : 1,
    );
    if (r.kind !== 'record') throw new Error('unscorable');
    return sum + GAMMA ** i * r.score;
  }, 0);
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

describe('conversation runs in eval sweep, compare and report (scripted servers)', () => {
  it('eval sweep --turns 3: per price, the turns to the answer and the final accuracy', {
    timeout: 120_000,
  }, async () => {
    const [asst, usr, judge] = servers as [OpenAIStubServer, OpenAIStubServer, OpenAIStubServer];
    const data = join(dir, 'rows.jsonl');
    await writeFile(data, `${ids.map((id) => JSON.stringify(cupRow(id))).join('\n')}\n`);
    const policy = join(dir, 'policy.json');
    await writeFile(policy, JSON.stringify({ name: 'time', billing: 'free' }));
    const r = await runCliInProcess([
      'eval',
      'sweep',
      '--data',
      data,
      '--out',
      sweepDir,
      '--policy',
      policy,
      '--policy-param',
      'userTimeCostPerTurn=0:1:3',
      '--analysis',
      'solver',
      '--backend',
      'openai',
      '--base-url',
      asst.baseUrl,
      '--model',
      'stub-assistant',
      '--vendor',
      'vllm',
      '--judge-url',
      judge.baseUrl,
      '--judge-model',
      'stub-judge',
      '--judge-vendor',
      'vllm',
      '--no-cache',
      '--tokenizer',
      'approx',
      '--no-progress',
      '--turns',
      '3',
      '--persona',
      PERSONAS.join(','),
      '--user-backend',
      'openai',
      '--user-base-url',
      usr.baseUrl,
      '--user-model',
      'stub-user',
      '--user-vendor',
      'vllm',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const sweep = JSON.parse(await readFile(join(sweepDir, 'sweep.json'), 'utf8'));
    expect(sweep.points.map((p: { value: number }) => p.value)).toEqual(POINTS);
    for (const [i, price] of POINTS.entries()) {
      const want = conversations.map((c) => expectedConversation(c.row, price));
      const o = sweep.points[i].metrics.conversations.overall;
      expect(o.n).toBe(6);
      expect(o.turns).toBeCloseTo(mean(want.map((w) => w.turns)), 12);
      expect(o.turns_to_answer).toBeCloseTo(mean(want.map((w) => w.answeredAt)), 12);
      expect(o.correct).toBeCloseTo(mean(want.map((w) => w.correct)), 12);
      expect(o.user_tokens).toBeCloseTo(mean(want.map((w) => w.userTokens)), 12);
      const records = await jsonLines(join(pointDir(price), 'results.jsonl'));
      for (const c of conversations) {
        const got = records.find((x) => x.id === c.id)!.conversation;
        expect(got.actions).toEqual(expectedConversation(c.row, price).actions);
      }
      const ws = await Promise.all(
        conversations.map((c, k) => discountedW(pointDir(price), c.id, want[k]!.correct)),
      );
      expect(o.discounted.W).toBeCloseTo(mean(ws), 12);
      // The summary prints the point's line: value, conversations, turns, answered, turns to answer, correct.
      const line = new RegExp(
        `^\\s*${price}\\s+6\\s+${o.turns.toFixed(2)}\\s+100\\.0%\\s+${o.turns_to_answer.toFixed(2)}\\s+${o.correct.toFixed(3)}\\s`,
        'm',
      );
      expect(r.stdout).toMatch(line);
    }
    // Asking finds every held meaning; answering at once finds the 2010 users only (4 of 6).
    expect(sweep.points[0].metrics.conversations.overall.correct).toBe(1);
    expect(sweep.points[2].metrics.conversations.overall.correct).toBeCloseTo(4 / 6, 12);
  });

  it('eval compare: two conversation runs side by side and paired; a single-turn run is refused', {
    timeout: 60_000,
  }, async () => {
    const a = pointDir(0);
    const b = pointDir(1);
    const r = await runCliInProcess(['eval', 'compare', a, b, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const pair = JSON.parse(r.stdout).pairs[0];
    const c = pair.conversations;
    expect(c.shared).toBe(6);
    const wantA = conversations.map((x) => expectedConversation(x.row, 0));
    const wantB = conversations.map((x) => expectedConversation(x.row, 1));
    expect(c.metrics.a.overall.turns).toBeCloseTo(2, 12);
    expect(c.metrics.b.overall.turns).toBeCloseTo(1, 12);
    expect(c.metrics.b.groups['ambig_qa/impatient'].correct).toBeCloseTo(2 / 3, 12);
    const s = c.significance;
    expect(s.turns).toMatchObject({ n: 6, meanA: 2, meanB: 1 });
    expect(s.turns.difference.estimate).toBeCloseTo(-1, 12);
    expect(s.correct.meanB).toBeCloseTo(mean(wantB.map((w) => w.correct)), 12);
    expect(s.correct.difference.estimate).toBeCloseTo(
      mean(wantB.map((w, k) => w.correct - wantA[k]!.correct)),
      12,
    );
    // Only the conversations where the answer changed differ: the exact sign-flip p over them.
    const changed = wantB.filter((w, k) => w.correct !== wantA[k]!.correct).length;
    expect(s.correct.test.pValue).toBeCloseTo(2 / 2 ** changed, 12);
    const wA = await Promise.all(conversations.map((x, k) => discountedW(a, x.id, wantA[k]!.correct)));
    const wB = await Promise.all(conversations.map((x, k) => discountedW(b, x.id, wantB[k]!.correct)));
    expect(s.discounted_W.meanA).toBeCloseTo(mean(wA), 12);
    expect(s.discounted_W.difference.estimate).toBeCloseTo(mean(wB) - mean(wA), 12);
    expect(s.user_tokens.meanB).toBe(0);

    const t = await runCliInProcess(['eval', 'compare', a, b]);
    expect(t.code, t.stderr).toBe(0);
    expect(t.stdout).toContain('Conversations side by side B − A (6 shared conversations)');
    expect(t.stdout).toMatch(/^turns\s+2\.00\s+1\.00\s+-1\.00\s/m);
    expect(t.stdout).toMatch(/^turns to answer\s+2\.00\s+1\.00\s+-1\.00\s/m);
    expect(t.stdout).toMatch(/Are the conversations different beyond noise\?/);

    // B discounted with another γ: W_γ, U_γ, L_γ measure different things, so they are left out, and said so.
    const otherGamma = join(dir, 'other-gamma');
    await mkdir(otherGamma, { recursive: true });
    const records = (await readFile(join(b, 'results.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    for (const r of records) if (r.conversation?.discounted) r.conversation.discounted.gamma = 0.5;
    await writeFile(
      join(otherGamma, 'results.jsonl'),
      `${records.map((r) => JSON.stringify(r)).join('\n')}\n`,
    );
    // The same simulated users (B's config.json, its γ changed): γ is not a user setting.
    const config = JSON.parse(await readFile(join(b, 'config.json'), 'utf8'));
    config.generation.conversation.discount = 0.5;
    await writeFile(join(otherGamma, 'config.json'), JSON.stringify(config));
    const g = await runCliInProcess(['eval', 'compare', a, otherGamma, '--json']);
    expect(g.code, g.stderr).toBe(0);
    const gc = JSON.parse(g.stdout).pairs[0].conversations;
    expect(gc.significance.discounted_W.n).toBe(0);
    expect(gc.significance.turns.n).toBe(6);
    expect(gc.notes).toEqual([
      expect.stringMatching(
        /^W_γ, U_γ and L_γ leave out 6 conversation\(s\) discounted with a different γ in each run \(A γ = 0\.9, B γ = 0\.5\)/,
      ),
    ]);
    const gt = await runCliInProcess(['eval', 'compare', a, otherGamma]);
    expect(gt.stdout).toMatch(/^note: W_γ, U_γ and L_γ leave out 6 conversation/m);

    const single = join(dir, 'single');
    await mkdir(single, { recursive: true });
    await writeFile(
      join(single, 'results.jsonl'),
      `${JSON.stringify(rec(ids[0]!, 'ambig_qa', { u: 1, l: 1 }))}\n`,
    );
    const mixed = await runCliInProcess(['eval', 'compare', a, single]);
    expect(mixed.code).toBe(1);
    expect(mixed.stderr).toMatch(
      /cannot compare userTimeCostPerTurn=0 with single: userTimeCostPerTurn=0 is a conversation run .* single a single-turn run/,
    );
  });

  it('eval report: a conversation section, conversation comparison and sweep tables, and their charts', {
    timeout: 60_000,
  }, async () => {
    const a = pointDir(0);
    const b = pointDir(1);
    const before = JSON.parse(await readFile(join(a, 'metrics.json'), 'utf8'));
    const out = join(dir, 'report');
    const single = join(dir, 'single-report');
    await mkdir(single, { recursive: true });
    await writeFile(
      join(single, 'results.jsonl'),
      `${JSON.stringify(rec(ids[0]!, 'ambig_qa', { u: 1, l: 1 }))}\n`,
    );
    const r = await runCliInProcess(['eval', 'report', a, b, sweepDir, single, '--out', out, '--no-png']);
    expect(r.code, r.stderr).toBe(0);
    // Complete runs (one record per row and persona): no warning, and metrics.json keeps the conversations.
    expect(r.stderr).toBe('');
    expect(JSON.parse(await readFile(join(a, 'metrics.json'), 'utf8')).conversations).toEqual(
      before.conversations,
    );
    const md = await readFile(join(out, 'report.md'), 'utf8');
    expect(md).toContain('## Conversations');
    const o = before.conversations.overall;
    // run | group | n | turns | answered | turns to answer | correct | correct n | …
    expect(md).toContain(
      `| userTimeCostPerTurn=0 | overall | 6 | ${o.turns.toFixed(2)} | 100.0% | ${o.turns_to_answer.toFixed(2)} | ${o.correct.toFixed(3)} | 6 |`,
    );
    expect(md).toMatch(
      /\| userTimeCostPerTurn=1 \| overall \| 6 \| 1\.00 \| 100\.0% \| 1\.00 \| 0\.667 \| 6 \|/,
    );
    expect(md).toContain(
      '**Conversations side by side on 6 shared conversations: A = userTimeCostPerTurn=0, B = userTimeCostPerTurn=1**',
    );
    expect(md).toMatch(/\| turns \| 2\.00 \| 1\.00 \| -1\.00 \|/);
    expect(md).toContain('conversations over userTimeCostPerTurn');
    // A single-turn run beside them: its pairs with the conversation runs are noted, not paired.
    expect(md).toContain(
      'A = userTimeCostPerTurn=0, B = single-report: userTimeCostPerTurn=0 is a conversation run',
    );
    expect(md).toMatch(/\| 0\.5 \| 6 \| 1\.00 \| 100\.0% \| 1\.00 \| 0\.667 \|/);
    const chart = await readFile(join(out, 'charts', 'conversations.svg'), 'utf8');
    const bar = (run: string, measure: string) =>
      Number(
        new RegExp(
          `data-bar="" data-series="${run}" data-measure="${measure}" data-group="overall" data-value="([\\d.]+)"`,
        ).exec(chart)?.[1],
      );
    expect(bar('userTimeCostPerTurn=0', 'turns')).toBe(2);
    expect(bar('userTimeCostPerTurn=1', 'correct')).toBeCloseTo(4 / 6, 12);
    expect(existsSync(join(out, 'charts', 'conversation-sweep-3.svg'))).toBe(true);
    const sweepChart = await readFile(join(out, 'charts', 'conversation-sweep-3.svg'), 'utf8');
    expect(sweepChart).toContain('data-sweep-point="" data-series="turns to answer" data-x="0" data-y="2"');
    expect(sweepChart).toContain('data-sweep-point="" data-series="turns to answer" data-x="1" data-y="1"');
  });
});
