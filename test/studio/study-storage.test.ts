/**
 * The study store when the file system fails: a failed rating does not block the next once the disk is
 * freed (unless its partial line could not be cut back), a study whose logs cannot be read or repaired is
 * left out with a warning instead of stopping the studio, a ratings line that is JSON but not a rating is
 * named, and a study that cannot be created says why and leaves no folder behind.
 */
import { appendFile, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type FileOps, nodeFileOps } from '../../src/io/file-ops.js';
import { openStudyStore, parseAnswer, type StudyFile, type StudyStore } from '../../src/studio/study.js';
import { type Fault, faultyFs, systemError } from '../support/faulty-fs.js';

let root: string;
let dir: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'gtalign-study-storage-'));
  dir = join(root, 'studies');
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

const ITEMS = ['q1', 'q2', 'q3'];

function createStudy(store: StudyStore, name = 'storage'): Promise<StudyFile> {
  return store.create({
    name,
    arms: { A: { run: 'run-a', dir: '/runs/a' }, B: { run: 'run-b', dir: '/runs/b' } },
    items: ITEMS.map((id) => ({
      id,
      data_source: 'math-hard',
      question: `Question ${id}?`,
      replies: { A: `A's reply to ${id}`, B: `B's reply to ${id}` },
      W: { A: 0.5, B: 0.6 },
    })),
    seed: 7,
  });
}

const answer = (study: StudyFile, rater: string, item: string) =>
  parseAnswer(study, rater, {
    item,
    satisfaction1: 3,
    satisfaction2: 4,
    preference: 1,
    comment: 'x'.repeat(500),
  });

/** A study of three items, made and closed with the real file system: the tests reopen it their way. */
async function setUp(): Promise<StudyFile> {
  const setup = await openStudyStore(dir);
  const study = await createStudy(setup);
  await setup.close();
  return study;
}

const lines = async (path: string) =>
  (await readFile(path, 'utf8').catch(() => ''))
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l));

describe('a rating that could not be written', () => {
  const failures: Array<[string, Fault[], string]> = [
    [
      'half its line written, then a full disk',
      [
        { on: 'write', index: 0, kind: 'short' },
        { on: 'write', index: 1, kind: 'ENOSPC' },
      ],
      'no space left on the device (ENOSPC)',
    ],
    [
      'its whole line written, then the sync failed',
      [{ on: 'sync', index: 0, kind: 'EIO' }],
      'an input/output error (EIO)',
    ],
  ];
  it.each(failures)('(%s) is cut back off, and the next rating is stored', async (_, faults, reason) => {
    const study = await setUp();
    const log = join(dir, study.id, 'ratings.jsonl');
    // Only the first append fails: the disk has room again (or works again) after it.
    const fs = faultyFs(faults);
    const store = await openStudyStore(dir, fs);
    const error = await store.rate(study.id, answer(study, 'r1', 'q1')).catch((e) => e);
    expect(error).toMatchObject({ name: 'StudyError', status: 500 });
    expect(error.message).toBe(`cannot write ${log}: ${reason}`);
    expect(fs.fired).toEqual(faults);
    expect(await readFile(log, 'utf8')).toBe('');
    expect(store.ratings(study.id)).toEqual([]);

    // The same answer sent again, then another: both stored, without a restart.
    expect((await store.rate(study.id, answer(study, 'r1', 'q1'))).stored).toBe(true);
    expect((await store.rate(study.id, answer(study, 'r1', 'q2'))).stored).toBe(true);
    await store.close();
    expect((await lines(log)).map((r) => r.item)).toEqual(['q1', 'q2']);
    const again = await openStudyStore(dir);
    expect(again.ratings(study.id).map((r) => r.item)).toEqual(['q1', 'q2']);
    await again.close();
  });

  it('whose partial line could not be cut back blocks the log, says so, and a restart repairs it', async () => {
    const study = await setUp();
    const log = join(dir, study.id, 'ratings.jsonl');
    const fs = faultyFs([
      { on: 'write', index: 0, kind: 'short' },
      { on: 'write', index: 1, kind: 'ENOSPC' },
      { on: 'truncate', index: 0, kind: 'EIO' },
    ]);
    const store = await openStudyStore(dir, fs);
    const error = await store.rate(study.id, answer(study, 'r1', 'q1')).catch((e) => e);
    expect(error).toMatchObject({ name: 'StudyError', status: 500 });
    expect(error.message).toMatch(
      /^cannot write .*ratings\.jsonl: no space left on the device \(ENOSPC\); cutting its partial line back off failed too: an input\/output error \(EIO\); the log takes no more lines until the studio is restarted, which repairs it \(opening the log cuts off a torn last line\)$/,
    );
    // The torn half line is on disk: nothing more may be written after it.
    const torn = await readFile(log, 'utf8');
    expect(torn.length).toBeGreaterThan(0);
    expect(torn.endsWith('\n')).toBe(false);
    const writes = fs.counts.write;
    const refused = await store.rate(study.id, answer(study, 'r1', 'q2')).catch((e) => e);
    expect(refused).toMatchObject({ name: 'StudyError', status: 500 });
    expect(refused.message).toMatch(
      /^.*ratings\.jsonl: an earlier write failed: no space left on the device \(ENOSPC\); cutting its partial line back off failed too: an input\/output error \(EIO\); the log takes no more lines until the studio is restarted/,
    );
    expect(fs.counts.write).toBe(writes);
    expect(await readFile(log, 'utf8')).toBe(torn);
    await store.close();

    const restarted = await openStudyStore(dir);
    expect(await readFile(log, 'utf8')).toBe('');
    expect((await restarted.rate(study.id, answer(study, 'r1', 'q2'))).stored).toBe(true);
    await restarted.close();
    expect((await lines(log)).map((r) => r.item)).toEqual(['q2']);
  });
});

