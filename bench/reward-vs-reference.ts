/**
 * `gtalign reward score --judge offline` against the reference's own Python reward, side by side in one
 * run: both score the same ~21,000-row corpus (the 280 parity cases repeated 75 times with unique ids,
 * ~82 MB of JSONL) as whole processes, and a one-row run of each is subtracted, so start-up does not count.
 * Rounds alternate which goes first; the median of each figure is reported, in wall time and in CPU time
 * (user + system of the process and its threads: the fairer figure on a busy machine).
 *
 * The reference runs through ../shared/perf/reference-reward/ref_score.py (a measuring instrument, see its
 * README) with Debian's /usr/bin/python3 and its python3-nltk, python3-sklearn and python3-requests. When it
 * cannot run, gtalign's absolute figures are printed with the reason.
 *
 * A second, larger corpus (BENCH_LARGE_FACTOR times the rows, default 4) gives each side's marginal rate:
 * the rows the larger run scores beyond the smaller one over the time they add. That is the rate once
 * gtalign's two scorers are warm (each JIT-compiles the scoring code on its own, ~0.3 s of CPU, on the same
 * two cores), the rate a corpus of a million rows sees; the goal's figure stays the ~21,000-row one.
 *
 * Environment: GTALIGN_REFERENCE_REWARD (the reference folder), GTALIGN_BENCH_CLI (the gtalign main.js to
 * time, default dist/cli/main.js), BENCH_ROUNDS (default 3), BENCH_REPEAT (copies of the parity cases,
 * default 75), BENCH_LARGE_FACTOR (default 4; 0 leaves the larger corpus out).
 */

import { spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fmt } from './util.js';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const GOAL = 10;
const STRETCH = 15;

interface Timing {
  wall: number;
  cpu: number;
}

