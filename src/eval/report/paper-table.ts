/**
 * The report's "Against the paper" table: per run and data source the paper reports, the run's mean W and
 * answer score with their bootstrap intervals next to the paper's figures, and where each figure falls
 * against the interval (run above, within, run below).
 */
import { DATASET_FILES } from '../../data/pull.js';
import { PAPER_FIGURES, placement } from '../paper-figures.js';
import type { GroupIntervals } from '../record-intervals.js';
import type { Interval } from '../stats.js';
import { fmt, type Table } from './table.js';

export interface RunIntervals {
  name: string;
  /** Per data source (and `overall`, not shown): see eval/record-intervals.ts. */
  intervals: Record<string, GroupIntervals>;
}

const testRows = (source: string): number | undefined =>
  DATASET_FILES.find((f) => f.name === source && f.split === 'test')?.rows;

const withInterval = (i: Interval): string => `${fmt(i.estimate)} [${fmt(i.low)}, ${fmt(i.high)}]`;

/** The paper's figure and where it falls: "0.500 (within)"; "–" when the paper gives none. */
/** Fewer scored records than this give no placement: a bootstrap interval of a handful is no interval. */
export const MIN_RECORDS_TO_PLACE = 10;

function figureCell(figure: number | undefined, interval: Interval, n: number): string {
  if (figure === undefined) return '–';
  if (n < MIN_RECORDS_TO_PLACE) return `${fmt(figure)} (too few records to place: n = ${n})`;
  const where = placement(interval, figure);
  return where === undefined ? fmt(figure) : `${fmt(figure)} (${where})`;
}

/** Undefined when no run scored a record of a data source the paper reports. */
export function paperTable(runs: readonly RunIntervals[]): Table | undefined {
  const rows: string[][] = [];
  for (const run of runs) {
    for (const [source, figures] of Object.entries(PAPER_FIGURES)) {
      const g = run.intervals[source];
      if (g === undefined || g.n === 0) continue;
      const whole = testRows(source);
      rows.push([
        run.name,
        source,
        whole === undefined ? String(g.n) : `${g.n} of ${whole}`,
        withInterval(g.W),
        figureCell(figures.welfare, g.W, g.n),
        figureCell(figures.baselineWelfare, g.W, g.n),
        withInterval(g.answer),
        figureCell(figures.answer, g.answer, g.n),
      ]);
    }
  }
  if (rows.length === 0) return undefined;
  return {
    head: [
      'run',
      'data source',
      'scored (test set rows)',
      'W [95% CI]',
      'paper: GTAlign W',
      'paper: best baseline W',
      'answer [95% CI]',
      'paper: GTAlign answer',
    ],
    rows,
    numeric: [2, 3, 4, 5, 6, 7],
  };
}