describe('a study whose ratings log cannot be read or repaired', () => {
  it('is left out with a warning naming the file and the reason; the others are served', async () => {
    const setup = await openStudyStore(dir);
    const good = await createStudy(setup, 'good');
    const torn = await createStudy(setup, 'torn');
    const unreadable = await createStudy(setup, 'unreadable');
    for (const s of [good, torn, unreadable]) await setup.rate(s.id, answer(s, 'r1', 'q1'));
    await setup.close();
    const tornLog = join(dir, torn.id, 'ratings.jsonl');
    await appendFile(tornLog, '{"rater":"r1","item":"q2","le');
    const before = await readFile(tornLog, 'utf8');
    // A copy of the studies its reader may not write (a read-only mount); one log not even readable.
    const fs: FileOps = {
      ...nodeFileOps,
      truncate: async (path) => {
        throw systemError('EROFS', 'open', path);
      },
      readFile: async (path) => {
        if (path === join(dir, unreadable.id, 'ratings.jsonl')) throw systemError('EIO', 'read', path);
        return nodeFileOps.readFile(path);
      },
    };
    const warnings: string[] = [];
    const store = await openStudyStore(dir, fs, (m) => warnings.push(m));
    expect(store.list().map((s) => s.id)).toEqual([good.id]);
    expect(store.ratings(good.id)).toHaveLength(1);
    expect(warnings.sort()).toEqual(
      [
        `study ${torn.id} left out: cannot cut the torn last line (a write a crash interrupted) off ${tornLog}: the file system is read-only (EROFS)`,
        `study ${unreadable.id} left out: cannot read ${join(dir, unreadable.id, 'ratings.jsonl')}: an input/output error (EIO)`,
      ].sort(),
    );
    expect(await readFile(tornLog, 'utf8')).toBe(before);
    await store.close();
  });
});

