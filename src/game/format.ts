/**
 * How a payoff pair reads in every text output (chat traces, `game analyze`, reports): the user's
 * utility first, then the LLM's, as `U 3.1, L 2.0`, the names of the welfare W = √(U·L).
 */
import type { Payoff } from './spec.js';

export function formatPayoffPair(p: Payoff, number: (x: number) => string = String): string {
  return `U ${number(p.user)}, L ${number(p.LLM)}`;
}
