/**
 * One studio per studies folder (real CLI processes): a second studio on the folder of a running one
 * (another port) refuses to start, naming the first, instead of serving ratings it would never see
 * again; the folder is free once the first stops, and also after it was killed with SIGKILL.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { LOCK_FILE } from '../../src/studio/folder-lock.js';
import { cliArgs, REPO_ROOT } from '../support/cli.js';
import { type Studio, startStudio } from './helpers.js';

let root: string | undefined;
const started: Studio[] = [];
afterAll(async () => {
  for (const s of started) await s.stop();
  if (root !== undefined) await rm(root, { recursive: true, force: true });
});

/** Runs `gtalign studio ARGS` expecting it to exit on its own; its exit code and stderr. */
function runToExit(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, cliArgs(['studio', '--port', '0', ...args]), {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
      // Listening means it did not refuse: stop it and fail below.
      if (stderr.includes('?token=')) child.kill('SIGTERM');
    });
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code, stderr }));
  });
}

const exited = (s: Studio) =>
  new Promise<void>((resolve) => {
    if (s.child.exitCode !== null || s.child.signalCode !== null) resolve();
    else s.child.once('exit', () => resolve());
  });

it('refuses a second studio on the folder of a running one; frees it on stop and after kill -9', async () => {
  root = await mkdtemp(join(tmpdir(), 'gtalign-studio-lock-'));
  const dir = join(root, 'studies');
  const first = await startStudio(['--study-dir', dir]);
  started.push(first);
  const second = await runToExit(['--study-dir', dir]);
  expect(second.code).toBe(1);
  expect(second.stderr).toContain(
    `another gtalign studio (process ${first.child.pid}) is using the studies folder ${dir}: stop it, or give this one another --study-dir`,
  );
  await first.stop();
  expect(existsSync(join(dir, LOCK_FILE))).toBe(false);

  const third = await startStudio(['--study-dir', dir]);
  started.push(third);
  third.child.kill('SIGKILL');
  await exited(third);
  expect(existsSync(join(dir, LOCK_FILE))).toBe(true);
  const fourth = await startStudio(['--study-dir', dir]);
  started.push(fourth);
  expect(fourth.stderr()).not.toContain('warning');
});