describe('a ratings line that is JSON but not a rating', () => {
  it('leaves its study out with a warning naming file:line and what is wrong', async () => {
    const setup = await openStudyStore(dir);
    const good = await createStudy(setup, 'good');
    await setup.rate(good.id, answer(good, 'r1', 'q1'));
    const { rating } = await setup.rate(good.id, answer(good, 'r1', 'q2'));
    const valid = JSON.parse(JSON.stringify(rating)) as Record<string, unknown>;
    const without = (field: string) => Object.fromEntries(Object.entries(valid).filter(([k]) => k !== field));
    const cases: Array<[unknown, string]> = [
      [null, 'not a JSON object'],
      [[], 'not a JSON object'],
      [{}, 'rater is not a rater id (1–64 letters, digits, "_", "." or "-")'],
      [{ ...valid, rater: 7 }, 'rater is not a rater id (1–64 letters, digits, "_", "." or "-")'],
      [{ ...valid, rater: 'a b' }, 'rater is not a rater id (1–64 letters, digits, "_", "." or "-")'],
      [without('item'), 'item is not a string'],
      [{ ...valid, left: 'C' }, 'left is not "A" or "B"'],
      [without('satisfaction'), 'satisfaction is not an object'],
      [{ ...valid, satisfaction: { A: 0, B: 3 } }, 'satisfaction.A is not a whole number from 1 to 5'],
      [{ ...valid, satisfaction: { A: 3, B: 2.5 } }, 'satisfaction.B is not a whole number from 1 to 5'],
      [{ ...valid, satisfaction: { A: 3, B: '4' } }, 'satisfaction.B is not a whole number from 1 to 5'],
      [{ ...valid, satisfaction: { A: 3 } }, 'satisfaction.B is not a whole number from 1 to 5'],
      [{ ...valid, preference: 1 }, 'preference is not "A", "B" or "tie"'],
      [{ ...valid, comment: null }, 'comment is not a string of at most 2000 characters'],
      [{ ...valid, comment: 'x'.repeat(2001) }, 'comment is not a string of at most 2000 characters'],
      [without('at'), 'at is not a string'],
    ];
    const expected: string[] = [];
    for (const [i, [line, problem]] of cases.entries()) {
      const s = await createStudy(setup, `bad ${i}`);
      await setup.rate(s.id, answer(s, 'r1', 'q1'));
      const log = join(dir, s.id, 'ratings.jsonl');
      await appendFile(log, `${JSON.stringify(line)}\n`);
      expected.push(`study ${s.id} left out: ${log}:2: not a rating: ${problem}`);
    }
    await setup.close();
    const warnings: string[] = [];
    const store = await openStudyStore(dir, undefined, (m) => warnings.push(m));
    expect(store.list().map((s) => s.id)).toEqual([good.id]);
    expect(store.ratings(good.id)).toHaveLength(2);
    expect(warnings.sort()).toEqual(expected.sort());
    await store.close();
  });
});

describe('a study that cannot be created', () => {
  const cases: Array<[string, (base: FileOps) => FileOps, RegExp]> = [
    [
      'on a full disk',
      (base) => faultyFs([{ on: 'write', index: 0, kind: 'ENOSPC' }], base),
      /^the study was not created: cannot write .*\/studies\/storage-[0-9a-f]{6}\/study\.json: no space left on the device \(ENOSPC\)$/,
    ],
    [
      'in a folder it cannot make',
      (base) => ({
        ...base,
        mkdir: async (path, options) => {
          if (path !== dir) throw systemError('EROFS', 'mkdir', path);
          return base.mkdir(path, options);
        },
      }),
      /^the study was not created: cannot write .*\/studies\/storage-[0-9a-f]{6}: the file system is read-only \(EROFS\)$/,
    ],
    [
      'whose study file cannot be read back',
      (base) => ({
        ...base,
        readFile: async (path) => {
          if (path.endsWith('study.json')) throw systemError('EIO', 'read', path);
          return base.readFile(path);
        },
      }),
      /^.*\/studies\/storage-[0-9a-f]{6}\/study\.json: EIO: i\/o error, read/,
    ],
  ];
  it.each(cases)(
    '%s says why, as a storage error, and leaves no folder behind',
    async (_, failing, message) => {
      const store = await openStudyStore(dir, failing(nodeFileOps));
      const error = await createStudy(store).catch((e) => e);
      expect(error).toMatchObject({
        name: 'StudyError',
        status: 500,
        message: expect.stringMatching(message),
      });
      expect(await readdir(dir)).toEqual([]);
      expect(store.list()).toEqual([]);
      await store.close();
    },
  );
});

