/**
 * CLI start-up: `gtalign --help` and `gtalign game analyze FILE` (one game, so the figure is start-up,
 * not solving) as whole processes, against a bare `node -e 0` timed in the same rounds. Rounds alternate
 * the runs; the minimum wall time of each is reported (the least disturbed run: start-up has no
 * variance of its own, only the machine's), with the ratio to `node -e 0`. Goal: < 2.5×. Also timed,
 * with no goal: `gtalign reward score --judge offline` on one row (the start-up the reward bench
 * subtracts, and what a script that scores small files pays each time).
 *
 * Times the built CLI (dist/cli/main.js; `npm run build` first). BENCH_START_ROUNDS (default 15).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const GOAL = 2.5;

function wallMs(argv: readonly string[]): number {
  const start = performance.now();
  const r = spawnSync(argv[0]!, argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  const ms = performance.now() - start;
  if (r.status !== 0) throw new Error(`${argv.join(' ')} exited with ${r.status ?? r.signal}: ${r.stderr}`);
  return ms;
}

export async function runCliStartBench(): Promise<void> {
  const main = join(REPO, 'dist/cli/main.js');
  if (!existsSync(main)) {
    console.log('cli/ start-up: no dist/cli/main.js (run npm run build); not measured');
    return;
  }
  const rounds = Math.max(1, Number(process.env.BENCH_START_ROUNDS ?? 15));
  const dir = mkdtempSync(join(tmpdir(), 'gtalign-start-bench-'));
  try {
    const game = join(dir, 'game.jsonl');
    const firstGame = readFileSync(join(REPO, 'test/fixtures/games.jsonl'), 'utf8').split('\n')[0]!;
    writeFileSync(game, `${firstGame}\n`);
    const row = join(dir, 'row.jsonl');
    const firstRow = readFileSync(join(REPO, 'test/fixtures/reward-parity.jsonl'), 'utf8').split('\n')[0]!;
    writeFileSync(row, `${firstRow}\n`);
    const scored = join(dir, 'scored.jsonl');
    const runs: Array<{ name: string; argv: string[]; ms: number[]; goal?: false }> = [
      { name: 'node -e 0', argv: [process.execPath, '-e', '0'], ms: [] },
      { name: 'gtalign --help', argv: [process.execPath, main, '--help'], ms: [] },
      { name: 'gtalign game analyze FILE', argv: [process.execPath, main, 'game', 'analyze', game], ms: [] },
      {
        name: 'gtalign reward score (1 row)',
        argv: [
          process.execPath,
          main,
          'reward',
          'score',
          '--judge',
          'offline',
          '--input',
          row,
          '--output',
          scored,
        ],
        ms: [],
        goal: false,
      },
    ];
    const before = loadavg();
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 === 0 ? runs : [...runs].reverse();
      for (const run of order) run.ms.push(wallMs(run.argv));
    }
    const best = (run: (typeof runs)[number]) => Math.min(...run.ms);
    const base = best(runs[0]!);
    console.log(
      `cli/ start-up, best of ${rounds} alternating rounds (load average ${before.map((x) => x.toFixed(2)).join(' ')} before)`,
    );
    console.log(`  ${runs[0]!.name.padEnd(27)} ${base.toFixed(0).padStart(5)} ms`);
    for (const run of runs.slice(1)) {
      const ratio = best(run) / base;
      const verdict = run.goal === false ? 'no goal' : `goal < ${GOAL}×: ${ratio < GOAL ? 'met' : 'not met'}`;
      console.log(
        `  ${run.name.padEnd(27)} ${best(run).toFixed(0).padStart(5)} ms = ${ratio.toFixed(2)}× node -e 0 (${verdict})`,
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await runCliStartBench();
