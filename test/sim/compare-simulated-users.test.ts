/**
 * `eval compare` and `eval report` on two conversation runs whose simulated users differ, end to end: the
 * real CLI against scripted stand-ins (test/sim/scripted.ts; none is a model). Every run has the same
 * assistant: it asks which year, then answers "It was Spain." (right for users holding the 2010 meaning).
 * Only the simulated-user settings change from run to run, so every difference between two runs is the
 * users': the comparison must say which settings differ and mark its verdicts, and say nothing when the
 * users are the same.
 */
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUILTIN_PERSONAS } from '../../src/sim/persona.js';
import { runCliInProcess } from '../support/cli-in-process.js';
import { type OpenAIStubServer, startOpenAIStubServer } from '../support/openai-stub-server.js';
import {
  assistantScript,
  cupRow,
  evalRunArgs,
  heldIndex,
  judgeScript,
  simulatedUserArgs,
  userScript,
} from './scripted.js';

const IDS = ['q-0', 'q-1', 'q-2', 'q-3'];

let dir: string;
let data: string;
let servers: OpenAIStubServer[];

/** Runs `eval run --turns 3` into DIR/name: the base settings, `extra` flags, and the user's model. */
async function conversationRun(name: string, extra: string[] = [], userModel = 'stub-user'): Promise<string> {
  const [asst, usr, judge] = servers as [OpenAIStubServer, OpenAIStubServer, OpenAIStubServer];
  const out = join(dir, name);
  const userArgs = simulatedUserArgs(usr.baseUrl).map((a) => (a === 'stub-user' ? userModel : a));
  const r = await runCliInProcess(
    evalRunArgs({
      data,
      out,
      assistantUrl: asst.baseUrl,
      judgeUrl: judge.baseUrl,
      extra: [...userArgs, '--persona', 'cooperative', ...extra],
    }),
  );
  expect(r.code, r.stderr).toBe(0);
  return out;
}

async function compareJson(a: string, b: string) {
  const r = await runCliInProcess(['eval', 'compare', a, b, '--json']);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout).pairs[0];
}

async function compareText(a: string, b: string): Promise<string> {
  const r = await runCliInProcess(['eval', 'compare', a, b]);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout;
}

/** The verdict cells (last column) of the text output's two significance tables. */
function verdicts(text: string): string[] {
  const lines = text.split('\n');
  const titles = ['Is the difference more than noise?', 'Are the conversations different beyond noise?'];
  return titles.flatMap((title) => {
    const start = lines.findIndex((l) => l.startsWith(title));
    const end = lines.findIndex((l, i) => i > start && l.startsWith('Paired'));
    expect(start).toBeGreaterThanOrEqual(0);
    // The title, the table's head, its rows (a rule under the head has no digit), then how they were computed.
    return lines
      .slice(start + 2, end)
      .filter((l) => /\d/.test(l))
      .map((l) =>
        l
          .split(/\s{2,}/)
          .at(-1)!
          .trim(),
      );
  });
}

const made = new Map<string, Promise<string>>();
/** A run made once per name (several tests compare against the same one). */
function runOnce(name: string, extra: string[] = [], userModel?: string): Promise<string> {
  let run = made.get(name);
  if (run === undefined) {
    run = conversationRun(name, extra, userModel);
    made.set(name, run);
  }
  return run;
}

let base: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gtalign-sim-users-'));
  servers = await Promise.all([
    startOpenAIStubServer(
      assistantScript((_m, turn) =>
        turn === 1
          ? { action: 'CQ', response: 'Which year do you mean?' }
          : { action: 'DA', response: 'It was Spain.' },
      ),
    ),
    startOpenAIStubServer(userScript),
    startOpenAIStubServer(judgeScript),
  ]);
  data = join(dir, 'rows.jsonl');
  await writeFile(data, `${IDS.map((id) => JSON.stringify(cupRow(id))).join('\n')}\n`);
  base = await runOnce('base');
}, 60_000);
afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
  await rm(dir, { recursive: true, force: true });
});

