import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defineConfig } from 'vitest/config';

// One temporary folder for the whole run, set before any worker starts so that every `os.tmpdir()` of
// the tests (and of the CLI processes they spawn) lands in it; test/support/temp-root.ts removes it.
if (process.env.GTALIGN_TEST_TMP === undefined) {
  const root = mkdtempSync(join(tmpdir(), 'gtalign-test-'));
  process.env.GTALIGN_TEST_TMP = root;
  process.env.TMPDIR = root;
}

const ALL = 'test/**/*.test.ts';
// Files that replace modules (vi.doMock, vi.resetModules) get a fresh module graph of their own.
const OWN_MODULES = ['test/llm/local.test.ts', 'test/data/load-unreadable.test.ts'];

// A test's time limit catches a hang, not slowness: at load 10 (a compile beside the suite, 2026-12-08) the
// longest tests took 10–15 s, half of the 30 s limit then, so the limit is twice that. expect.poll waits as
// long as a test may (its default, 1 s, is a timing bet a loaded machine can lose).
const common = { testTimeout: 60_000, expect: { poll: { timeout: 55_000 } } };

export default defineConfig({
  test: {
    // One worker per core (vitest's default leaves one core idle). The suite is CPU-bound, mostly in the
    // CLI processes and servers the tests start, so more workers than cores only slow each test down.
    maxWorkers: '100%',
    // temp-root first: the CLI bundle is built inside the folder it names. Set here, on the root, they
    // run once per run (a project's own globalSetup would run once per project).
    globalSetup: ['test/support/temp-root.ts', 'test/support/cli-bundle.ts'],
    projects: [
      {
        // A worker runs its files in one module graph: importing src/ once per worker instead of once per
        // file is most of a small file's cost. No test file changes globals it does not restore.
        test: { ...common, name: 'shared', include: [ALL], exclude: OWN_MODULES, isolate: false },
      },
      { test: { ...common, name: 'own-modules', include: OWN_MODULES } },
    ],
  },
});
