import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readFailureReason } from '../../src/io/read-failure.js';

/** The error `readFile` gives for `path`. */
async function readError(path: string): Promise<unknown> {
  return readFile(path).then(
    () => undefined,
    (err: unknown) => err,
  );
}

describe('readFailureReason: the words of every "cannot read FILE: …" message', () => {
  it('says what a user can act on for the system refusals, and the message of any other error', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gtalign-read-failure-'));
    try {
      expect(readFailureReason(await readError(join(dir, 'missing.jsonl')))).toBe('no such file');
      expect(readFailureReason(await readError(dir))).toBe('is a directory');
      const denied = Object.assign(new Error("EACCES: permission denied, open 'x'"), { code: 'EACCES' });
      expect(readFailureReason(denied)).toBe('permission denied (EACCES)');
      expect(readFailureReason(new Error('the footer is not parquet'))).toBe('the footer is not parquet');
      expect(readFailureReason('a string thrown')).toBe('a string thrown');
      expect(readFailureReason(undefined)).toBe('undefined');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
