/**
 * What the machine refuses (an output path through a file, a directory where a file should go, a full
 * disk) ends a command with one line naming the file and the reason, exit status 1: not "internal error"
 * and a stack trace, which would say the bug is gtalign's.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { describeFsFailure } from '../../src/cli/fs-failure.js';
import { runCliInProcess } from '../support/cli-in-process.js';

let dir: string;
let rows: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gtalign-fs-failures-'));
  rows = join(dir, 'rows.jsonl');
  const row = {
    id: 'a',
    data_source: 'math-hard',
    prompt: [{ role: 'user', content: 'q' }],
    ground_truth: '1',
  };
  await writeFile(rows, `${JSON.stringify(row)}\n`);
  await writeFile(join(dir, 'a-file'), 'x');
});

describe('file system failures', () => {
  it('an output that is a directory, or under a file, is one line naming it', async () => {
    const cases: Array<[string[], RegExp]> = [
      [
        ['data', 'export', '--format', 'jsonl', '--out', dir, rows],
        /^gtalign data export: cannot write .+: it is a directory \(EISDIR\)\n$/,
      ],
      [
        ['data', 'export', '--format', 'jsonl', '--out', join(dir, 'a-file', 'x.jsonl'), rows],
        /^gtalign data export: cannot write .*a-file: something that is not a directory is already there \(EEXIST\)\n$/,
      ],
      [
        ['models', 'tiny', '--dir', join(dir, 'a-file')],
        /^gtalign models tiny: cannot write .*a-file: something that is not a directory is already there \(EEXIST\)\n$/,
      ],
    ];
    for (const [args, message] of cases) {
      const r = await runCliInProcess(args);
      expect(r.stderr, args.join(' ')).toMatch(message);
      expect(r.code, args.join(' ')).toBe(1);
    }
  });

  it('names the file a write went to, and tells reading from writing', () => {
    const fail = (fields: Record<string, unknown>) => Object.assign(new Error('x'), fields);
    expect(describeFsFailure(fail({ code: 'ENOSPC', syscall: 'write', path: '/out/a.jsonl' }))).toBe(
      'cannot write /out/a.jsonl: no space left on the device (ENOSPC)',
    );
    // A rename's destination is the user's file; its source a temporary one.
    expect(
      describeFsFailure(fail({ code: 'EISDIR', syscall: 'rename', path: '/out/.a.tmp', dest: '/out/a' })),
    ).toBe('cannot write /out/a: it is a directory (EISDIR)');
    expect(describeFsFailure(fail({ code: 'EACCES', syscall: 'scandir', path: '/runs' }))).toBe(
      'cannot read /runs: permission denied (EACCES)',
    );
    // Not a file operation, or one without a file: still a bug to report.
    expect(describeFsFailure(fail({ code: 'ENOSPC', syscall: 'write' }))).toBeUndefined();
    expect(describeFsFailure(fail({ code: 'ECONNRESET', syscall: 'read', path: '/x' }))).toBeUndefined();
    expect(describeFsFailure(new TypeError('x'))).toBeUndefined();
  });
});
