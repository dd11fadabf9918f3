/**
 * The study analysis runs in a worker thread, not on the studio server's: a rater's page is answered while
 * an analysis is in progress (held there by the worker's test gate, no sleep), the figures equal the
 * in-thread analysis of the same seeded study, one analysis runs at a time per study (later requests share
 * it, or one fresh analysis of the changed study), and a worker that fails or stops gives its requester an
 * error naming the study and why while the studio goes on serving.
 */
import { appendFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { seededRandom } from '../../src/eval/stats.js';
import type { RunningServer } from '../../src/server/listen.js';
import { PRESETS } from '../../src/steering/presets.js';
import { analyzeStudy } from '../../src/studio/analysis.js';
import { raterToken } from '../../src/studio/rater-token.js';
import { startStudioServer } from '../../src/studio/server.js';
import { openStudyStore, type StudyStore } from '../../src/studio/study.js';
import { AnalysisError, createStudyAnalyses } from '../../src/studio/study-analyses.js';
import { waitFor } from '../support/wait-for.js';

const TOKEN = 'analysis-off-thread-token';
const SECRET = 'analysis-off-thread-secret';
const RATERS = 4;
const ITEMS = 60;

let root: string;
let store: StudyStore | undefined;
let studio: RunningServer | undefined;
/** Gates a test holds; opened after each test, so that no worker stays blocked on one. */
const gates: Int32Array[] = [];

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'gtalign-analysis-thread-'));
});
afterEach(async () => {
  for (const gate of gates.splice(0)) open(gate);
  await studio?.close();
  studio = undefined;
  await store?.close();
  store = undefined;
  await rm(root, { recursive: true, force: true });
});

/** A gate for the analysis worker (analysis-worker.ts): closed until `open`. */
function newGate(): Int32Array {
  const gate = new Int32Array(new SharedArrayBuffer(8));
  gates.push(gate);
  return gate;
}

function open(gate: Int32Array): void {
  Atomics.store(gate, 0, 1);
  Atomics.notify(gate, 0);
}

/** Resolves once `count` analyses have reached the gate. */
const started = (gate: Int32Array, count: number) => waitFor(() => Atomics.load(gate, 1) >= count);

/**
 * A study of two runs over ITEMS items, every rater's rating of each (seeded), some replies without W,
 * and ratings of an item no longer in the study; opened as the studio opens it.
 */
async function seededStudy(): Promise<{ store: StudyStore; id: string }> {
  const dir = join(root, 'studies');
  const setup = await openStudyStore(dir);
  const random = seededRandom(11);
  const actions = ['DA', 'CQ', 'AQ'];
  const study = await setup.create({
    name: 'seeded',
    arms: { A: { run: 'base', dir: '/runs/base' }, B: { run: 'steer', dir: '/runs/steer' } },
    items: Array.from({ length: ITEMS }, (_, i) => ({
      id: `row-${i}`,
      data_source: 'math-hard',
      question: `Question ${i}?`,
      replies: { A: `A to ${i}`, B: `B to ${i}` },
      W: { A: i % 7 === 0 ? null : random(), B: random() },
      actions: { A: actions[i % 3]!, B: i % 5 === 0 ? null : actions[(i + 1) % 3]! },
    })),
    seed: 5,
  });
  await setup.close();
  const lines: string[] = [];
  for (let r = 0; r < RATERS; r++)
    for (const item of [...study.items.map((i) => i.id), 'row-removed']) {
      const score = () => 1 + Math.floor(random() * 5);
      lines.push(
        JSON.stringify({
          rater: `rater-${r}`,
          item,
          left: random() < 0.5 ? 'A' : 'B',
          satisfaction: { A: score(), B: score() },
          preference: (['A', 'B', 'tie'] as const)[Math.floor(random() * 3)],
          comment: '',
          at: '2026-01-01T00:00:00.000Z',
        }),
      );
    }
  await appendFile(join(dir, study.id, 'ratings.jsonl'), `${lines.join('\n')}\n`);
  store = await openStudyStore(dir);
  return { store, id: study.id };
}

async function startStudio(
  studies: StudyStore,
  extra: Parameters<typeof startStudioServer>[0] | object = {},
) {
  studio = await startStudioServer({
    runs: [],
    studies,
    backend: 'none',
    policy: PRESETS.none,
    rule: 'product',
    token: TOKEN,
    raterSecret: SECRET,
    port: 0,
    log: () => undefined,
    ...extra,
  });
  return studio;
}

/** What the tests read of the studio's answers: a rater's plan, an analysis, or an error. */
interface Answer {
  items: unknown[];
  done: unknown[];
  test: { method: string };
  error: { message: string };
}

async function get(path: string, token = TOKEN): Promise<{ status: number; json: Answer }> {
  const res = await fetch(`${studio!.url}${path}`, { headers: { authorization: `Bearer ${token}` } });
  return { status: res.status, json: (await res.json()) as Answer };
}