/** Runs a command as a whole process; wall and CPU seconds (the shell's `times` of its children). */
function timeProcess(argv: readonly string[], cwd: string): Timing {
  const start = performance.now();
  const r = spawnSync('sh', ['-c', '"$@" >/dev/null 2>"$ERR_FILE"; s=$?; times; exit $s', 'sh', ...argv], {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, ERR_FILE: join(cwd, 'stderr.txt') },
  });
  const wall = (performance.now() - start) / 1000;
  if (r.status !== 0) {
    const err = existsSync(join(cwd, 'stderr.txt')) ? readFileSync(join(cwd, 'stderr.txt'), 'utf8') : '';
    throw new Error(`${argv.join(' ')} failed (${r.status ?? r.signal}): ${err.slice(-800)}`);
  }
  // `times` prints the shell's own times, then its children's: "0m3.210s 0m0.420s".
  const line = r.stdout.trim().split('\n').at(-1) ?? '';
  const secs = [...line.matchAll(/(\d+)m([\d.]+)s/g)].map((m) => Number(m[1]) * 60 + Number(m[2]));
  if (secs.length !== 2) throw new Error(`cannot read the CPU times from ${JSON.stringify(r.stdout)}`);
  return { wall, cpu: secs[0]! + secs[1]! };
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** The corpus (and, when `largeFactor` > 1, the larger one) and a one-row file in `dir`; returns the row counts. */
function buildCorpus(dir: string, repeat: number, largeFactor: number): { rows: number; largeRows: number } {
  const cases = readFileSync(join(REPO, 'test/fixtures/reward-parity.jsonl'), 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  const copies = (from: number, to: number): string => {
    const rows: string[] = [];
    for (let r = from; r < to; r++)
      for (const c of cases) rows.push(`${JSON.stringify({ ...c, id: `${c.id}#${r}` })}\n`);
    return rows.join('');
  };
  const corpus = copies(0, repeat);
  writeFileSync(join(dir, 'corpus.jsonl'), corpus);
  writeFileSync(join(dir, 'one.jsonl'), corpus.slice(0, corpus.indexOf('\n') + 1));
  if (largeFactor > 1) {
    // Written in pieces of one corpus each, so the larger file never sits in memory as one string.
    writeFileSync(join(dir, 'large.jsonl'), corpus);
    for (let k = 1; k < largeFactor; k++)
      appendFileSync(join(dir, 'large.jsonl'), copies(k * repeat, (k + 1) * repeat));
  }
  return { rows: repeat * cases.length, largeRows: largeFactor * repeat * cases.length };
}

/** Why the reference cannot run here, or undefined when it can. */
function referenceProblem(refDir: string): string | undefined {
  if (!existsSync(join(refDir, 'ref_score.py'))) return `no ref_score.py in ${refDir}`;
  if (!existsSync('/usr/bin/python3')) return 'no /usr/bin/python3';
  const probe = spawnSync('/usr/bin/python3', ['-c', 'import nltk, sklearn, requests'], { encoding: 'utf8' });
  if (probe.status !== 0)
    return `/usr/bin/python3 lacks nltk, sklearn or requests (apt-get install python3-nltk python3-sklearn python3-requests): ${probe.stderr.trim().split('\n').at(-1)}`;
  return undefined;
}

interface Side {
  name: string;
  command: (input: string, output: string) => string[];
  corpus: Timing[];
  one: Timing[];
  large: Timing[];
}

export async function runRewardVsReferenceBench(): Promise<void> {
  const rounds = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 3));
  const repeat = Math.max(1, Number(process.env.BENCH_REPEAT ?? 75));
  const largeFactor = Math.max(0, Math.floor(Number(process.env.BENCH_LARGE_FACTOR ?? 4)));
  const refDir = process.env.GTALIGN_REFERENCE_REWARD ?? join(REPO, '../shared/perf/reference-reward');
  const built = process.env.GTALIGN_BENCH_CLI ?? join(REPO, 'dist/cli/main.js');
  const gtalign = existsSync(built)
    ? [process.execPath, built]
    : [process.execPath, '--import', 'tsx', join(REPO, 'src/cli/main.ts')];
  const dir = mkdtempSync(join(tmpdir(), 'gtalign-reward-bench-'));
  try {
    const { rows, largeRows } = buildCorpus(dir, repeat, largeFactor);
    const mb = readFileSync(join(dir, 'corpus.jsonl')).length / 1e6;
    const problem = referenceProblem(refDir);
    const load = loadavg().map((x) => x.toFixed(2));
    console.log(
      `reward/ gtalign reward score --judge offline vs the reference's Python reward: ${rows} rows (${mb.toFixed(1)} MB), ` +
        `${rounds} round(s), one-row runs subtracted` +
        (largeFactor > 1 ? `, and a corpus of ${largeRows} rows for the marginal rate` : '') +
        `; load average ${load.join(' ')}`,
    );
    console.log(`  gtalign: ${existsSync(built) ? built : 'src/ through tsx (no dist/: npm run build)'}`);
    const sides: Side[] = [
      {
        name: 'gtalign',
        command: (i, o) => [
          ...gtalign,
          'reward',
          'score',
          '--judge',
          'offline',
          '--clip-verdicts',
          '--input',
          i,
          '--output',
          o,
        ],
        corpus: [],
        one: [],
        large: [],
      },
    ];
    if (problem === undefined)
      sides.push({
        name: 'reference',
        command: (i, o) => ['/usr/bin/python3', join(refDir, 'ref_score.py'), refDir, i, o],
        corpus: [],
        one: [],
        large: [],
      });
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 === 0 ? sides : [...sides].reverse();
      for (const side of order) {
        side.one.push(timeProcess(side.command('one.jsonl', `${side.name}-one.out`), dir));
        side.corpus.push(timeProcess(side.command('corpus.jsonl', `${side.name}.out`), dir));
        if (largeFactor > 1)
          side.large.push(timeProcess(side.command('large.jsonl', `${side.name}-large.out`), dir));
      }
    }
    const rates = (side: Side) => {
      const wall = median(side.corpus.map((t, i) => t.wall - side.one[i]!.wall));
      const cpu = median(side.corpus.map((t, i) => t.cpu - side.one[i]!.cpu));
      return { wall: rows / wall, cpu: rows / cpu, start: median(side.one.map((t) => t.wall)) };
    };
    // Rows per second that the larger corpus adds beyond the smaller one (start-up and warm-up cancel).
    const marginal = (side: Side) => {
      const wall = median(side.large.map((t, i) => t.wall - side.corpus[i]!.wall));
      const cpu = median(side.large.map((t, i) => t.cpu - side.corpus[i]!.cpu));
      return { wall: (largeRows - rows) / wall, cpu: (largeRows - rows) / cpu };
    };
    const warm = largeFactor > 1;
    for (const side of sides) {
      const r = rates(side);
      console.log(
        `  ${side.name.padEnd(9)} ${fmt(r.wall).padStart(8)} rows/s wall, ${fmt(r.cpu).padStart(8)} rows per CPU-second` +
          ` (one-row run ${r.start.toFixed(2)} s wall)`,
      );
      if (warm) {
        const m = marginal(side);
        console.log(
          `  ${''.padEnd(9)} ${fmt(m.wall).padStart(8)} rows/s wall, ${fmt(m.cpu).padStart(8)} rows per CPU-second` +
            ` marginal, from ${rows} to ${largeRows} rows`,
        );
      }
    }
    if (problem !== undefined) {
      console.log(
        `  reference not run: ${problem}; goal ≥ ${GOAL}× the reference (about 2,500 rows/s on 2 cores)`,
      );
      return;
    }
    const g = rates(sides[0]!);
    const ref = rates(sides[1]!);
    const wallRatio = g.wall / ref.wall;
    console.log(
      `  ratio ${wallRatio.toFixed(1)}× wall (goal ≥ ${GOAL}×, stretch ${STRETCH}×: ${wallRatio >= GOAL ? 'met' : 'not met'}),` +
        ` ${(g.cpu / ref.cpu).toFixed(1)}× per CPU-second; load average after ${loadavg()
          .map((x) => x.toFixed(2))
          .join(' ')}`,
    );
    if (warm) {
      const g2 = marginal(sides[0]!);
      const ref2 = marginal(sides[1]!);
      console.log(
        `  marginal ratio ${(g2.wall / ref2.wall).toFixed(1)}× wall, ${(g2.cpu / ref2.cpu).toFixed(1)}× per CPU-second` +
          ` (the rate once both of gtalign's scorers are warm; not the goal's figure)`,
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await runRewardVsReferenceBench();
