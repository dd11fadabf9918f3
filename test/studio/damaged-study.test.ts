/**
 * A studies folder with a damaged study in it (a study.json cut short by a crash or edited by hand, a
 * ratings log with a line that is not JSON, a live study's turn that is JSON but not a turn): the studio
 * starts, serves the other studies, and says which study it left out and why.
 */
import { appendFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
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
