/**
 * A writer killed before its rename leaves its temporary file beside the target; the next write of the
 * same target removes it once its process is gone, and touches nothing else.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeEach, describe, expect, it } from 'vitest';
import { writeAtomic } from '../../src/io/atomic-file.js';
import { writeFileAtomic } from '../../src/io/checked-write.js';
import { removeStaleTemps } from '../../src/io/stale-temps.js';
import { runCliInProcess } from '../support/cli-in-process.js';

const ATOMIC_FILE = fileURLToPath(new URL('../../src/io/atomic-file.ts', import.meta.url));

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gtalign-stale-'));
});

/** The pid of a process that has run and exited. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', '0']);
  return child.pid ?? 0;
}

/**
 * A real writer killed with SIGKILL in the middle of an atomic write of `path`: it has written part of
 * its file and says so before the kill, so the kill never races the write.
 */
async function killedMidWrite(path: string): Promise<void> {
  const script = `
    const { openAtomic } = await import(${JSON.stringify(ATOMIC_FILE)});
    const file = await openAtomic(${JSON.stringify(path)});
    await file.write('x'.repeat(3 << 20));
    process.stdout.write('writing\\n');
    setInterval(() => {}, 1000);
  `;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    child.stdout.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`the writer exited (${code}) before writing`)));
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

describe('temporary files of killed writers', () => {
  it('a write of the target removes what a writer killed mid-write left beside it', async () => {
    const path = join(dir, 'export.jsonl');
    await writeFile(path, 'old\n');
    await killedMidWrite(path);
    const left = (await readdir(dir)).filter((n) => n.endsWith('.tmp'));
    expect(left).toHaveLength(1);
    expect(await readFile(path, 'utf8')).toBe('old\n');
    await writeAtomic(path, 'new\n');
    expect(await readdir(dir)).toEqual(['export.jsonl']);
    expect(await readFile(path, 'utf8')).toBe('new\n');
  });

  it("removes only the target's own temporary files, of processes that are gone", async () => {
    const dead = deadPid();
    const alive = process.ppid;
    const names = [
      `.metrics.json.${dead}.0a1b2c3d.tmp`, // an atomic file's, of a dead process: removed
      `metrics.json.${dead}.0a1b2c3d.tmp`, // a small file's (checked-write.ts), dead: removed
      `.metrics.json.${alive}.0a1b2c3d.tmp`, // a writer still running: kept
      `.other.json.${dead}.0a1b2c3d.tmp`, // another target's: kept
      `.metrics.json.${dead}.notahex!.tmp`, // not the shape: kept
      `.metrics.json.${dead}.0a1b2c3d.tmp.bak`, // not the shape: kept
      `xmetrics.json.${dead}.0a1b2c3d.tmp`, // another name ending like it: kept
    ];
    for (const n of names) await writeFile(join(dir, n), 'partial');
    await writeFileAtomic(join(dir, 'metrics.json'), '{}\n');
    expect((await readdir(dir)).sort()).toEqual(['metrics.json', ...names.slice(2)].sort());
  });

  it('a keyed store writing one file per key leaves them (no listing of its folder at every write)', async () => {
    const left = `.resp_1.json.${deadPid()}.0a1b2c3d.tmp`;
    await writeFile(join(dir, left), 'partial');
    await writeAtomic(join(dir, 'resp_1.json'), '{}', undefined, { keepStaleTemps: true });
    expect((await readdir(dir)).sort()).toEqual([left, 'resp_1.json'].sort());
  });

  it('this process keeps its own, and a target in a folder that is not there removes nothing', async () => {
    const own = `.a.txt.${process.pid}.0a1b2c3d.tmp`;
    await writeFile(join(dir, own), 'in progress');
    expect(await removeStaleTemps(join(dir, 'a.txt'))).toEqual([]);
    expect(await readdir(dir)).toEqual([own]);
    expect(await removeStaleTemps(join(dir, 'missing', 'a.txt'))).toEqual([]);
  });

  it('gtalign data export cleans up after an earlier export of the same file that was killed', async () => {
    const src = join(dir, 'rows.jsonl');
    await writeFile(
      src,
      `${JSON.stringify({ data_source: 'medium', prompt: [{ role: 'user', content: 'hi' }], reward_model: { ground_truth: 'x', style: 'rule' }, extra_info: { index: 0 } })}\n`,
    );
    const out = join(dir, 'out.jsonl');
    const left = `.out.jsonl.${deadPid()}.0a1b2c3d.tmp`;
    await writeFile(join(dir, left), 'half an export');
    const r = await runCliInProcess(['data', 'export', '--format', 'jsonl', '--out', out, src]);
    expect(r.code, r.stderr).toBe(0);
    expect((await readdir(dir)).sort()).toEqual(['out.jsonl', 'rows.jsonl']);
  });
});
