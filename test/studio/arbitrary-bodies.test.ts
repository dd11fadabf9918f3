/**
 * Any JSON body on every POST route of the studio's API (in process, the server `gtalign studio` starts):
 * arbitrary JSON values, and valid requests with one value anywhere in them replaced by an arbitrary one,
 * deleted, or joined by an unknown key. Raters' browsers send `/api/live-turn` and `/api/rate`, so these
 * bodies are untrusted. The backend is a SCRIPTED loopback server (scripted-upstream.ts) that answers every
 * well-formed turn.
 *
 * Shown: no body makes an internal error (no 500, nothing logged as one); every refusal is JSON with an
 * `error.message`; a valid request is answered afterwards. Seeded, so a failure reproduces.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../src/server/listen.js';
import { PRESETS } from '../../src/steering/presets.js';
import { createPlayground } from '../../src/studio/playground.js';
import { startStudioServer } from '../../src/studio/server.js';
import { openStudyStore, type StudyStore } from '../../src/studio/study.js';
import { dinosaurScript, QUESTION } from '../server/scripted-upstream.js';
import { bodies, type Json } from '../support/json-mutations.js';
import { type OpenAIStubServer, startOpenAIStubServer, stubModel } from '../support/openai-stub-server.js';

const TOKEN = 'studio-fuzz-token';
let upstream: OpenAIStubServer;
let studio: RunningServer;
let studies: StudyStore;
let root: string;
const logged: string[] = [];

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'gtalign-studio-fuzz-'));
  upstream = await startOpenAIStubServer(dinosaurScript());
  studies = await openStudyStore(join(root, 'studies'));
  const model = stubModel(upstream);
  studio = await startStudioServer({
    runs: [],
    studies,
    playground: createPlayground(async () => model, {}),
    backend: 'scripted',
    policy: PRESETS.none,
    rule: 'product',
    token: TOKEN,
    port: 0,
    log: (line) => logged.push(line),
  });
});
afterAll(async () => {
  await studio?.close();
  await studies?.close();
  await upstream?.close();
  if (root !== undefined) await rm(root, { recursive: true, force: true });
});

/** Posts `body` to the API; checks the answer is no internal error and a refusal says what is wrong. */
async function post(path: string, body: Json): Promise<{ status: number; text: string }> {
  const res = await fetch(`${studio.url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  const where = `${path} with ${JSON.stringify(body).slice(0, 300)}: ${res.status} ${text.slice(0, 300)}`;
  expect(res.status, where).not.toBe(500);
  if (res.status >= 400) {
    const error = (JSON.parse(text) as { error?: { message?: unknown } }).error;
    expect(typeof error?.message === 'string' && error.message.length > 0, where).toBe(true);
  }
  return { status: res.status, text };
}

/** Fuzzes one route; `path` may change per call (a fresh rater each time). */
async function fuzz(path: () => string, valid: Json, numRuns: number): Promise<void> {
  expect((await post(path(), valid)).status).toBeLessThan(300);
  const seen = new Map<number, number>();
  await fc.assert(
    fc.asyncProperty(bodies(valid), async (body) => {
      const { status } = await post(path(), body);
      seen.set(status, (seen.get(status) ?? 0) + 1);
    }),
    { numRuns, seed: 20261207, endOnFailure: true },
  );
  const ok = [...seen].filter(([s]) => s < 300).reduce((n, [, c]) => n + c, 0);
  expect(ok, JSON.stringify([...seen])).toBeGreaterThan(0);
  expect(seen.get(400) ?? 0, JSON.stringify([...seen])).toBeGreaterThan(0);
  expect((await post(path(), valid)).status).toBeLessThan(300);
  expect(logged.filter((l) => /internal|Error:|\n\s+at /.test(l))).toEqual([]);
}

describe('any JSON body on the studio API', () => {
  it('POST /api/studies', async () => {
    await fuzz(
      () => '/api/studies',
      { name: 'fuzz', kind: 'live', policyA: 'api', policyB: 'none', seed: 3 },
      120,
    );
  });

  it('POST /api/stage1 and /api/stage2', async () => {
    await fuzz(
      () => '/api/stage1',
      {
        question: QUESTION,
        history: [
          { role: 'user', content: 'Hi' },
          { role: 'assistant', content: 'Hello' },
        ],
      },
      80,
    );
    const stage1 = await post('/api/stage1', { question: QUESTION });
    const id = /"id":"([^"]+)"/.exec(stage1.text)![1]!;
    await fuzz(() => '/api/stage2', { id, policy: 'api', rule: 'product' }, 80);
  });

  it('POST /api/live-turn and /api/rate, each call by a new rater', async () => {
    const created = await post('/api/studies', {
      name: 'live',
      kind: 'live',
      policyA: 'api',
      policyB: 'none',
    });
    const study = (JSON.parse(created.text) as { id: string }).id;
    let rater = 0;
    await fuzz(() => `/api/live-turn?id=${study}&rater=t${++rater}`, { message: QUESTION }, 80);
    // Each rating is of a turn its rater has just been given.
    const turnOf = async (name: string) => {
      const turn = await post(`/api/live-turn?id=${study}&rater=${name}`, { message: QUESTION });
      return (JSON.parse(turn.text) as { item: string }).item;
    };
    const first = await turnOf('r0');
    const valid = { item: first, satisfaction1: 4, satisfaction2: 2, preference: 1, comment: 'fine' };
    expect((await post(`/api/rate?id=${study}&rater=r0`, valid)).status).toBe(200);
    // Each call by a rater with a turn of their own: the valid body's item swapped for theirs, then changed.
    const seen = new Map<number, number>();
    let next = 0;
    await fc.assert(
      fc.asyncProperty(bodies(valid), async (body) => {
        const name = `r${++next}`;
        const item = await turnOf(name);
        const own = JSON.parse(JSON.stringify(body).replaceAll(first, item)) as Json;
        const { status } = await post(`/api/rate?id=${study}&rater=${name}`, own);
        seen.set(status, (seen.get(status) ?? 0) + 1);
      }),
      { numRuns: 80, seed: 20261207, endOnFailure: true },
    );
    expect(seen.get(200) ?? 0, JSON.stringify([...seen])).toBeGreaterThan(0);
    expect(seen.get(400) ?? 0, JSON.stringify([...seen])).toBeGreaterThan(0);
    // A refusal names its field as the error's param too.
    const item = await turnOf('p1');
    const refused = await post(`/api/rate?id=${study}&rater=p1`, { ...valid, item, satisfaction2: 9 });
    expect(JSON.parse(refused.text)).toMatchObject({ error: { param: 'satisfaction2' } });
    const noMessage = await post(`/api/live-turn?id=${study}&rater=p2`, { message: '' });
    expect(JSON.parse(noMessage.text)).toMatchObject({ error: { param: 'message' } });
    expect(logged.filter((l) => /internal|Error:|\n\s+at /.test(l))).toEqual([]);
  });
});
