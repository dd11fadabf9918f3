/**
 * `npm run demo` stopped with ctrl-c during a turn removes the tiny model it generated in the temporary
 * folder and exits 130, instead of dying with the model left behind.
 */
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../support/cli.js';
import { waitFor } from '../support/wait-for.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gtalign-ctrl-c-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('npm run demo and ctrl-c', () => {
  it('stops, removes the generated model and exits 130', { timeout: 60_000 }, async () => {
    const temp = join(dir, 'tmp');
    await mkdir(temp);
    const child = spawn(process.execPath, ['--import', 'tsx', join('src', 'cli', 'demo.ts')], {
      cwd: REPO_ROOT,
      // Its own temporary folder (where the demo generates the model), no model in the cache.
      env: { ...process.env, TMPDIR: temp, XDG_CACHE_HOME: join(dir, 'cache'), GTALIGN_MODEL: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      err += d;
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    // The first of four turns is under way.
    await waitFor(() => out.includes('=== policy subscription'), 40_000);
    expect((await readdir(temp)).filter((n) => n.startsWith('gtalign-demo-'))).toHaveLength(1);
    child.kill('SIGINT');
    expect(await exited).toBe(130);
    expect(err).toContain('demo interrupted');
    expect(out).not.toContain('Summary:');
    // (tsx keeps its own cache there too.)
    expect((await readdir(temp)).filter((n) => n.startsWith('gtalign-demo-'))).toEqual([]);
  });
});
