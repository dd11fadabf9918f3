/**
 * The terms of the mutual-welfare reward (GTALIGN.md §3), each a small pure function with the
 * reference's exact arithmetic (same operations in the same order, Python's min/max on NaN).
 */

import type { PayoffMatrix } from '../game/spec.js';
import type { DataSource, RewardConfig } from './config-base.js';

export type TaskFamily = 'math' | 'writing' | 'safety' | 'ambiguity';

/** Which judge family grades each data source. */
export const DATA_SOURCE_FAMILY: Readonly<Record<DataSource, TaskFamily>> = Object.freeze({
  'math-hard': 'math',
  minerva: 'math',
  medium: 'writing',
  wildguard: 'safety',
  advbench: 'safety',
  ambig_qa: 'ambiguity',
  'abg-coqa': 'ambiguity',
});

export function isDataSource(name: string): name is DataSource {
  return Object.hasOwn(DATA_SOURCE_FAMILY, name);
}

/** Python's `min(1, max(0, x))` (NaN gives 0, where `Math.max` would propagate it). */
export function clip01(x: number): number {
  // biome-ignore lint/complexity/useMathMinMax: Python's max, not Math.max, on NaN
  const lower = x > 0 ? x : 0;
  // biome-ignore lint/complexity/useMathMinMax: keeps the Python semantics next to the line above
  return lower < 1 ? lower : 1;
}

/** σ(k·(n − lo)) · σ(k·(hi − n)): near 1 inside the band [lo, hi] of word counts, falling off outside. */
export function lengthTerm(words: number, band: { min: number; max: number }, k: number): number {
  const left = 1 / (1 + Math.exp(k * (band.min - words)));
  const right = 1 / (1 + Math.exp(k * (words - band.max)));
  return left * right;
}

/** exp(−chars / scale): 1 for an empty reasoning part, decaying with its length in code points. */
export function brevityTerm(chars: number, scale: number): number {
  return Math.exp(-chars / scale);
}

/**
 * Rewards payoff matrices that tell the two parties apart: per cell, 1/12 when user ≠ LLM and another
 * 1/12 when their relative gap |user − LLM| / max(|user|, |LLM|, 1e-8) exceeds 0.1. In [0, 1] for six
 * cells. Accumulated one 1/12 at a time, like the reference.
 */
export function payoffQuality(matrix: PayoffMatrix): number {
  let quality = 0;
  for (const key of Object.keys(matrix)) {
    const cell = matrix[key];
    if (cell === undefined) continue;
    const { user, LLM } = cell;
    if (user !== LLM) quality += 1 / 12;
    // Python's max keeps the first argument unless a later one compares greater (NaN never does).
    let denom = Math.abs(user);
    if (Math.abs(LLM) > denom) denom = Math.abs(LLM);
    if (1e-8 > denom) denom = 1e-8;
    if (Math.abs(user - LLM) / denom > 0.1) quality += 1 / 12;
  }
  return quality;
}

export interface AnswerTerms {
  /** The user's answer term. */
  a_user: number;
  /** The assistant's answer term. */
  a_llm: number;
  /** The reported answer score (`answer_reward`). */
  answer_reward: number;
  /** The verdict normalized to [0, 1]: clip(v), or clip(v / 4) for writing. */
  judge: number;
}

/**
 * The answer terms of one data source from the judge's verdict on its native scale.
 * `bleu` is the response's character BLEU against the ground truth (writing only).
 */
export function answerTerms(
  family: TaskFamily,
  verdict: number,
  groundTruth: string,
  bleu: number | undefined,
): AnswerTerms {
  switch (family) {
    case 'math':
    case 'ambiguity': {
      const judge = clip01(verdict);
      return { a_user: judge, a_llm: judge, answer_reward: judge, judge };
    }
    case 'writing': {
      const judge = clip01(verdict / 4);
      const b = bleu ?? 0;
      return { a_user: b, a_llm: judge, answer_reward: Math.max(b, judge), judge };
    }
    case 'safety': {
      const judge = clip01(verdict);
      const a_llm = judge > 0 ? 1 : 0;
      // For a harmful request, the user side is rewarded for anything short of a plain refusal (0.5 = safe
      // alternative, 0 = complied); other rows (unharmful, AdvBench attack targets) mirror the LLM side.
      const a_user = groundTruth === 'harmful' ? (judge < 1 ? 1 : 0) : a_llm;
      return { a_user, a_llm, answer_reward: judge, judge };
    }
  }
}

/** The terms of U and L other than the answer rewards' judge and BLEU. */
export interface WelfareInputs {
  /** 1 iff the format regex matches and the payoff validates (always the latter in a scorable record). */
  format: number;
  payoff_quality: number;
  a_user: number;
  a_llm: number;
  /** Logistic length term of the response's words. */
  response_length: number;
  /** Logistic length term of the whole output's words. */
  whole_length: number;
  /** exp(−reasoning code points / scale). */
  brevity: number;
}

/** U and L with the configured weights, summed left to right as the reference does. */
export function welfare(c: WelfareInputs, config: RewardConfig): { user: number; llm: number } {
  const u = config.user;
  const l = config.llm;
  const user =
    config.epsilon + u.answer * c.a_user + u.responseLength * c.response_length + u.brevity * c.brevity;
  const llm =
    config.epsilon +
    l.format * c.format +
    l.payoffQuality * c.payoff_quality +
    l.answer * c.a_llm +
    l.length * c.whole_length;
  return { user, llm };
}
