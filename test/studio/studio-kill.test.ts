/**
 * Durability of study ratings: the studio process (the real CLI) is killed with SIGKILL while raters are
 * answering; after a restart on the same --study-dir every acknowledged rating is in the export, once,
 * with the values sent, and rating goes on (a torn last line, never acknowledged, is cut off).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { apiCall, makeRuns, N_ROWS, row, type Studio, startStudio } from './helpers.js';

let root: string | undefined;
const started: Studio[] = [];
afterAll(async () => {
  for (const s of started) await s.stop();
  if (root !== undefined) await rm(root, { recursive: true, force: true });
});

const answer = (rater: number, i: number) => ({
  item: row(i).id,
  satisfaction1: 1 + ((rater + i) % 5),
  satisfaction2: 1 + ((rater * 3 + i) % 5),
  preference: (rater + i) % 3 === 0 ? 'tie' : 1 + ((rater + i) % 2),
});

describe('gtalign studio under SIGKILL', () => {
  it('keeps every acknowledged rating across a kill -9 and a restart', async () => {
    root = await mkdtemp(join(tmpdir(), 'gtalign-studio-kill-'));
    const runs = await makeRuns(root);
    const args = [runs.a, runs.b, '--study-dir', join(root, 'studies')];
    const first = await startStudio(args);
    started.push(first);
    const made = await apiCall<{ id: string }>(first, '/api/studies', {
      name: 'kill test',
      runA: 0,
      runB: 1,
      seed: 7,
    });
    expect(made.status).toBe(201);
    const id = made.json.id;

    // 6 raters answer all items, 3 requests in flight at a time; the process is killed after 12 acks.
    const jobs: { rater: number; i: number }[] = [];
    for (let rater = 0; rater < 6; rater++) for (let i = 0; i < N_ROWS; i++) jobs.push({ rater, i });
    const acked = new Map<string, ReturnType<typeof answer>>();
    let killed = false;
    const worker = async () => {
      for (let job = jobs.shift(); job !== undefined && !killed; job = jobs.shift()) {
        const body = answer(job.rater, job.i);
        try {
          const res = await apiCall<{ stored: boolean }>(
            first,
            `/api/rate?id=${id}&rater=r${job.rater}`,
            body,
          );
          if (res.status === 200) acked.set(`r${job.rater}/${body.item}`, body);
        } catch {
          // the connection died with the process: not acknowledged
        }
        if (acked.size >= 12 && !killed) {
          killed = true;
          first.child.kill('SIGKILL');
        }
      }
    };
    await Promise.all([worker(), worker(), worker()]);
    await new Promise<void>((resolve) => {
      if (first.child.exitCode !== null || first.child.signalCode !== null) resolve();
      else first.child.once('exit', () => resolve());
    });
    expect(first.child.signalCode).toBe('SIGKILL');
    expect(acked.size).toBeGreaterThanOrEqual(12);

    const second = await startStudio(args);
    started.push(second);
    const exported = async () =>
      (
        await (
          await fetch(`${second.base}/api/export?id=${id}&format=jsonl`, {
            headers: { authorization: `Bearer ${second.token}` },
          })
        ).text()
      )
        .trim()
        .split('\n')
        .filter((l) => l !== '')
        .map(
          (l) =>
            JSON.parse(l) as {
              rater: string;
              item: string;
              left: 'A' | 'B';
              satisfaction_A: number;
              satisfaction_B: number;
              preference: string;
            },
        );
    const rows = await exported();
    expect(new Set(rows.map((r) => `${r.rater}/${r.item}`)).size).toBe(rows.length);
    for (const [key, body] of acked) {
      const r = rows.find((x) => `${x.rater}/${x.item}` === key);
      expect(r, `acknowledged rating ${key} is missing after the restart`).toBeDefined();
      const left = r!.left;
      const right = left === 'A' ? 'B' : 'A';
      const sat = { [left]: body.satisfaction1, [right]: body.satisfaction2 } as { A: number; B: number };
      expect([r!.satisfaction_A, r!.satisfaction_B]).toEqual([sat.A, sat.B]);
      expect(r!.preference).toBe(body.preference === 'tie' ? 'tie' : body.preference === 1 ? left : right);
    }
    // Rating goes on after the restart; a repeated answer is not stored twice.
    const again = [...acked.keys()][0]!.split('/');
    const repeat = await apiCall<{ stored: boolean }>(
      second,
      `/api/rate?id=${id}&rater=${again[0]}`,
      acked.get(again.join('/'))!,
    );
    expect(repeat).toMatchObject({ status: 200, json: { stored: false } });
    const fresh = await apiCall<{ stored: boolean }>(second, `/api/rate?id=${id}&rater=late`, answer(9, 0));
    expect(fresh).toMatchObject({ status: 200, json: { stored: true } });
    expect((await exported()).length).toBe(rows.length + 1);
  }, 60_000);
});
