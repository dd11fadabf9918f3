import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/**
 * The CLI as the tests run it: src/cli/main.ts bundled once per run by test/support/cli-bundle.ts (a
 * vitest global setup) into the run's temporary folder, which vitest.config.ts names before any worker starts.
 */
export function cliEntry(): string {
  const root = process.env.GTALIGN_TEST_TMP;
  if (root === undefined) {
    throw new Error('test/support/cli.ts: GTALIGN_TEST_TMP is not set; run the tests through vitest');
  }
  return join(root, 'cli', 'main.js');
}

/**
 * The arguments of `node` that run `gtalign ARGS…`: `spawn(process.execPath, cliArgs(['game', 'analyze', file]))`.
 * Source maps are not on (they cost every child start-up); NODE_OPTIONS=--enable-source-maps, which the
 * children inherit, makes their stack traces name the src/ files.
 */
export function cliArgs(args: readonly string[] = []): string[] {
  return [cliEntry(), ...args];
}

/** `gtalign` as a shell command line (quoted node and bundle), for tests that put the CLI in a pipeline. */
export function cliShellCommand(): string {
  return [process.execPath, ...cliArgs()].map((a) => `"${a}"`).join(' ');
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs the real CLI, built from the current source, in a child process, optionally feeding stdin. For a
 * test about what a command does rather than about the process (signals, pipes, stdin left open, worker
 * threads, a preload in NODE_OPTIONS), `runCliInProcess` (test/support/cli-in-process.ts) gives the same
 * result without the start of a Node process.
 */
export function runCli(
  args: string[],
  options: { stdin?: string; cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, cliArgs(args), {
      cwd: options.cwd ?? ROOT,
      env: { ...process.env, ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(options.stdin ?? '');
  });
}

export const REPO_ROOT = ROOT;
