/**
 * Vitest global setup: the suite's temporary files all live in one folder (made in vitest.config.ts
 * and handed to every worker and child process as TMPDIR), removed when the run ends, so that a run
 * leaves nothing in the system's temp folder even where a test forgets to clean up or fails midway.
 */
import { rmSync } from 'node:fs';

export default function setup(): () => void {
  return () => {
    const root = process.env.GTALIGN_TEST_TMP;
    if (root !== undefined) rmSync(root, { recursive: true, force: true });
  };
}
