/**
 * Most CLI tests run `gtalign` in-process (test/support/cli-in-process.ts): that is only faithful while
 * the commands take their streams, environment and folder from their context and the in-process runner
 * gives what the executable gives. Both are checked here.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MATRIX } from '../server/scripted-upstream.js';
import { REPO_ROOT, runCli } from '../support/cli.js';
import { runCliInProcess } from '../support/cli-in-process.js';

describe('the CLI in-process', () => {
  it('gives the exit code, stdout and stderr of the real process', async () => {
    const matrix = JSON.stringify(MATRIX);
    const cases: Array<{ args: string[]; stdin?: string }> = [
      { args: [] },
      { args: ['--version'] },
      { args: ['no', 'such'] },
      { args: ['game', 'analyze', '--frobnicate'] },
      { args: ['game', 'analyze', '-', '--json'], stdin: `${matrix}\n{"id": 2}\n` },
    ];
    for (const c of cases) {
      const options = c.stdin === undefined ? {} : { stdin: c.stdin };
      const [real, inProcess] = await Promise.all([
        runCli(c.args, options),
        runCliInProcess(c.args, options),
      ]);
      expect(inProcess, c.args.join(' ')).toEqual(real);
    }
  });

  it('refuses a folder of its own (the process folder is shared by the test files)', async () => {
    await expect(runCliInProcess(['--version'], { cwd: '/' } as never)).rejects.toThrow(/no cwd in-process/);
  });

  it('reaches the standard streams, the environment and the folder only through the context', async () => {
    const dir = join(REPO_ROOT, 'src/cli');
    // The entry point owns the process; the demo is a script of its own, not a command.
    const allowed = new Set(['main.ts', 'dispatch.ts', 'demo.ts']);
    const offending: string[] = [];
    for (const name of (await readdir(dir)).filter((n) => n.endsWith('.ts') && !allowed.has(n))) {
      const lines = (await readFile(join(dir, name), 'utf8')).split('\n');
      lines.forEach((line, i) => {
        if (/process\.(stdout|stderr|stdin|cwd\(|env\b|exitCode)/.test(line)) {
          offending.push(`src/cli/${name}:${i + 1}: ${line.trim()}`);
        }
      });
    }
    expect(offending).toEqual([]);
  });
});
