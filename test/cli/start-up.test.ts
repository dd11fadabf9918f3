/**
 * CLI start-up loads only what the command needs: the main help loads no command module, and a light
 * command (`game analyze`) loads neither the schema library nor the data, server or engine packages.
 * (The start-up time itself is a benchmark figure: bench/cli-start.ts.)
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const MAIN = join(ROOT, 'src/cli/main.ts');
const HOOK = join(ROOT, 'test/support/record-imports.mjs');

/** Runs the CLI from source and returns the modules it resolved (paths under the repository, and packages). */
async function importsOf(args: string[]): Promise<{ code: number | null; modules: string[] }> {
  const log = join(await mkdtemp(join(tmpdir(), 'gtalign-imports-')), 'imports.txt');
  const code = await new Promise<number | null>((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--import', HOOK, MAIN, ...args], {
      cwd: ROOT,
      env: { ...process.env, GTALIGN_IMPORT_LOG: log },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    child.on('error', reject);
    child.on('close', resolve);
  });
  const urls = (await readFile(log, 'utf8')).split('\n').filter((u) => u.startsWith('file://'));
  const modules = urls.map((u) => fileURLToPath(u).slice(ROOT.length));
  return { code, modules };
}

const packageOf = (path: string) => /^node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path)?.[1];

describe('CLI start-up', () => {
  it('lists the commands without loading any of them', async () => {
    const { code, modules } = await importsOf(['--help']);
    expect(code).toBe(0);
    const ours = modules.filter((m) => m.startsWith('src/'));
    expect(ours.length).toBeGreaterThan(0);
    // The dispatcher's own modules only: the terminal guard is part of it (every command writes through it).
    const dispatcher = /(main|dispatch|commands|errors|command|terminal-stream|terminal-text)\.ts$/;
    expect(ours.filter((m) => m.startsWith('src/cli/') && !dispatcher.test(m))).toEqual([]);
    expect(new Set(modules.map(packageOf).filter((p) => p !== undefined && p !== 'tsx'))).toEqual(new Set());
  });

  it('runs game analyze without the schema library or the data, server and engine packages', async () => {
    const { code, modules } = await importsOf(['game', 'analyze', join(ROOT, 'test/fixtures/games.jsonl')]);
    expect(code).toBe(0);
    expect(modules).toContain('src/cli/game-analyze.ts');
    const packages = new Set(modules.map(packageOf).filter((p) => p !== undefined && p !== 'tsx'));
    expect([...packages]).toEqual([]);
    const heavy = ['src/server/reward.ts', 'src/server/proxy.ts', 'src/data/parquet.ts', 'src/llm/openai.ts'];
    expect(
      modules.filter((m) => heavy.includes(m) || /^src\/(llm|mcp|studio|sim|assistant)\//.test(m)),
    ).toEqual([]);
  });
});
