/**
 * The figures the GTAlign paper reports per data source (GTALIGN.md §8), and where a run's own means fall
 * against them: what a researcher reproducing the paper looks at first. The paper's setting is
 * Qwen2.5-3B-Instruct trained with PPO for 150 steps and judged by Qwen3-32B, on the test sets; a run with
 * another policy, judge or split is compared all the same, and the report says what the figures assume.
 */
import type { Interval } from './stats.js';

export const PAPER_SETTING =
  'Qwen2.5-3B-Instruct trained with PPO for 150 steps, judged by Qwen3-32B, on the test sets (arXiv 2510.08872)';

export interface PaperFigures {
  /** Mean social welfare W of the GTAlign model (Table 5; Table 7 for the out-of-distribution sets). */
  welfare: number;
  /** The best baseline's mean W, where the paper gives it per data source (Table 5). */
  baselineWelfare?: number;
  /** The GTAlign model's answer score (Table 3). */
  answer?: number;
}

/** Per data source, by the names the data sets use. */
export const PAPER_FIGURES: Readonly<Record<string, PaperFigures>> = {
  'math-hard': { welfare: 0.5, baselineWelfare: 0.438, answer: 0.498 },
  medium: { welfare: 0.59, baselineWelfare: 0.558, answer: 0.762 },
  ambig_qa: { welfare: 0.731, baselineWelfare: 0.701, answer: 0.923 },
  wildguard: { welfare: 0.714, baselineWelfare: 0.682, answer: 0.98 },
  minerva: { welfare: 0.454 },
  advbench: { welfare: 0.769 },
  'abg-coqa': { welfare: 0.668 },
};

/** Where a paper's figure lies against a run's interval of the same mean. */
export type Placement = 'run above' | 'within' | 'run below';

/** `run above` when the whole interval is above the figure, `run below` when below, else `within`. */
export function placement(interval: Interval, figure: number): Placement | undefined {
  if (Number.isNaN(interval.low) || Number.isNaN(interval.high)) return undefined;
  if (interval.low > figure) return 'run above';
  if (interval.high < figure) return 'run below';
  return 'within';
}

/** Per data source the paper reports and the run scored: the paper's GTAlign W and where it falls. */
export function paperWelfare(
  intervals: Readonly<Record<string, { n: number; W: Interval }>>,
): Record<string, { W: number; placement: Placement | null }> {
  const out: Record<string, { W: number; placement: Placement | null }> = {};
  for (const [source, figures] of Object.entries(PAPER_FIGURES)) {
    const g = intervals[source];
    if (g === undefined || g.n === 0) continue;
    out[source] = { W: figures.welfare, placement: placement(g.W, figures.welfare) ?? null };
  }
  return out;
}
