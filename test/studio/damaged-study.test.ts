/**
 * A studies folder with a damaged study in it (a study.json cut short by a crash or edited by hand, a
 * ratings log with a line that is not JSON, a live study's turn that is JSON but not a turn): the studio
 * starts, serves the other studies, and says which study it left out and why.
 */
import { appendFile, cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { PRESETS } from '../../src/steering/presets.js';
import { openStudyStore } from '../../src/studio/study.js';

let root: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'gtalign-damaged-study-'));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

/** A live study of two arms (no steering, the paper's API edits), as the live-study tests create it. */
function liveStudy(): Parameters<Awaited<ReturnType<typeof openStudyStore>>['create']>[0] {
  return {
    kind: 'live',
    name: 'live',
    arms: {
      A: { run: 'none', policy: PRESETS.none, rule: 'sum' },
      B: { run: 'paper-api', policy: PRESETS['paper-api'], rule: 'sum' },
    },
    items: [],
    seed: 1,
  };
}

it('leaves out each damaged study with a warning naming its file, and serves the others', async () => {
  const dir = join(root, 'studies');
  const setup = await openStudyStore(dir);
  const make = (name: string) =>
    setup.create({
      kind: 'live',
      name,
      arms: {
        A: { run: 'none', policy: PRESETS.none, rule: 'sum' },
        B: { run: 'paper-api', policy: PRESETS['paper-api'], rule: 'sum' },
      },
      items: [],
      seed: 1,
    });
  const good = await make('good');
  const ratings = await make('bad ratings');
  const turns = await make('bad turns');
  const half = await make('half a turn');
  await setup.close();
  await appendFile(join(dir, ratings.id, 'ratings.jsonl'), 'garbage\n');
  // Turns of a live study that are JSON but not turns: each page of that study would read its fields.
  await appendFile(join(dir, turns.id, 'items.jsonl'), 'null\n');
  const turn = {
    id: 'carol:1:1',
    data_source: 'live',
    question: 'Hi?',
    replies: { A: 'a', B: 'b' },
    W: { A: null, B: null },
    live: {
      rater: 'carol',
      conversation: 1,
      turn: 1,
      left: 'A',
      cells: { A: 'DQ_DA' },
      outputs: { A: 'x', B: 'y' },
      at: 'now',
    },
  };
  await appendFile(join(dir, half.id, 'items.jsonl'), `${JSON.stringify(turn)}\n`);
  const damaged: Array<[string, string]> = [
    ['cut-short', '{"schema": "gtalign.study/1", "na'],
    ['no-fields', '{"schema": "gtalign.study/1", "name": "x"}'],
    ['not-a-study', '{"name": "x"}'],
  ];
  for (const [id, text] of damaged) {
    await mkdir(join(dir, id));
    await writeFile(join(dir, id, 'study.json'), text);
  }
  const warnings: string[] = [];
  const store = await openStudyStore(dir, undefined, (m) => warnings.push(m));
  expect(store.list().map((s) => s.id)).toEqual([good.id]);
  expect(warnings).toHaveLength(6);
  expect(warnings).toEqual(
    expect.arrayContaining([
      expect.stringMatching(new RegExp(`^study ${ratings.id} left out: .*ratings\\.jsonl:1: not valid JSON`)),
      `study ${turns.id} left out: ${join(dir, turns.id, 'items.jsonl')}:1: not a turn of a live study: not a JSON object`,
      `study ${half.id} left out: ${join(dir, half.id, 'items.jsonl')}:1: not a turn of a live study: live.cells.B is not a string`,
      expect.stringMatching(/^study cut-short left out: .*cut-short\/study\.json: not valid JSON: /),
      expect.stringMatching(/^study no-fields left out: .*no-fields\/study\.json: id is not a string$/),
      expect.stringMatching(/^study not-a-study left out: .*not-a-study\/study\.json: not a gtalign study/),
    ]),
  );
  await store.close();
});

/** A study of two runs over two rows, its study.json as the store writes it. */
async function runsStudy(dir: string, name: string) {
  // The studies made before are damaged on purpose: their warnings are the next test's.
  const store = await openStudyStore(dir, undefined, () => undefined);
  const item = (id: string) => ({
    id,
    data_source: 'math-hard',
    question: `${id}?`,
    replies: { A: `a ${id}`, B: `b ${id}` },
    W: { A: 0.5, B: null },
    actions: { A: 'DA', B: 'CQ' },
  });
  const study = await store.create({
    name,
    arms: { A: { run: 'base', dir: '/runs/base' }, B: { run: 'steer', dir: '/runs/steer' } },
    items: [item('r1'), item('r2')],
    seed: 3,
  });
  await store.close();
  return study;
}