describe('a study id drawn twice', () => {
  it('draws again rather than write over the study already in that folder', async () => {
    // The first folder the store tries to make is "there already" (another study of the same name drew
    // the same random id): its content must stay as it is, and the new study gets a folder of its own.
    let taken: string | undefined;
    const ops: FileOps = {
      ...nodeFileOps,
      mkdir: async (path, options) => {
        if (path !== dir && taken === undefined) {
          taken = path;
          throw systemError('EEXIST', 'mkdir', path);
        }
        return nodeFileOps.mkdir(path, options);
      },
    };
    const store = await openStudyStore(dir, ops);
    const study = await createStudy(store);
    expect(taken).toMatch(/storage-[0-9a-f]{6}$/);
    expect(join(dir, study.id)).not.toBe(taken);
    expect(await readdir(dir)).toEqual([study.id]);
    await store.close();
  });
});

describe('a ratings log edited by hand', () => {
  it('keeps a last line saved without its newline (a pilot rater’s lines removed by a script), and rating goes on after it', async () => {
    const study = await setUp();
    const first = await openStudyStore(dir);
    for (const [rater, item] of [
      ['pilot', 'q1'],
      ['r1', 'q1'],
      ['r1', 'q2'],
    ] as const)
      await first.rate(study.id, answer(study, rater, item));
    await first.close();
    const log = join(dir, study.id, 'ratings.jsonl');
    // The owner drops the pilot's ratings and writes the rest back, joined by newlines: none at the end.
    const kept = (await readFile(log, 'utf8')).split('\n').filter((l) => l !== '' && !l.includes('"pilot"'));
    await writeFile(log, kept.join('\n'));
    const store = await openStudyStore(dir);
    expect(store.ratings(study.id).map((r) => `${r.rater}/${r.item}`)).toEqual(['r1/q1', 'r1/q2']);
    // The rating already stored is not taken again; a new one goes on a line of its own.
    expect((await store.rate(study.id, answer(study, 'r1', 'q2'))).stored).toBe(false);
    expect((await store.rate(study.id, answer(study, 'r1', 'q3'))).stored).toBe(true);
    await store.close();
    expect((await lines(log)).map((r) => `${r.rater}/${r.item}`)).toEqual(['r1/q1', 'r1/q2', 'r1/q3']);
    const again = await openStudyStore(dir);
    expect(again.ratings(study.id)).toHaveLength(3);
    await again.close();
  });

  it('still cuts off a torn last line, which is never whole JSON', async () => {
    const study = await setUp();
    const first = await openStudyStore(dir);
    await first.rate(study.id, answer(study, 'r1', 'q1'));
    const { rating } = await first.rate(study.id, answer(study, 'r1', 'q2'));
    await first.close();
    const log = join(dir, study.id, 'ratings.jsonl');
    const whole = await readFile(log, 'utf8');
    const line = JSON.stringify(rating);
    // Every proper prefix of a line, as a crash may leave it.
    for (const cut of [1, Math.floor(line.length / 2), line.length - 1]) {
      await writeFile(log, `${whole}${line.slice(0, cut)}`);
      const store = await openStudyStore(dir);
      expect(store.ratings(study.id)).toHaveLength(2);
      await store.close();
      expect(await readFile(log, 'utf8')).toBe(whole);
    }
  });
});
