/**
 * The test suite's wall time: `vitest run` (what `npm test` runs after the build) as a whole process in
 * this checkout, against the goal of 3 minutes on a 2-core machine. It runs every test, so it takes
 * minutes and loads the machine: `npm run bench` runs it last. Prints the test counts vitest reports.
 */
import { spawnSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { stripVTControlCharacters } from 'node:util';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const GOAL_SECONDS = 180;

export async function runSuiteBench(): Promise<void> {
  const before = loadavg();
  const start = performance.now();
  const r = spawnSync(process.execPath, ['node_modules/vitest/vitest.mjs', 'run', '--reporter=dot'], {
    cwd: REPO,
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  const seconds = (performance.now() - start) / 1000;
  // The summary lines of vitest's reporter, without colours.
  const plain = stripVTControlCharacters(`${r.stdout}\n${r.stderr}`);
  const counts = plain
    .split('\n')
    .filter((l) => /^\s*(Test Files|Tests)\s/.test(l))
    .map((l) => l.trim().replace(/\s+/g, ' '));
  console.log(
    `suite/ vitest run: ${seconds.toFixed(0)} s wall (goal < ${GOAL_SECONDS} s: ${seconds < GOAL_SECONDS ? 'met' : 'not met'}), ` +
      `exit ${r.status ?? r.signal}; ${counts.join('; ')}; load average ${before.map((x) => x.toFixed(2)).join(' ')} before`,
  );
}

if (import.meta.url === `file://${process.argv[1]}`) await runSuiteBench();
