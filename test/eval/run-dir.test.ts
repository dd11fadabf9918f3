import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { computeMetrics } from '../../src/eval/metrics.js';
import {
  parseResults,
  parseSweep,
  RunDirError,
  readRunDir,
  uniqueNames,
  writeMetrics,
} from '../../src/eval/run-dir.js';
import { rec } from './helpers.js';

const line = (x: unknown): string => `${JSON.stringify(x)}\n`;

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'gtalign-rundir-'));
});

describe('parseResults', () => {
  it('reads valid records, numeric ids as strings, and keeps unknown fields', () => {
    const r = { ...rec('a', 'math-hard', { u: 0.5, l: 0.5 }), trace: { stage: 1 } };
    const text = line(r) + line({ ...rec('b', 'math-hard', 'error'), id: 7 });
    const out = parseResults(text);
    expect(out.problems).toEqual([]);
    expect(out.records.map((x) => x.id)).toEqual(['a', '7']);
    expect(out.records[0]!.trace).toEqual({ stage: 1 });
  });

  it('names the line and the field of every bad record', () => {
    const good = rec('a', 'math-hard', { u: 0.5, l: 0.5 });
    const badReward = { ...good, id: 'b', reward: { ...good.reward, user_reward: 'high' } };
    const noResponse = { ...good, id: 'c', response: undefined };
    const text = `${line(good)}\n{not json\n${line(badReward)}${line(noResponse)}${line({ ...good })}`;
    const out = parseResults(text, 'run/results.jsonl');
    expect(out.records.map((x) => x.id)).toEqual(['a']);
    expect(out.problems.map((p) => p.line)).toEqual([3, 4, 5, 6]);
    expect(out.problems[0]!.message).toMatch(/not valid JSON/);
    expect(out.problems[1]!.message).toMatch(/reward/);
    expect(out.problems[2]!.message).toMatch(/response/);
    expect(out.problems[3]!.message).toMatch(/duplicate id "a" \(first at line 1\)/);
    expect(out.problems[0]!.file).toBe('run/results.jsonl');
  });

  it("takes a conversation's superseding line as its record, in the place of the first", () => {
    // A conversation's record: a `conversation` summary (persona, per-turn rewards).
    const summary = (U: number | null) => ({
      persona: 'cooperative',
      per_turn: [{ turn: 1, action: 'CQ', U, L: U, W: U }],
    });
    const failed = { ...rec('c~cooperative', 'ambig_qa', 'error'), conversation: summary(null) };
    const rejudged = {
      ...rec('c~cooperative', 'ambig_qa', { u: 0.5, l: 0.5 }),
      conversation: summary(0.5),
      supersedes: true,
    };
    const other = { ...rec('d~cooperative', 'ambig_qa', { u: 0.2, l: 0.2 }), conversation: summary(0.2) };
    const out = parseResults(line(failed) + line(other) + line(rejudged));
    expect(out.problems).toEqual([]);
    expect(out.records).toEqual([rejudged, other]);

    // Without the marker a second line is a duplicate, as before…
    const unmarked = parseResults(line(failed) + line({ ...rejudged, supersedes: undefined }));
    expect(unmarked.problems.map((p) => [p.line, p.message])).toEqual([
      [2, 'duplicate id "c~cooperative" (first at line 1)'],
    ]);
    // …and a single-turn line does not supersede a conversation's record.
    const single = { ...rec('c~cooperative', 'ambig_qa', { u: 0.5, l: 0.5 }), supersedes: true };
    const mixed = parseResults(line(failed) + line(single));
    expect(mixed.records).toEqual([failed]);
    expect(mixed.problems.map((p) => [p.line, p.message])).toEqual([
      [
        2,
        `duplicate id "c~cooperative" (first at line 1): "supersedes" replaces a record of the same kind, and a single-turn record follows a conversation's record`,
      ],
    ]);
  });

  it('takes a single-turn superseding line of the same output as its record; any other second line stays a problem', () => {
    const failed = rec('a', 'math-hard', 'error', { response: '<response>42</response>' });
    const rejudged = {
      ...failed,
      reward: rec('a', 'math-hard', { u: 0.5, l: 0.5 }).reward,
      supersedes: true,
    };
    const other = rec('b', 'math-hard', { u: 0.2, l: 0.2 });
    const out = parseResults(line(failed) + line(other) + line(rejudged));
    expect(out.problems).toEqual([]);
    expect(out.records).toEqual([rejudged, other]);

    // Unmarked: a duplicate.
    const unmarked = parseResults(line(failed) + line({ ...rejudged, supersedes: undefined }));
    expect(unmarked.records).toEqual([failed]);
    expect(unmarked.problems.map((p) => [p.line, p.message])).toEqual([
      [2, 'duplicate id "a" (first at line 1)'],
    ]);
    // Another output: not the record scored again.
    const otherOutput = parseResults(line(failed) + line({ ...rejudged, response: 'something else' }));
    expect(otherOutput.records).toEqual([failed]);
    expect(otherOutput.problems).toHaveLength(1);
    expect(otherOutput.problems[0]!.message).toMatch(
      /^duplicate id "a" \(first at line 1\): "supersedes" replaces a single-turn record with the same output scored again/,
    );
    // A conversation's record does not supersede a single-turn record.
    const conversation = {
      ...rejudged,
      conversation: { persona: 'cooperative', per_turn: [{ turn: 1, action: 'DA', U: 1, L: 1, W: 1 }] },
    };
    const mixed = parseResults(line(failed) + line(conversation));
    expect(mixed.records).toEqual([failed]);
    expect(mixed.problems[0]!.message).toMatch(/a conversation's record follows a single-turn record$/);
    // Another row's data: not the same row judged again.
    const otherRow = parseResults(line(failed) + line({ ...rejudged, data_source: 'minerva' }));
    expect(otherRow.records).toEqual([failed]);
    expect(otherRow.problems[0]!.message).toMatch(/a record of the same row, and the "data_source" differs$/);
    const otherTruth = parseResults(line(failed) + line({ ...rejudged, ground_truth: 'other' }));
    expect(otherTruth.problems[0]!.message).toMatch(/and the "ground_truth" differs$/);
    // A superseding line with nothing before it replaces nothing.
    const orphan = parseResults(line(other) + line(rejudged));
    expect(orphan.records).toEqual([other]);
    expect(orphan.problems.map((p) => [p.line, p.message])).toEqual([
      [2, '"supersedes" on the first line of id "a": there is no earlier record to replace'],
    ]);
  });

  it('skips an interrupted last line with a warning, but not a bad line in the middle', () => {
    const good = line(rec('a', 'math-hard', { u: 0.5, l: 0.5 }));
    const cut = good.slice(0, 40);
    const tail = parseResults(good + cut);
    expect(tail.problems).toEqual([]);
    expect(tail.records).toHaveLength(1);
    expect(tail.warnings[0]).toMatch(/:2: incomplete last line/);
    const middle = parseResults(`${cut}\n${good}`);
    expect(middle.problems).toHaveLength(1);
    expect(middle.problems[0]!.line).toBe(1);
  });
});

describe('readRunDir / writeMetrics', () => {
  it('reads results and config, names the run after config.name, writes metrics.json', async () => {
    const dir = join(root, 'run1');
    await mkdir(dir);
    const records = [rec('a', 'math-hard', { u: 0.5, l: 0.5 }), rec('b', 'medium', 'error')];
    await writeFile(join(dir, 'results.jsonl'), records.map(line).join(''));
    await writeFile(join(dir, 'config.json'), JSON.stringify({ name: 'baseline' }));
    const run = await readRunDir(dir);
    expect(run.name).toBe('baseline');
    expect(run.records).toEqual(records);
    const metrics = computeMetrics(run.records);
    const path = await writeMetrics(dir, metrics);
    expect(JSON.parse(await readFile(path, 'utf8'))).toEqual(metrics);
  });

  it('fails on a folder without results.jsonl, and on bad lines with file:line', async () => {
    await expect(readRunDir(join(root, 'nope'))).rejects.toThrow(/results\.jsonl: no such file/);
    const dir = join(root, 'bad');
    await mkdir(dir);
    await writeFile(join(dir, 'results.jsonl'), '{"id": 1}\n');
    const err = await readRunDir(dir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RunDirError);
    expect((err as RunDirError).message).toMatch(/results\.jsonl:1: not a run record/);
  });

  it('refuses a results.jsonl byte that is not UTF-8, naming the line, instead of reading U+FFFD', async () => {
    const dir = join(root, 'damaged-byte');
    await mkdir(dir);
    const good = line(rec('a', 'math-hard', { u: 0.5, l: 0.5 }));
    const damaged = Buffer.from(line(rec('b', 'math-hard', { u: 0.5, l: 0.5 })));
    damaged[damaged.indexOf('"b"') + 1] = 0xff;
    await writeFile(join(dir, 'results.jsonl'), Buffer.concat([Buffer.from(good), damaged]));
    const err = await readRunDir(dir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RunDirError);
    expect((err as Error).message).toMatch(
      /results\.jsonl:2: not valid UTF-8: byte \d+ of the line \(0xFF\)/,
    );
    // A last line a live run is writing may end inside a character: read as torn, as before.
    const torn = Buffer.from(line(rec('c', 'math-hard', { u: 0.5, l: 0.5 }, { response: 'día' })));
    const cut = torn.subarray(0, torn.indexOf(Buffer.from('í')) + 1);
    await writeFile(join(dir, 'results.jsonl'), Buffer.concat([Buffer.from(good), cut]));
    const run = await readRunDir(dir);
    expect(run.records.map((r) => r.id)).toEqual(['a']);
  });

  it('refuses a folder another gtalign version wrote, naming config.json and its schema', async () => {
    const dir = join(root, 'future');
    await mkdir(dir);
    await writeFile(join(dir, 'results.jsonl'), line(rec('a', 'math-hard', { u: 0.5, l: 0.5 })));
    await writeFile(join(dir, 'config.json'), JSON.stringify({ schema: 'gtalign.run/2', name: 'x' }));
    const err = await readRunDir(dir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RunDirError);
    expect((err as Error).message).toContain(join(dir, 'config.json'));
    expect((err as Error).message).toMatch(/"schema" is "gtalign\.run\/2".*another gtalign version/);
  });

  it('accepts a sweep folder with sweep.json only, and validates sweep.json', async () => {
    const dir = join(root, 'sweep');
    await mkdir(dir);
    const metrics = computeMetrics([rec('a', 'math-hard', { u: 0.5, l: 0.5 })]);
    await writeFile(
      join(dir, 'sweep.json'),
      JSON.stringify({ param: 'price', points: [{ value: 1, metrics }] }),
    );
    const run = await readRunDir(dir);
    expect(run.records).toEqual([]);
    expect(run.sweep?.param).toBe('price');
    expect(run.sweep?.points[0]?.metrics.overall.welfare).toBe(0.5);
    expect(() => parseSweep({ param: 'price', points: [{ value: 'x', metrics }] })).toThrow(
      /points\.0\.value/,
    );
  });
});

describe('uniqueNames', () => {
  it('suffixes repeated names', () => {
    expect(uniqueNames(['a', 'b', 'a', 'a'])).toEqual(['a', 'b', 'a#2', 'a#3']);
    expect(uniqueNames(['a', 'a#2', 'a'])).toEqual(['a', 'a#2', 'a#3']);
  });
});