describe('the study analysis off the server thread', () => {
  it('answers a rater while an analysis is in progress, and the analysis equals the in-thread one', async () => {
    const { store, id } = await seededStudy();
    const gate = newGate();
    await startStudio(store, { analysisGate: gate });
    let answered = false;
    const analysis = get(`/api/analysis?id=${id}`).then((r) => {
      answered = true;
      return r;
    });
    // The analysis holds at the gate, in its worker: the rater's page is answered meanwhile.
    await started(gate, 1);
    const rater = await get(`/api/rater?id=${id}&rater=rater-1`, raterToken(SECRET, id, 'rater-1'));
    expect(rater.status).toBe(200);
    expect(rater.json.items).toHaveLength(ITEMS);
    expect(rater.json.done).toHaveLength(ITEMS);
    expect(answered).toBe(false);
    open(gate);
    const { status, json } = await analysis;
    expect(status).toBe(200);
    const inThread = analyzeStudy(store.get(id), store.ratings(id));
    expect(json).toEqual({
      ...JSON.parse(JSON.stringify(inThread)),
      kind: 'runs',
      arms: { A: 'base', B: 'steer' },
    });
    expect(json).toMatchObject({ ratings: RATERS * ITEMS, ratingsOfRemovedItems: RATERS, raters: RATERS });
    expect(json.test.method).toBe('monte-carlo');
  });

  it('runs at most maxWorkers analyses at once across studies; the others wait their turn', async () => {
    const { store, id } = await seededStudy();
    const other = await store.create({
      name: 'second',
      arms: { A: { run: 'base', dir: '/runs/base' }, B: { run: 'steer', dir: '/runs/steer' } },
      items: [
        {
          id: 'only',
          data_source: 'math-hard',
          question: 'Q?',
          replies: { A: 'a', B: 'b' },
          W: { A: 0.5, B: 0.5 },
          actions: { A: 'DA', B: 'CQ' },
        },
      ],
      seed: 3,
    });
    const gate = newGate();
    const analyses = createStudyAnalyses(store, { gate, maxWorkers: 1 });
    try {
      const first = analyses.analyze(id);
      const second = analyses.analyze(other.id);
      await started(gate, 1);
      // The second study's analysis has no worker yet: it waits for the first's.
      expect(analyses.running).toBe(1);
      open(gate);
      const [a, b] = await Promise.all([first, second]);
      expect(a.ratings).toBe(RATERS * ITEMS);
      expect(b.ratings).toBe(0);
      expect(Atomics.load(gate, 1)).toBe(2);
    } finally {
      await analyses.close();
    }
  });

  it('runs one analysis at a time per study: a request shares the one in progress, and after a change one fresh analysis follows', async () => {
    const { store, id } = await seededStudy();
    const gate = newGate();
    const analyses = createStudyAnalyses(store, { gate });
    try {
      const first = analyses.analyze(id);
      const same = analyses.analyze(id);
      await started(gate, 1);
      // A rating stored while the analysis runs: later requests must see it, the running one cannot.
      const { stored } = await store.rate(id, {
        rater: 'rater-new',
        item: 'row-0',
        left: 'A',
        satisfaction: { A: 5, B: 1 },
        preference: 'A',
        comment: '',
      });
      expect(stored).toBe(true);
      const fresh = analyses.analyze(id);
      const freshToo = analyses.analyze(id);
      open(gate);
      const [a, b, c, d] = await Promise.all([first, same, fresh, freshToo]);
      expect(b).toBe(a);
      expect(d).toBe(c);
      expect(a.ratings).toBe(RATERS * ITEMS);
      expect(c.ratings).toBe(RATERS * ITEMS + 1);
      expect(c).toEqual(analyzeStudy(store.get(id), store.ratings(id)));
      // Two workers in all; an unchanged study is served the kept result.
      expect(Atomics.load(gate, 1)).toBe(2);
      expect(await analyses.analyze(id)).toBe(c);
      expect(Atomics.load(gate, 1)).toBe(2);
    } finally {
      await analyses.close();
    }
  });

  it('stops an analysis in progress when the studio stops, telling its request so', async () => {
    const { store, id } = await seededStudy();
    const gate = newGate();
    const analyses = createStudyAnalyses(store, { gate });
    const pending = analyses.analyze(id);
    await started(gate, 1);
    const told = expect(pending).rejects.toThrow(
      new AnalysisError(`the analysis of study ${id} was stopped: the studio is stopping`),
    );
    await analyses.close();
    await told;
    await expect(analyses.analyze(id)).rejects.toThrow(
      new AnalysisError(`the analysis of study ${id} was not started: the studio is stopping`),
    );
  });

  for (const [how, reason] of [
    ['throw', 'failed: the statistics ran out of memory (simulated)'],
    ['exit', 'stopped (exit code 3) before it finished'],
  ] as const)
    it(`a worker that fails (${how}) gives its requester an error naming the study and why, and the studio goes on serving`, async () => {
      const { store, id } = await seededStudy();
      const logged: string[] = [];
      await startStudio(store, {
        analysisWorker: new URL(`./failing-analysis-worker.ts?${how}`, import.meta.url),
        log: (line: string) => logged.push(line),
      });
      for (let i = 0; i < 2; i++) {
        const res = await get(`/api/analysis?id=${id}`);
        expect(res.status).toBe(500);
        expect(res.json.error.message).toBe(`the analysis of study ${id} ${reason}`);
        expect((await get(`/api/rater?id=${id}&rater=rater-0`)).status).toBe(200);
      }
      expect(logged).toEqual([
        `studio: the analysis of study ${id} ${reason}`,
        `studio: the analysis of study ${id} ${reason}`,
      ]);
    });
});
