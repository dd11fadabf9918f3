/**
 * The study's analysis page, pure: from the study's items and its ratings (one per rater and item) to
 *
 * - satisfaction per arm: the mean rating with a bootstrap interval (ratings resampled);
 * - the paired difference B − A and the relative change mean(B) / mean(A) − 1 (the paper's +11.3% is this
 *   figure) with paired bootstrap intervals, and a sign-flip permutation test of the difference;
 * - preferences: B wins, A wins, ties, and the win rate of B (a tie counts half) with an interval;
 * - the correlation of every rating with its reply's welfare W (Pearson, Spearman and Kendall's τ-b, as the
 *   paper reports them, with Fisher-z intervals);
 * - inter-rater agreement when items have several raters: Krippendorff's alpha of the satisfaction ratings
 *   (interval metric; a unit is one reply, i.e. item × arm) and of the preferences (nominal);
 * - satisfaction by the reply's action (DA, CQ, AQ) per arm, where the items record it: whether raters
 *   liked being asked a question, under each policy.
 *
 * Every interval is seeded (default seed 1, 2000 resamples) and states its n.
 */
import {
  bootstrapCI,
  correlation,
  type Interval,
  krippendorffAlpha,
  type PermutationTest,
  pairedBootstrap,
  signFlipTest,
} from '../eval/stats.js';
import type { Arm, Rating, StudyItem } from './study.js';

/** What the analysis reads of an item: the worker thread that runs it is sent these fields only. */
export type AnalysisItem = Pick<StudyItem, 'id' | 'W' | 'actions'>;
/** What the analysis reads of a rating. */
export type AnalysisRating = Pick<Rating, 'rater' | 'item' | 'satisfaction' | 'preference'>;

export interface AnalysisInput {
  items: AnalysisItem[];
  ratings: AnalysisRating[];
}

/**
 * A study's items and ratings cut to what {@link analyzeStudy} reads, so that copying them to a worker
 * thread does not copy every reply and comment.
 */
export function analysisInput(
  study: { items: readonly StudyItem[] },
  ratings: readonly Rating[],
): AnalysisInput {
  return {
    items: study.items.map((i) => ({
      id: i.id,
      W: i.W,
      ...(i.actions === undefined ? {} : { actions: i.actions }),
    })),
    ratings: ratings.map((r) => ({
      rater: r.rater,
      item: r.item,
      satisfaction: r.satisfaction,
      preference: r.preference,
    })),
  };
}

export interface StudyAnalysis {
  /** Ratings counted: those of items the study holds. */
  ratings: number;
  /** Ratings of items the study no longer holds (taken out of study.json by hand), not counted. */
  ratingsOfRemovedItems: number;
  raters: number;
  items: number;
  /** Items with at least one rating. */
  itemsRated: number;
  satisfaction: Record<Arm, Interval>;
  difference: Interval;
  relativeChange: Interval;
  test: PermutationTest;
  preference: { A: number; B: number; tie: number; winRateB: Interval };
  correlation: { pairs: number; pearson: Interval; spearman: Interval; kendall: Interval };
  /** Mean satisfaction per arm and action of the reply rated, in arm then action order. */
  byAction: { arm: Arm; action: string; n: number; satisfaction: Interval }[];
  agreement: {
    /** Items rated by two raters or more. */
    sharedItems: number;
    satisfactionAlpha: number | null;
    preferenceAlpha: number | null;
  };
  seed: number;
}

const nullable = (x: number): number | null => (Number.isNaN(x) ? null : x);

export function analyzeStudy(
  study: { items: readonly AnalysisItem[] },
  stored: readonly AnalysisRating[],
  seed = 1,
): StudyAnalysis {
  const items = new Map(study.items.map((i) => [i.id, i]));
  // An item taken out of the study takes its ratings out of the figures too (the export keeps them).
  const ratings = stored.filter((r) => items.has(r.item));
  const a = ratings.map((r) => r.satisfaction.A);
  const b = ratings.map((r) => r.satisfaction.B);
  const paired = pairedBootstrap(a, b, { seed });
  const wins = ratings.map((r) => (r.preference === 'B' ? 1 : r.preference === 'tie' ? 0.5 : 0));
  const ws: number[] = [];
  const sats: number[] = [];
  for (const r of ratings) {
    const item = items.get(r.item);
    if (item === undefined) continue;
    for (const arm of ['A', 'B'] as const) {
      const w = item.W[arm];
      if (w === null) continue;
      ws.push(w);
      sats.push(r.satisfaction[arm]);
    }
  }
  const perAction = new Map<string, { arm: Arm; action: string; sats: number[] }>();
  for (const r of ratings) {
    const actions = items.get(r.item)?.actions;
    if (actions === undefined) continue;
    for (const arm of ['A', 'B'] as const) {
      const action = actions[arm];
      if (action === null) continue;
      const key = `${arm}\u0000${action}`;
      const group = perAction.get(key) ?? { arm, action, sats: [] };
      group.sats.push(r.satisfaction[arm]);
      perAction.set(key, group);
    }
  }
  const byAction = [...perAction.values()]
    .sort((x, y) => x.arm.localeCompare(y.arm) || x.action.localeCompare(y.action))
    .map((g) => ({
      arm: g.arm,
      action: g.action,
      n: g.sats.length,
      satisfaction: bootstrapCI(g.sats, { seed }),
    }));
  const byItem = new Map<string, AnalysisRating[]>();
  for (const r of ratings) byItem.set(r.item, [...(byItem.get(r.item) ?? []), r]);
  const shared = [...byItem.values()].filter((rs) => rs.length >= 2);
  const satUnits = shared.flatMap((rs) => [rs.map((r) => r.satisfaction.A), rs.map((r) => r.satisfaction.B)]);
  const prefCode = { A: 0, B: 1, tie: 2 } as const;
  const prefUnits = shared.map((rs) => rs.map((r) => prefCode[r.preference]));
  return {
    ratings: ratings.length,
    ratingsOfRemovedItems: stored.length - ratings.length,
    raters: new Set(ratings.map((r) => r.rater)).size,
    items: study.items.length,
    itemsRated: byItem.size,
    satisfaction: { A: bootstrapCI(a, { seed }), B: bootstrapCI(b, { seed }) },
    difference: paired.difference,
    relativeChange: paired.relative,
    test: signFlipTest(a, b, { seed }),
    preference: {
      A: ratings.filter((r) => r.preference === 'A').length,
      B: ratings.filter((r) => r.preference === 'B').length,
      tie: ratings.filter((r) => r.preference === 'tie').length,
      winRateB: bootstrapCI(wins, { seed }),
    },
    correlation: {
      pairs: ws.length,
      pearson: correlation(ws, sats, 'pearson'),
      spearman: correlation(ws, sats, 'spearman'),
      kendall: correlation(ws, sats, 'kendall'),
    },
    byAction,
    agreement: {
      sharedItems: shared.length,
      satisfactionAlpha: shared.length === 0 ? null : nullable(krippendorffAlpha(satUnits, 'interval').alpha),
      preferenceAlpha: shared.length === 0 ? null : nullable(krippendorffAlpha(prefUnits, 'nominal').alpha),
    },
    seed,
  };
}
