/**
 * `gtalign ARGS…` run inside the test's own process: `main` from src/cli/dispatch.ts with in-memory
 * standard streams, the same result as `runCli` (test/support/cli.ts) without starting a Node process
 * (about half a second of CPU each). For tests about what a command does, not about being a process:
 * signals, pipes, EPIPE, stdin left open, exit statuses of the process itself and anything that serves
 * until a signal keep `runCli`.
 *
 * No `cwd` option: commands resolve relative paths against the process's folder, which a test must not
 * change (vitest runs many files in one process). Give absolute paths, or use `runCli` with `cwd`.
 */
import { resolve } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { main } from '../../src/cli/dispatch.js';
import { type CliResult, REPO_ROOT } from './cli.js';

/** A stream that keeps what is written to it, like the pipe a parent reads a child's output from. */
function collector(): { stream: Writable; text(): string } {
  const chunks: Buffer[] = [];
  const stream = new Writable({
    write(chunk: Buffer | string, encoding, callback) {
      chunks.push(typeof chunk === 'string' ? Buffer.from(chunk, encoding) : Buffer.from(chunk));
      callback();
    },
  });
  return { stream, text: () => Buffer.concat(chunks).toString('utf8') };
}

/**
 * Runs the CLI in this process with `stdin` as its whole input (empty by default), as `runCli` does;
 * `tty` makes its standard output and error look like a terminal.
 */
export async function runCliInProcess(
  args: string[],
  options: { stdin?: string; env?: NodeJS.ProcessEnv; tty?: boolean } = {},
): Promise<CliResult> {
  if ('cwd' in options) {
    throw new Error('runCliInProcess: no cwd in-process (the process folder is shared); use runCli');
  }
  // runCli runs in the repository; relative paths of the tests (examples/…) mean the same here only then.
  if (resolve(process.cwd()) !== resolve(REPO_ROOT)) {
    throw new Error(`runCliInProcess: the tests run in ${process.cwd()}, not in the repository ${REPO_ROOT}`);
  }
  const input = options.stdin ?? '';
  const stdout = collector();
  const stderr = collector();
  // `tty`: standard output and error say they are a terminal (`isTTY`), as a user's shell gives them.
  if (options.tty === true) {
    for (const c of [stdout, stderr]) Object.defineProperty(c.stream, 'isTTY', { value: true });
  }
  const ctx = {
    env: { ...process.env, ...options.env },
    cwd: process.cwd(),
    // A byte stream (not object mode), in one chunk, as a pipe delivers a short input; empty: just its end.
    stdin: Readable.from(input === '' ? [] : [Buffer.from(input)], { objectMode: false }),
    stdout: stdout.stream,
    stderr: stderr.stream,
  };
  let code: number;
  try {
    code = await main(args, ctx);
  } catch (err) {
    // What the entry point (src/cli/main.ts) does with an error no command turned into an exit code.
    const text = err instanceof Error ? (err.stack ?? err.message) : String(err);
    stderr.stream.write(`gtalign: internal error: ${text}\n`);
    code = 70;
  }
  return { code, stdout: stdout.text(), stderr: stderr.text() };
}
