/**
 * Bootstrap intervals of a run's means per group (overall and per data source), over its scored records:
 * what the run viewer shows next to W, U and L, and what the report's comparison with the paper's figures
 * places those figures against. Seeded (default seed 1, 2000 resamples), so a page and a report agree.
 */
import { cobbDouglas } from '../reward/aggregate.js';
import { isFailedReward } from './metrics.js';
import { bootstrapCI, type Interval } from './stats.js';
import type { RunRecord } from './types.js';

export interface GroupIntervals {
  /** Scored records in the group. */
  n: number;
  W: Interval;
  U: Interval;
  L: Interval;
  /** The answer term. */
  answer: Interval;
}

/** W = √(U·L) (zero-clamped, as the metrics compute it) of a scored record; null for a failure. */
export function welfareOf(record: RunRecord): number | null {
  return isFailedReward(record.reward)
    ? null
    : cobbDouglas(record.reward.user_reward, record.reward.llm_reward);
}

interface Sample {
  W: number[];
  U: number[];
  L: number[];
  answer: number[];
}

/** Intervals of mean W, U, L and answer, under `overall` and each record's data source. */
export function intervals(records: readonly RunRecord[], seed = 1): Record<string, GroupIntervals> {
  const groups = new Map<string, Sample>();
  const group = (name: string): Sample => {
    let g = groups.get(name);
    if (g === undefined) {
      g = { W: [], U: [], L: [], answer: [] };
      groups.set(name, g);
    }
    return g;
  };
  group('overall');
  for (const r of records) {
    // Failures and records awaiting a verdict have no reward terms: the means leave them out.
    if (isFailedReward(r.reward)) continue;
    const { user_reward: u, llm_reward: l, answer_reward: answer } = r.reward;
    for (const g of [group('overall'), group(r.data_source)]) {
      g.W.push(cobbDouglas(u, l));
      g.U.push(u);
      g.L.push(l);
      g.answer.push(answer);
    }
  }
  const out: Record<string, GroupIntervals> = {};
  for (const [name, g] of groups) {
    out[name] = {
      n: g.W.length,
      W: bootstrapCI(g.W, { seed }),
      U: bootstrapCI(g.U, { seed }),
      L: bootstrapCI(g.L, { seed }),
      answer: bootstrapCI(g.answer, { seed }),
    };
  }
  return out;
}
