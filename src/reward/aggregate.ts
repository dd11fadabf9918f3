/**
 * Aggregators: how the user's welfare U and the assistant's welfare L combine into one reward
 * (GTALIGN.md §3). The paper's choice is Cobb-Douglas, √(U·L): symmetric, monotone, and 0 whenever
 * either side is 0. The others are the paper's baselines and the general weighted form.
 */

import type { AggregatorName } from './config-base.js';

export type { AggregatorName } from './config-base.js';
export { AGGREGATOR_NAMES } from './config-base.js';

export interface AggregatorSpec {
  name: AggregatorName;
  /** Weight of U in `weighted-cobb-douglas`; ignored by the others. */
  alpha?: number;
}

/** √(U·L), the default (the reference computes `(U * L) ** 0.5`). */
export function cobbDouglas(user: number, llm: number): number {
  return Math.sqrt(user * llm);
}

/** U^α · L^(1−α); α = 0.5 is Cobb-Douglas up to rounding. */
export function weightedCobbDouglas(user: number, llm: number, alpha: number): number {
  if (alpha === 1) return user;
  if (alpha === 0) return llm;
  return user ** alpha * llm ** (1 - alpha);
}

/** (U + L) / 2, the paper's linear baseline. */
export function linear(user: number, llm: number): number {
  return (user + llm) / 2;
}

/** Combines U and L with the named aggregator. */
export function aggregate(spec: AggregatorSpec | AggregatorName, user: number, llm: number): number {
  const { name, alpha = 0.5 } = typeof spec === 'string' ? { name: spec } : spec;
  switch (name) {
    case 'cobb-douglas':
      return cobbDouglas(user, llm);
    case 'weighted-cobb-douglas':
      return weightedCobbDouglas(user, llm, alpha);
    case 'linear':
      return linear(user, llm);
    case 'user':
      return user;
    case 'llm':
      return llm;
  }
}
