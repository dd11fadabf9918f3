/**
 * A study of two runs whose study.json its owner edited by hand while raters were at work, served by the
 * real studio server on loopback, in process:
 * - an item taken out after raters had rated it: the analysis counts the ratings of the items the study
 *   holds and says how many it left out, a rater's progress counts the items of their plan, and the
 *   export keeps every rating;
 * - the seed changed: an answer from a page loaded before, whose replies are now on other sides, is
 *   refused rather than stored under the wrong arms;
 * - the id changed into any text: the export still downloads.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import type { RunningServer } from '../../src/server/listen.js';
import { PRESETS } from '../../src/steering/presets.js';
import { startStudioServer } from '../../src/studio/server.js';
import { openStudyStore, parseAnswer, raterPlan, type StudyStore } from '../../src/studio/study.js';

const TOKEN = 'removed-item-token';
let root: string | undefined;
let studio: RunningServer | undefined;
let store: StudyStore | undefined;
afterAll(async () => {
  await studio?.close();
  await store?.close();
  if (root !== undefined) await rm(root, { recursive: true, force: true });
});

/** The studio over `studies`, with no runs and no backend, on a free port. */
function serveStudies(studies: StudyStore): Promise<RunningServer> {
  return startStudioServer({
    runs: [],
    studies,
    backend: 'none',
    policy: PRESETS.none,
    rule: 'product',
    token: TOKEN,
    port: 0,
    log: () => undefined,
  });
}

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
  studio = await serveStudies(store);
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

it('refuses an answer given on a page loaded before study.json was edited moved its replies to other sides', async () => {
  const dir = join(root!, 'sides');
  const setup = await openStudyStore(dir);
  const items = ['q1', 'q2', 'q3', 'q4', 'q5', 'q6'];
  const study = await setup.create({
    name: 'sides',
    arms: { A: { run: 'base', dir: '/runs/base' }, B: { run: 'steer', dir: '/runs/steer' } },
    items: items.map((id) => ({
      id,
      data_source: 'math-hard',
      question: `${id}?`,
      replies: { A: `a ${id}`, B: `b ${id}` },
      W: { A: 0.5, B: 0.6 },
    })),
    seed: 5,
  });
  await setup.close();
  const serve = async () => {
    const s = await openStudyStore(dir);
    const server = await serveStudies(s);
    return { s, server };
  };
  type Shown = { item: string; reply1: string; shown: string };
  const call = async (server: RunningServer, path: string, body?: unknown) => {
    const res = await fetch(`${server.url}${path}`, {
      method: body === undefined ? 'GET' : 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: res.status, json: (await res.json()) as { items: Shown[]; error: { message: string } } };
  };
  const first = await serve();
  const loaded = (await call(first.server, `/api/rater?id=${study.id}&rater=r1`)).json.items;
  await first.server.close();
  await first.s.close();

  // The owner edits the seed by hand: a seed under which some item's replies swap sides for r1.
  const file = join(dir, study.id, 'study.json');
  const json = JSON.parse(await readFile(file, 'utf8')) as { seed: number };
  const before = new Map(loaded.map((i) => [i.item, i.reply1]));
  let seed = 6;
  const swapped = (sd: number) =>
    raterPlan({ ...study, seed: sd }, 'r1').order.find(
      (o) => before.get(o.item) !== `${o.left === 'A' ? 'a' : 'b'} ${o.item}`,
    );
  while (swapped(seed) === undefined) seed++;
  const moved = swapped(seed)!.item;
  json.seed = seed;
  await writeFile(file, JSON.stringify(json));

  const second = await serve();
  try {
    // The page loaded before: reply 1 rated 5 and preferred, as that page showed it.
    const old = loaded.find((i) => i.item === moved)!;
    const answer = { item: moved, satisfaction1: 5, satisfaction2: 1, preference: 1, shown: old.shown };
    const refused = await call(second.server, `/api/rate?id=${study.id}&rater=r1`, answer);
    expect(refused.status).toBe(409);
    expect(refused.json.error.message).toContain('reload the page and rate it again');
    expect(second.s.ratings(study.id)).toHaveLength(0);
    // Reloaded, the page shows the new sides and its answer is stored under the arm it named.
    const now = (
      (await call(second.server, `/api/rater?id=${study.id}&rater=r1`)).json.items as Shown[]
    ).find((i) => i.item === moved)!;
    const stored = await call(second.server, `/api/rate?id=${study.id}&rater=r1`, {
      ...answer,
      shown: now.shown,
    });
    expect(stored.status).toBe(200);
    const rating = second.s.ratings(study.id)[0]!;
    const armOfReply1 = now.reply1.startsWith('a ') ? 'A' : 'B';
    expect(rating.preference).toBe(armOfReply1);
    expect(rating.satisfaction[armOfReply1]).toBe(5);
  } finally {
    await second.server.close();
    await second.s.close();
  }
});

it('exports a study whose id was edited into text a header cannot carry as such', async () => {
  const dir = join(root!, 'odd-id');
  const setup = await openStudyStore(dir);
  const study = await setup.create({
    name: 'odd id',
    arms: { A: { run: 'base', dir: '/runs/base' }, B: { run: 'steer', dir: '/runs/steer' } },
    items: [
      { id: 'q1', data_source: 'math-hard', question: 'q1?', replies: { A: 'a', B: 'b' }, W: { A: 1, B: 0 } },
    ],
    seed: 1,
  });
  await setup.rate(
    study.id,
    parseAnswer(study, 'r1', { item: 'q1', satisfaction1: 3, satisfaction2: 4, preference: 2 }),
  );
  await setup.close();
  const file = join(dir, study.id, 'study.json');
  const id = '研究 "pilot" (2)';
  await writeFile(file, JSON.stringify({ ...JSON.parse(await readFile(file, 'utf8')), id }));
  const s = await openStudyStore(dir);
  const server = await serveStudies(s);
  try {
    for (const format of ['csv', 'jsonl']) {
      const res = await fetch(`${server.url}/api/export?id=${encodeURIComponent(id)}&format=${format}`, {
        headers: { authorization: `Bearer ${TOKEN}` },
      });
      expect(res.status).toBe(200);
      const disposition = res.headers.get('content-disposition')!;
      expect(disposition).toContain(`filename="____pilot___2_.${format}"`);
      const exact = /filename\*=UTF-8''(.+)$/.exec(disposition)![1]!;
      expect(decodeURIComponent(exact)).toBe(`${id}.${format}`);
      expect(await res.text()).toContain('研究');
    }
  } finally {
    await server.close();
    await s.close();
  }
});
