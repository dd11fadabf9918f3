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

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    globalSetup: ['test/support/temp-root.ts'],
  },
});