describe('eval compare: the simulated users of two conversation runs', () => {
  it('the same settings: no note, verdicts unmarked, and the simulator recorded', {
    timeout: 60_000,
  }, async () => {
    const same = await runOnce('same');
    const simulator = async (run: string) =>
      JSON.parse(await readFile(join(run, 'config.json'), 'utf8')).generation.conversation.simulator;
    expect(await simulator(base)).toMatch(/^sha256:[0-9a-f]{16}$/);
    expect(await simulator(same)).toBe(await simulator(base));
    const pair = await compareJson(base, same);
    expect(pair.conversations.users).toEqual({ same: true, differences: [], unknown: [], notes: [] });
    expect(pair.conversations.notes).toEqual([]);
    const text = await compareText(base, same);
    expect(text).not.toMatch(/^note:/m);
    expect(text).not.toContain('users differ');
    const shown = verdicts(text);
    expect(shown.length).toBeGreaterThan(8);
    for (const v of shown) expect(v).toMatch(/^(within noise|B higher|B lower|no items)$/);
  });

  it('another seed: said with how many held intents changed; the numbers kept, every verdict marked', {
    timeout: 60_000,
  }, async () => {
    const other = await runOnce('seed7', ['--user-seed', '7']);
    const changed = IDS.filter((id) => heldIndex(0, id, 2) !== heldIndex(7, id, 2)).length;
    expect(changed).toBeGreaterThan(0);
    const pair = await compareJson(base, other);
    const users = pair.conversations.users;
    expect(users.same).toBe(false);
    expect(users.differences).toEqual([
      { setting: 'userSeed', a: 0, b: 7, text: 'seed 0 vs 7' },
      {
        setting: 'intent',
        text: `the intent held differs in ${changed} of ${IDS.length} shared conversations`,
      },
    ]);
    expect(users.unknown).toEqual([]);
    expect(pair.conversations.notes).toEqual([
      `the simulated users differ (seed 0 vs 7; the intent held differs in ${changed} of ${IDS.length} shared conversations): the differences between A and B are the users' as much as the assistants', so the paired statistics compare assistant and user together, not the assistants alone; rerun one with the other's simulated-user settings to compare the assistants`,
    ]);
    // The same assistant, yet its correctness moves: the users' doing. The paired numbers are still given.
    const correct = (seed: number): number[] => IDS.map((id) => (heldIndex(seed, id, 2) === 0 ? 1 : 0));
    const [ca, cb] = [correct(0), correct(7)];
    const s = pair.conversations.significance.correct;
    expect(s.n).toBe(IDS.length);
    expect(s.difference.estimate).toBeCloseTo(cb.reduce((t, x, i) => t + x - ca[i]!, 0) / IDS.length, 12);

    const text = await compareText(base, other);
    const note = text.indexOf('note: the simulated users differ (seed 0 vs 7;');
    expect(note).toBeGreaterThan(0);
    expect(note).toBeLessThan(text.indexOf('Pareto comparison of (U, L)'));
    const shown = verdicts(text);
    expect(shown.length).toBeGreaterThan(8);
    for (const v of shown) expect(v).toMatch(/^((within noise|B higher|B lower) \(users differ\)|no items)$/);
  });

  it('a persona redefined under the same name: which fields differ', { timeout: 60_000 }, async () => {
    const file = join(dir, 'personas.json');
    const redefined = {
      name: 'cooperative',
      description: 'You are cooperative but you ramble.',
      followUp: 0.9,
    };
    await writeFile(file, JSON.stringify({ personas: [redefined] }));
    const other = await runOnce('persona', ['--persona-file', file]);
    const users = (await compareJson(base, other)).conversations.users;
    expect(users.same).toBe(false);
    expect(users.differences).toEqual([
      {
        setting: 'personas.cooperative',
        a: BUILTIN_PERSONAS.cooperative,
        b: { ...redefined, maxAnswers: null, insists: false },
        text: "persona 'cooperative' defined differently (description, followUp 0.5 vs 0.9)",
      },
    ]);
    const text = await compareText(base, other);
    expect(text).toContain(
      "note: the simulated users differ (persona 'cooperative' defined differently (description, followUp 0.5 vs 0.9)):",
    );
  });

  it('another model playing the user', { timeout: 60_000 }, async () => {
    const other = await runOnce('user-model', [], 'other-user');
    const users = (await compareJson(base, other)).conversations.users;
    expect(users.same).toBe(false);
    expect(users.differences).toEqual([
      {
        setting: 'user',
        a: { kind: 'openai', model: 'stub-user', vendor: 'vllm', shared: false },
        b: { kind: 'openai', model: 'other-user', vendor: 'vllm', shared: false },
        text: 'user model openai "stub-user" vs openai "other-user"',
      },
    ]);
    expect(await compareText(base, other)).toContain(
      'note: the simulated users differ (user model openai "stub-user" vs openai "other-user"):',
    );
  });

  it('a run folder from before the simulator was recorded, or with no config.json: unknown, not different', {
    timeout: 60_000,
  }, async () => {
    const old = join(dir, 'old');
    await mkdir(old);
    await copyFile(join(base, 'results.jsonl'), join(old, 'results.jsonl'));
    const config = JSON.parse(await readFile(join(base, 'config.json'), 'utf8'));
    delete config.generation.conversation.simulator;
    config.name = 'old';
    await writeFile(join(old, 'config.json'), JSON.stringify(config));
    const pair = await compareJson(base, old);
    expect(pair.conversations.users).toEqual({
      same: null,
      differences: [],
      unknown: [{ setting: 'simulator', missing: ['b'] }],
      notes: [
        "cannot tell whether the simulated users were the same: B = old's config.json does not record simulator (a run from before gtalign recorded it)",
      ],
    });
    // Unknown is not a difference: the verdicts stay as they are.
    const text = await compareText(base, old);
    expect(text).toMatch(/^note: cannot tell whether the simulated users were the same: B = old's config/m);
    for (const v of verdicts(text)) expect(v).toMatch(/^(within noise|B higher|B lower|no items)$/);

    // Such a run still resumes, and its config.json goes on saying nothing of the simulator.
    await conversationRun('old', ['--resume']);
    const resumed = JSON.parse(await readFile(join(old, 'config.json'), 'utf8'));
    expect(resumed.generation.conversation).not.toHaveProperty('simulator');

    const bare = join(dir, 'bare');
    await mkdir(bare);
    await copyFile(join(base, 'results.jsonl'), join(bare, 'results.jsonl'));
    const users = (await compareJson(bare, base)).conversations.users;
    expect(users.same).toBeNull();
    expect(users.unknown.map((u: { setting: string }) => u.setting)).toEqual([
      'userSeed',
      'user',
      'turns',
      'userMaxTokens',
      'userTemperature',
      'simulator',
      'personas',
    ]);
    expect(users.notes).toEqual([
      'cannot tell whether the simulated users were the same: A = bare has no config.json',
    ]);
  });
});

describe('eval report: the simulated users of the runs it compares', () => {
  it('the note in the comparison, and the verdicts marked', { timeout: 60_000 }, async () => {
    const other = await runOnce('seed7', ['--user-seed', '7']);
    const out = join(dir, 'report');
    const r = await runCliInProcess(['eval', 'report', base, other, '--out', out, '--no-png']);
    expect(r.code, r.stderr).toBe(0);
    const md = await readFile(join(out, 'report.md'), 'utf8');
    expect(md).toContain('A = base, B = seed7: the simulated users differ (seed 0 vs 7;');
    expect(md).toMatch(/^\| correct \| 4 \|.*\| (within noise|B higher|B lower) \(users differ\) \|$/m);
    expect(md).toMatch(/^\| W \| 4 \|.*\(users differ\) \|$/m);
  });
});
