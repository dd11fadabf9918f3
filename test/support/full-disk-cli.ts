import { runCli } from './cli.js';

/**
 * `gtalign ARGS…` in a child process whose disk is full under files whose name starts with `file`: they
 * get `free` bytes in all (test/support/full-disk.mjs, preloaded).
 */
export function runCliOnFullDisk(args: string[], file: string, free: number) {
  const preload = new URL('./full-disk.mjs', import.meta.url);
  return runCli(args, {
    env: {
      NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import=${preload.href}`,
      GTALIGN_TEST_FULL_DISK: JSON.stringify({ file, free }),
    },
  });
}
