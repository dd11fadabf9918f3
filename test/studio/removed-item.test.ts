/**
 * A study of two runs whose owner took an item out of its study.json by hand (a broken reply, say) after
 * raters had rated it: the analysis counts the ratings of the items the study holds and says how many it
 * left out, a rater's progress counts the items of their plan, and the export keeps every rating.
 * The real studio server on loopback, in process.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import type { RunningServer } from '../../src/server/listen.js';
import { PRESETS } from '../../src/steering/presets.js';
import { startStudioServer } from '../../src/studio/server.js';
import { openStudyStore, parseAnswer, type StudyStore } from '../../src/studio/study.js';

const TOKEN = 'removed-item-token';
let root: string | undefined;
let studio: RunningServer | undefined;
let store: StudyStore | undefined;
afterAll(async () => {
  await studio?.close();
  await store?.close();
  if (root !== undefined) await rm(root, { recursive: true, force: true });
});

async function get<T>(path: string): Promise<T> {
  const res = await fetch(`${studio!.url}${path}`, { headers: { authorization: `Bearer ${TOKEN}` } });
  expect(res.status, path).toBe(200);
  return (path.startsWith('/api/export') ? await res.text() : await res.json()) as T;
}

it('leaves the ratings of a removed item out of the analysis and the rater’s progress, and keeps them in the export', async () => {
  root = await mkdtemp(join(tmpdir(), 'gtalign-removed-item-'));
  const dir = join(root, 'studies');
  const setup = await openStudyStore(dir);
  const study = await setup.create({
    name: 'removed',
    arms: { A: { run: 'base', dir: '/runs/base' }, B: { run: 'steer', dir: '/runs/steer' } },
    items: ['q1', 'q2', 'q3'].map((id) => ({
      id,
      data_source: 'math-hard',
      question: `${id}?`,
      replies: { A: `a ${id}`, B: `b ${id}` },
      W: { A: 0.5, B: 0.6 },
    })),
    seed: 5,
  });
  // Each rater gives arm B 4 and arm A 2, except on q3 (the item removed later): A 5, B 1, A preferred.
  for (const rater of ['r1', 'r2'])
    for (const item of ['q1', 'q2', 'q3']) {
      const left = parseAnswer(study, rater, {
        item,
        satisfaction1: 1,
        satisfaction2: 1,
        preference: 1,
      }).left;
      const [a, b] = item === 'q3' ? [5, 1] : [2, 4];
      const [s1, s2] = left === 'A' ? [a, b] : [b, a];
      const prefersA = item === 'q3';
      const preference = (left === 'A') === prefersA ? 1 : 2;
      await setup.rate(
        study.id,
        parseAnswer(study, rater, { item, satisfaction1: s1, satisfaction2: s2, preference }),
      );
    }
  await setup.close();
  const file = join(dir, study.id, 'study.json');
  const json = JSON.parse(await readFile(file, 'utf8')) as { items: { id: string }[] };
  json.items = json.items.filter((i) => i.id !== 'q3');
  await writeFile(file, JSON.stringify(json));

  store = await openStudyStore(dir);
  studio = await startStudioServer({
    runs: [],
    studies: store,
    backend: 'none',
    policy: PRESETS.none,
    rule: 'product',
    token: TOKEN,
    port: 0,
    log: () => undefined,
  });
  const analysis = await get<{
    ratings: number;
    ratingsOfRemovedItems: number;
    itemsRated: number;
    items: number;
    satisfaction: { A: { estimate: number }; B: { estimate: number } };
    preference: { A: number; B: number; tie: number };
  }>(`/api/analysis?id=${study.id}`);
  expect(analysis.ratings).toBe(4);
  expect(analysis.ratingsOfRemovedItems).toBe(2);
  expect([analysis.itemsRated, analysis.items]).toEqual([2, 2]);
  expect(analysis.satisfaction.A.estimate).toBe(2);
  expect(analysis.satisfaction.B.estimate).toBe(4);
  expect(analysis.preference).toMatchObject({ A: 0, B: 4, tie: 0 });
  const plan = await get<{ done: string[]; items: { item: string }[] }>(`/api/rater?id=${study.id}&rater=r1`);
  expect(plan.items.map((i) => i.item).sort()).toEqual(['q1', 'q2']);
  expect(plan.done.sort()).toEqual(['q1', 'q2']);
  const jsonl = (await get<string>(`/api/export?id=${study.id}&format=jsonl`)).trim().split('\n');
  expect(jsonl).toHaveLength(6);
});
