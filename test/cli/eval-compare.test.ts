import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { compareRuns } from '../../src/eval/compare.js';
import type { RunRecord } from '../../src/eval/types.js';
import { rec } from '../eval/helpers.js';
import { runCliInProcess } from '../support/cli-in-process.js';

// Shared ids: m1 (B better on U), m2 (equal), w1 (incomparable); only in A: x; only in B: y.
const recordsA: RunRecord[] = [
  rec('m1', 'math-hard', { u: 0.5, l: 0.5, answer: 1 }),
  rec('m2', 'math-hard', { u: 0.2, l: 0.7, answer: 0 }),
  rec('w1', 'wildguard', { u: 0.4, l: 0.6, judge: 0.5 }, { ground_truth: 'harmful' }),
  rec('x', 'math-hard', { u: 0.9, l: 0.9 }),
];
const recordsB: RunRecord[] = [
  rec('m1', 'math-hard', { u: 0.7, l: 0.5, answer: 1 }),
  rec('m2', 'math-hard', { u: 0.2, l: 0.7, answer: 1 }),
  rec('w1', 'wildguard', { u: 0.6, l: 0.4, judge: 1 }, { ground_truth: 'harmful' }),
  rec('y', 'medium', { u: 0.1, l: 0.1 }),
];

let root: string;
async function writeRun(name: string, records: RunRecord[]): Promise<string> {
  const dir = join(root, name);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'results.jsonl'), records.map((r) => `${JSON.stringify(r)}\n`).join(''));
  return dir;
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'gtalign-compare-'));
  await writeRun('a', recordsA);
  await writeRun('b', recordsB);
  await writeRun('c', [rec('z', 'math-hard', { u: 1, l: 1 })]);
});

describe('gtalign eval compare', () => {
  it('prints the comparison as JSON, equal to compareRuns over the same runs, and writes --out', async () => {
    const out = join(root, 'cmp.json');
    const r = await runCliInProcess([
      'eval',
      'compare',
      join(root, 'a'),
      join(root, 'b'),
      '--json',
      '--out',
      out,
    ]);
    expect(r.code).toBe(0);
    const got = JSON.parse(r.stdout);
    const expected = compareRuns([
      { name: 'a', records: recordsA },
      { name: 'b', records: recordsB },
    ]);
    expect(got).toEqual(JSON.parse(JSON.stringify(expected)));
    expect(JSON.parse(await readFile(out, 'utf8'))).toEqual(got);
    const pair = got.pairs[0];
    expect(pair).toMatchObject({ a: 'a', b: 'b', shared: 3, only_a: 1, only_b: 1, excluded: 0 });
    expect(pair.pareto.overall.dominance).toEqual({ a_wins: 0, b_wins: 1, equal: 1, incomparable: 1 });
    expect(pair.deltas.overall.answer_score.delta).toBeCloseTo(1 / 3 + 0.5 / 3, 12); // (1+1+1)/3 − (1+0+0.5)/3
    expect(Object.keys(pair.pareto.by_source)).toEqual(['math-hard', 'wildguard']);
  });

  it('prints tables by default', async () => {
    const r = await runCliInProcess(['eval', 'compare', join(root, 'a'), join(root, 'b')]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('A = a, B = b: 3 shared items (1 only in A, 1 only in B)');
    expect(r.stdout).toMatch(/scope\s+items\s+A ≻ B\s+B ≻ A\s+equal\s+incomparable/);
    expect(r.stdout).toMatch(/overall\s+3\s+0\s+1\s+1\s+1\s/);
    expect(r.stdout).toMatch(/Metric deltas B − A/);
    // Three items cannot tell runs apart: every measure is reported with its n and judged within noise.
    expect(r.stdout).toMatch(/Is the difference more than noise\?/);
    expect(r.stdout).toMatch(/^W\s+\d+\s/m);
    expect(r.stdout).toMatch(/within noise|no items/);
    expect(r.stdout).toMatch(/2000 resamples, seed 1/);
  });

  it('says so when the runs were scored with another judge, reward weights or tokenizer', async () => {
    const scored = (judge: string, configId: string) => ({
      schema: 'gtalign.run/1',
      judge: { kind: 'live', model: judge },
      reward: { configId, config: {}, mathCheck: true },
      tokenizer: { name: 'cl100k_base' },
      generation: { policy: judge },
    });
    const a = await writeRun('scored-a', recordsA);
    const b = await writeRun('scored-b', recordsB);
    const same = await writeRun('scored-same', recordsB);
    await writeFile(join(a, 'config.json'), JSON.stringify(scored('Qwen3-32B', 'rc1-a')));
    await writeFile(join(b, 'config.json'), JSON.stringify(scored('gpt-judge', 'rc1-b')));
    // Another policy (what a comparison is for) and the same scoring: no note.
    await writeFile(join(same, 'config.json'), JSON.stringify(scored('Qwen3-32B', 'rc1-a')));
    const r = await runCliInProcess(['eval', 'compare', a, b]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(
      /note: A and B were scored differently \(config\.json: judge model "Qwen3-32B" vs "gpt-judge"; reward weights \(reward\.configId\) "rc1-a" vs "rc1-b"\)/,
    );
    const json = JSON.parse((await runCliInProcess(['eval', 'compare', a, b, '--json'])).stdout);
    expect(json.pairs[0].scoring_notes).toHaveLength(1);
    const alike = await runCliInProcess(['eval', 'compare', a, same]);
    expect(alike.stdout).not.toMatch(/scored differently/);
  });

  it("prints a run name's terminal control sequences as visible escapes", async () => {
    const dir = await writeRun('ansi', recordsA);
    await writeFile(join(dir, 'config.json'), JSON.stringify({ name: 'ev\u001b]0;pwned\u0007il\rX' }));
    const r = await runCliInProcess(['eval', 'compare', dir, join(root, 'b')]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('A = ev\\x1b]0;pwned\\x07il\\x0dX, B = b:');
    for (const c of ['\u001b', '\u0007', '\r']) expect(r.stdout).not.toContain(c);
  });

  it('fails when two runs share no item, and on bad usage', async () => {
    const r = await runCliInProcess(['eval', 'compare', join(root, 'a'), join(root, 'c')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/no shared item ids between a and c/);
    expect((await runCliInProcess(['eval', 'compare', join(root, 'a')])).code).toBe(2);
    const missing = await runCliInProcess(['eval', 'compare', join(root, 'a'), join(root, 'nope')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/nope.*results\.jsonl: no such file/s);
  });
});