it('leaves out a study of two runs whose study.json was edited into items or arms the pages cannot read', async () => {
  const dir = join(root, 'studies');
  const good = await runsStudy(dir, 'good');
  type Edited = {
    items: Array<Record<string, unknown> & { W: Record<string, unknown> }>;
    arms: Record<string, unknown>;
  };
  const edits: Array<[string, (s: Edited) => void, string]> = [
    ['no replies', (s) => delete s.items[0]!.replies, 'items[0]: replies is not an object'],
    ['w text', (s) => (s.items[1]!.W.A = '0.5'), 'items[1]: W.A is not a number or null'],
    ['not an item', (s) => ((s.items as unknown[])[1] = 'oops'), 'items[1]: not a JSON object'],
    ['same id', (s) => (s.items[1]!.id = 'r1'), 'items[1]: the id "r1" is also an earlier item\'s'],
    ['one arm', (s) => delete s.arms.B, 'arms.B is not an object'],
    ['arm unnamed', (s) => (s.arms.A = { dir: '/runs/base' }), 'arms.A.run is not a string'],
  ];
  const expected: string[] = [];
  for (const [name, edit, problem] of edits) {
    const study = await runsStudy(dir, name);
    const file = join(dir, study.id, 'study.json');
    const json = JSON.parse(await readFile(file, 'utf8'));
    edit(json);
    await writeFile(file, JSON.stringify(json));
    expected.push(`study ${study.id} left out: ${file}: ${problem}`);
  }
  const warnings: string[] = [];
  const store = await openStudyStore(dir, undefined, (m) => warnings.push(m));
  expect(store.list().map((s) => s.id)).toEqual([good.id]);
  expect(warnings.sort()).toEqual(expected.sort());
  await store.close();
});

it('leaves out a live study whose arms were edited into ones that cannot steer a turn', async () => {
  const dir = join(root, 'studies');
  const store0 = await openStudyStore(dir);
  const study = await store0.create(liveStudy());
  await store0.close();
  const file = join(dir, study.id, 'study.json');
  const json = JSON.parse(await readFile(file, 'utf8'));
  json.arms.B.rule = 'best';
  await writeFile(file, JSON.stringify(json));
  const warnings: string[] = [];
  const store = await openStudyStore(dir, undefined, (m) => warnings.push(m));
  expect(store.list()).toEqual([]);
  expect(warnings).toEqual([
    `study ${study.id} left out: ${file}: arms.B.rule is not one of sum, product, pareto, cobb-douglas, ces, min, weighted`,
  ]);
  await store.close();
});

it('leaves out a live study whose items.jsonl holds one turn twice (a line copied by hand), naming both lines', async () => {
  const dir = join(root, 'studies');
  const setup = await openStudyStore(dir);
  const study = await setup.create(liveStudy());
  const turn = (n: number) => ({
    id: `live:carol:1:${n}`,
    data_source: 'live',
    question: `Q${n}?`,
    replies: { A: 'a', B: 'b' },
    W: { A: null, B: null },
    live: {
      rater: 'carol',
      conversation: 1,
      turn: n,
      left: 'A' as const,
      cells: { A: 'DQ_DA', B: 'DQ_CQ' },
      outputs: { A: 'x', B: 'y' },
      at: 'now',
    },
  });
  await setup.addItem(study.id, turn(1));
  await setup.addItem(study.id, turn(2));
  await setup.close();
  const file = join(dir, study.id, 'items.jsonl');
  await appendFile(file, `${JSON.stringify(turn(1))}\n`);
  const warnings: string[] = [];
  const store = await openStudyStore(dir, undefined, (m) => warnings.push(m));
  // Served, the rater would see the turn twice and the analysis would count it twice.
  expect(store.list()).toEqual([]);
  expect(warnings).toEqual([
    `study ${study.id} left out: ${file}:3: the id "live:carol:1:1" is also the turn's on line 1`,
  ]);
  await store.close();
});

it('serves a study folder copied beside it (a backup) as one study, the folder named as its id, and rates into it', async () => {
  const dir = join(root, 'studies');
  const study = await runsStudy(dir, 'pilot');
  // One copy sorts before the study's folder, one after: the disk's listing order must not matter.
  for (const copy of ['a-copy', `${study.id}-backup`])
    await cp(join(dir, study.id), join(dir, copy), { recursive: true });
  const warnings: string[] = [];
  const store = await openStudyStore(dir, undefined, (m) => warnings.push(m));
  expect(store.list().map((s) => s.id)).toEqual([study.id]);
  expect(warnings.sort()).toEqual(
    ['a-copy', `${study.id}-backup`].map(
      (copy) =>
        `study ${copy} left out: ${join(dir, copy, 'study.json')} has the id "${study.id}" of the study in ${join(dir, study.id)} (a copy?); give it an id of its own to serve both`,
    ),
  );
  const answer = { rater: 'alice', item: 'r1', left: 'A' as const, preference: 'B' as const, comment: '' };
  await store.rate(study.id, { ...answer, satisfaction: { A: 2, B: 4 } });
  await store.close();
  const lines = async (folder: string) =>
    (await readFile(join(dir, folder, 'ratings.jsonl'), 'utf8').catch(() => '')).split('\n').filter(Boolean);
  expect(await lines(study.id)).toHaveLength(1);
  expect(await lines('a-copy')).toHaveLength(0);
  expect(await lines(`${study.id}-backup`)).toHaveLength(0);
});
