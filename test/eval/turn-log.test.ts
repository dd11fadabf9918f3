/**
 * turns.jsonl of a conversation run (src/eval/conversation-store.ts): an assistant turn re-judged on resume
 * gets a whole superseding line, and the last line of a turn is the turn; any other second line of a turn
 * is corruption, named by its line.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  type AssistantTurnRecord,
  openTurnLog,
  TURNS_FILE,
  type UserTurnRecord,
} from '../../src/eval/conversation-store.js';
import type { RunReward } from '../../src/eval/types.js';
import { rec } from './helpers.js';

const FAILED: RunReward = { error: { stage: 'judge', message: 'judge down' } };
const SCORED: RunReward = rec('x', 'ambig_qa', { u: 0.5, l: 0.5 }).reward;

function assistant(conversation: string, turn: number, reward: RunReward): AssistantTurnRecord {
  return {
    conversation,
    turn,
    role: 'assistant',
    output: `<response>turn ${turn}</response>`,
    response: `turn ${turn}`,
    tokens: { reasoning: 0, response: 2, total: 2 },
    reward,
    next: 'answer',
    durationMs: 1,
  };
}

function user(conversation: string, turn: number): UserTurnRecord {
  return {
    conversation,
    turn,
    role: 'user',
    mode: 'answer',
    text: 'the first one',
    tokens: 3,
    usage: { promptTokens: 10, completionTokens: 3 },
    durationMs: 1,
  };
}

const line = (x: unknown) => `${JSON.stringify(x)}\n`;

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gtalign-turn-log-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('the turn log', () => {
  it('supersedes a re-judged turn with a marked whole line, read back in the turn’s place', async () => {
    const log = await openTurnLog(dir, { resume: false });
    await log.append(assistant('c', 1, FAILED));
    await log.append(user('c', 1));
    await log.supersede(assistant('c', 1, SCORED));
    expect(log.turns).toEqual([{ ...assistant('c', 1, SCORED), supersedes: true }, user('c', 1)]);
    // A turn's first line is written once.
    await expect(log.append(user('c', 1))).rejects.toThrow(/user turn 1 of c is already in/);
    await expect(log.supersede(assistant('c', 2, SCORED))).rejects.toThrow(/turn 2 of c has no line/);
    await log.close();

    const text = await readFile(join(dir, TURNS_FILE), 'utf8');
    expect(text).toBe(
      line(assistant('c', 1, FAILED)) +
        line(user('c', 1)) +
        line({ ...assistant('c', 1, SCORED), supersedes: true }),
    );
    const again = await openTurnLog(dir, { resume: true });
    expect(again.turns).toEqual([{ ...assistant('c', 1, SCORED), supersedes: true }, user('c', 1)]);
    await again.close();
  });

  it('cuts a torn superseding line off on resume (the turn keeps its reward of before) and supersedes it again whole', async () => {
    const first = line(assistant('c', 1, FAILED));
    const superseding = line({ ...assistant('c', 1, SCORED), supersedes: true });
    await writeFile(join(dir, TURNS_FILE), first + superseding.slice(0, 60));
    const log = await openTurnLog(dir, { resume: true });
    expect(log.truncatedBytes).toBe(60);
    expect(log.turns).toEqual([assistant('c', 1, FAILED)]);
    await log.supersede(assistant('c', 1, SCORED));
    await log.close();
    expect(await readFile(join(dir, TURNS_FILE), 'utf8')).toBe(first + superseding);
  });

  it('refuses to resume over a second line of a turn that is not a re-judged assistant turn, naming the line', async () => {
    const path = join(dir, TURNS_FILE);
    const cases: Array<[string, RegExp]> = [
      [
        line(assistant('c', 1, FAILED)) + line(assistant('c', 1, SCORED)),
        /turns\.jsonl:2: a second line for assistant turn 1 of c/,
      ],
      [
        line(assistant('c', 1, FAILED)) + line(user('c', 1)) + line({ ...user('c', 1), supersedes: true }),
        /turns\.jsonl:3: a second line for user turn 1 of c/,
      ],
      [
        line(assistant('c', 1, FAILED)) + line({ ...assistant('c', 2, SCORED), supersedes: true }),
        /turns\.jsonl:2: supersedes assistant turn 2 of c, which has no earlier line/,
      ],
      [line({ ...assistant('c', 1, SCORED), supersedes: 'yes' }), /turns\.jsonl:1: not a turn record/],
      // A superseding line scores the same output again: another output would change what the user saw.
      [
        line(assistant('c', 1, FAILED)) +
          line({ ...assistant('c', 1, SCORED), output: '<response>edited</response>', supersedes: true }),
        /turns\.jsonl:2: assistant turn 1 of c: "supersedes" replaces a turn with its output scored again, and it differs in output/,
      ],
    ];
    for (const [text, message] of cases) {
      await writeFile(path, text);
      await expect(openTurnLog(dir, { resume: true })).rejects.toThrow(message);
    }
  });
});
