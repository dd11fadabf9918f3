/**
 * `gtalign demo`, the demo for a user who installed the package: the same run as `npm run demo`, here on
 * the tiny random-weights model it generates (an empty model cache, no GTALIGN_MODEL).
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runCliInProcess } from '../support/cli-in-process.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gtalign-democmd-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

it('answers under the four policies on a generated tiny model and says so', {
  timeout: 120_000,
}, async () => {
  const cache = join(dir, 'cache');
  const r = await runCliInProcess(['demo'], { env: { XDG_CACHE_HOME: cache, GTALIGN_MODEL: '' } });
  expect(r.code, r.stderr).toBe(0);
  expect(r.stdout).toContain('No local model found');
  expect(r.stdout).toMatch(
    /Summary: subscription → \w\w_\w\w, api → \w\w_\w\w, paper-api → \w\w_\w\w, paper-subscription → \w\w_\w\w\./,
  );
  // The generated model is not left in the cache (it is made in a folder of its own and removed).
  expect(await readdir(cache).catch(() => [])).toEqual([]);
});

it('refuses an argument', async () => {
  const r = await runCliInProcess(['demo', 'extra']);
  expect(r.code).toBe(2);
  expect(r.stderr).toContain("unexpected argument 'extra'");
});
