/**
 * How long a rater waits while the studio analyzes a large study: a study of 10 raters × 1000 items is
 * written to disk, `gtalign studio` is started on it as a process, one request asks for the study's
 * analysis and, while it runs, a rater's page (`/api/rater`) is asked for every 25 ms. Printed: the
 * analysis's own time, and the rater requests' wait (median and longest). Goal: the longest under 250 ms.
 *
 * Times the built CLI (dist/cli/main.js; `npm run build` first), or another build's CLI named by
 * BENCH_STUDIO_CLI (to compare with an older build).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { seededRandom } from '../src/random.js';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const RATERS = 10;
const ITEMS = 1000;
const GOAL_MS = 250;

/** Writes a study of two runs with every rater's rating of every item, seeded. */
function writeStudy(root: string): string {
  const id = 'bench-study';
  const dir = join(root, id);
  mkdirSync(dir, { recursive: true });
  const random = seededRandom(7);
  const actions = ['DA', 'CQ', 'AQ'];
  const items = Array.from({ length: ITEMS }, (_, i) => ({
    id: `row-${i}`,
    data_source: 'math-hard',
    question: `Question ${i}?`,
    replies: { A: `Reply A to ${i}.`, B: `Reply B to ${i}.` },
    W: { A: random(), B: random() },
    actions: { A: actions[i % 3]!, B: actions[(i + 1) % 3]! },
  }));
  const study = {
    schema: 'gtalign.study/1',
    id,
    name: 'bench',
    createdAt: '2026-01-01T00:00:00.000Z',
    seed: 1,
    arms: { A: { run: 'a', dir: 'a' }, B: { run: 'b', dir: 'b' } },
    items,
  };
  writeFileSync(join(dir, 'study.json'), JSON.stringify(study));
  const lines: string[] = [];
  for (let r = 0; r < RATERS; r++)
    for (const item of items) {
      const sat = () => 1 + Math.floor(random() * 5);
      const preference = (['A', 'B', 'tie'] as const)[Math.floor(random() * 3)]!;
      lines.push(
        JSON.stringify({
          rater: `rater-${r}`,
          item: item.id,
          left: 'A',
          satisfaction: { A: sat(), B: sat() },
          preference,
          comment: '',
          at: '2026-01-01T00:00:00.000Z',
        }),
      );
    }
  writeFileSync(join(dir, 'ratings.jsonl'), `${lines.join('\n')}\n`);
  return id;
}

function startStudio(
  cli: string,
  studyDir: string,
): Promise<{ child: ChildProcess; base: string; token: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, 'studio', '--port', '0', '--study-dir', studyDir], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      err += d;
      const m = /open (http:\/\/[^\s/]+)\/\?token=([0-9a-f]+)/.exec(err);
      if (m !== null) resolve({ child, base: m[1]!, token: m[2]! });
    });
    child.once('exit', (code) => reject(new Error(`studio exited (${code}) before listening: ${err}`)));
  });
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;

export async function runStudioAnalysisBench(): Promise<void> {
  const cli = process.env.BENCH_STUDIO_CLI ?? join(REPO, 'dist/cli/main.js');
  if (!existsSync(cli)) {
    console.log(`studio analysis: no ${cli} (run npm run build); not measured`);
    return;
  }
  const root = mkdtempSync(join(tmpdir(), 'gtalign-analysis-bench-'));
  try {
    const id = writeStudy(join(root, 'studies'));
    const s = await startStudio(cli, join(root, 'studies'));
    try {
      const headers = { authorization: `Bearer ${s.token}` };
      const get = async (path: string) => {
        const res = await fetch(`${s.base}${path}`, { headers });
        await res.arrayBuffer();
        if (res.status !== 200) throw new Error(`${path}: ${res.status}`);
      };
      await get(`/api/rater?id=${id}&rater=rater-0`);
      const started = performance.now();
      let analysisMs = Number.NaN;
      const analysis = get(`/api/analysis?id=${id}`).then(() => {
        analysisMs = performance.now() - started;
      });
      const waits: number[] = [];
      let done = false;
      void analysis.finally(() => {
        done = true;
      });
      while (!done) {
        const t = performance.now();
        await get(`/api/rater?id=${id}&rater=rater-1`);
        waits.push(performance.now() - t);
        await new Promise((r) => setTimeout(r, 25));
      }
      await analysis;
      const longest = Math.max(...waits);
      console.log(
        `studio analysis of ${RATERS} raters × ${ITEMS} items (${cli}, load ${loadavg()[0]!.toFixed(1)}): ` +
          `analysis ${analysisMs.toFixed(0)} ms; ${waits.length} rater requests meanwhile waited median ` +
          `${median(waits).toFixed(1)} ms, longest ${longest.toFixed(1)} ms (goal < ${GOAL_MS} ms: ${longest < GOAL_MS ? 'met' : 'not met'})`,
      );
    } finally {
      s.child.kill('SIGTERM');
      await new Promise((done) => s.child.once('exit', done));
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await runStudioAnalysisBench();
