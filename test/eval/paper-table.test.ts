/** The report's comparison with the paper's reported figures (GTALIGN.md §8). */
import { describe, expect, it } from 'vitest';
import { computeMetrics, NO_JUDGE_REASON } from '../../src/eval/metrics.js';
import { PAPER_SETTING, placement } from '../../src/eval/paper-figures.js';
import { intervals } from '../../src/eval/record-intervals.js';
import { buildReport, type ReportRun } from '../../src/eval/report/build.js';
import { paperTable } from '../../src/eval/report/paper-table.js';
import { bootstrapCI, type Interval } from '../../src/eval/stats.js';
import type { RunRecord } from '../../src/eval/types.js';
import { rec } from './helpers.js';

const run = (name: string, records: RunRecord[]): ReportRun => ({
  name,
  records,
  metrics: computeMetrics(records),
});

/** The table's rows as objects by column name. */
function rowsOf(runs: ReportRun[]): Record<string, string>[] {
  const table = paperTable(runs.map((r) => ({ name: r.name, intervals: intervals(r.records) })));
  expect(table).toBeDefined();
  return table!.rows.map((row) => Object.fromEntries(table!.head.map((h, i) => [h, row[i]!])));
}

describe('the paper comparison', () => {
  it("places the paper's figures against the run's intervals, per data source", () => {
    // math-hard: W exactly 0.5 (the paper's GTAlign figure) in every record, so the interval is [0.5, 0.5];
    // the answer term 0.2 everywhere, below the paper's 0.498.
    const math = Array.from({ length: 10 }, (_, i) =>
      rec(`m${i}`, 'math-hard', { u: 0.5, l: 0.5, answer: 0.2 }),
    );
    // minerva: one record, W 0.9: too few to place the paper's 0.454 (a bootstrap interval of one record
    // is a point); the paper gives no baseline or answer score there.
    const minerva = [rec('v1', 'minerva', { u: 0.9, l: 0.9 })];
    const failed = rec('m-failed', 'math-hard', 'error');
    const rows = rowsOf([run('trained', [...math, failed, ...minerva])]);
    expect(rows).toEqual([
      {
        run: 'trained',
        'data source': 'math-hard',
        'scored (test set rows)': '10 of 353',
        'W [95% CI]': '0.500 [0.500, 0.500]',
        'paper: GTAlign W': '0.500 (within)',
        'paper: best baseline W': '0.438 (run above)',
        'answer [95% CI]': '0.200 [0.200, 0.200]',
        'paper: GTAlign answer': '0.498 (run below)',
      },
      {
        run: 'trained',
        'data source': 'minerva',
        'scored (test set rows)': '1 of 272',
        'W [95% CI]': '0.900 [0.900, 0.900]',
        'paper: GTAlign W': '0.454 (too few records to place: n = 1)',
        'paper: best baseline W': '–',
        'answer [95% CI]': '1.000 [1.000, 1.000]',
        'paper: GTAlign answer': '–',
      },
    ]);
  });

  it('its intervals are the seeded bootstrap intervals of the scored records, failures left out', () => {
    const records = Array.from({ length: 40 }, (_, i) =>
      rec(`w${i}`, 'wildguard', { u: (i % 7) / 7, l: (i % 5) / 5, answer: i % 2 }),
    );
    records.push(rec('w-failed', 'wildguard', 'error'));
    const got = intervals(records).wildguard!;
    const scored = records.slice(0, 40);
    const expectW = bootstrapCI(
      scored.map((_, i) => Math.sqrt(((i % 7) / 7) * ((i % 5) / 5))),
      { seed: 1 },
    );
    expect(got.n).toBe(40);
    expect(got.W.estimate).toBeCloseTo(expectW.estimate, 12);
    expect(got.W.low).toBeCloseTo(expectW.low, 12);
    expect(got.W.high).toBeCloseTo(expectW.high, 12);
    expect(got.answer).toEqual(
      bootstrapCI(
        scored.map((_, i) => i % 2),
        { seed: 1 },
      ),
    );
    // The row shows exactly those figures.
    const [row] = rowsOf([run('r', records)]);
    const fmt = (x: number) => x.toFixed(3);
    expect(row!['W [95% CI]']).toBe(`${fmt(got.W.estimate)} [${fmt(got.W.low)}, ${fmt(got.W.high)}]`);
    expect(row!['scored (test set rows)']).toBe('40 of 300');
  });

  it('placement: above, within (bounds included) and below', () => {
    const i = (low: number, high: number): Interval => ({
      estimate: (low + high) / 2,
      low,
      high,
      level: 0.95,
      n: 10,
      method: 'bootstrap',
    });
    expect(placement(i(0.6, 0.7), 0.5)).toBe('run above');
    expect(placement(i(0.5, 0.7), 0.5)).toBe('within');
    expect(placement(i(0.3, 0.5), 0.5)).toBe('within');
    expect(placement(i(0.3, 0.4), 0.5)).toBe('run below');
    expect(placement(i(Number.NaN, Number.NaN), 0.5)).toBeUndefined();
  });
});

describe('the report section', () => {
  it('says what the figures assume, and leaves out conversation runs by name', () => {
    const single = run('single', [rec('a1', 'ambig_qa', { u: 0.8, l: 0.7 })]);
    const conversation = run('talks', [
      {
        ...rec('a1', 'ambig_qa', { u: 0.8, l: 0.7 }),
        conversation: { persona: 'terse', per_turn: [] },
      } as RunRecord,
    ]);
    const md = buildReport([single, conversation]).markdown;
    const section = md.slice(
      md.indexOf('## Against the paper'),
      md.indexOf('\n## ', md.indexOf('## Against the paper') + 1),
    );
    expect(section).toContain(PAPER_SETTING);
    expect(section).toContain(
      'Left out (conversation runs, whose records are final answers after several turns): talks.',
    );
    expect(section).toContain('| single | ambig_qa | 1 of 300 |');
    expect(section).not.toContain('| talks |');
  });

  it('is absent when no run has a scored record of a data source the paper reports', () => {
    const waiting = rec('a1', 'ambig_qa', 'error', {
      reward: { error: { stage: 'judge', message: 'not judged', reason: NO_JUDGE_REASON } },
    });
    const md = buildReport([run('offline', [waiting])]).markdown;
    expect(md).not.toContain('Against the paper');
    expect(md).toContain('## Headline metrics');
  });
});
