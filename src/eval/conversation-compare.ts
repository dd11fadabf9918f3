/**
 * Comparing two conversation runs (`eval run --turns N`) conversation by conversation: over the
 * conversations both runs hold (same id `ROW_ID~PERSONA`), each run's conversation metrics
 * (conversation-metrics.ts) side by side, and for the per-conversation measures below the paired
 * bootstrap interval of the mean difference B − A and the paired sign-flip test (paired-stats.ts), over
 * the conversations where both runs have the value:
 *
 * - `turns`: assistant turns; `turns_to_answer`: the turn of the first answer (conversations answered in
 *   both runs); `correct`: final-answer correctness against the held intent (scored in both);
 * - `user_tokens`, `assistant_tokens`: tokens of the user's replies and of the assistant's outputs;
 * - `discounted_W`, `discounted_U`, `discounted_L`: W_γ, U_γ and L_γ (every turn scored in both).
 *
 * The pairing holds the simulated users fixed only when both runs had the same ones: `users` says whether
 * they did (simulated-users.ts), and its notes lead the comparison's notes.
 */
import {
  type ConversationMetrics,
  computeConversationMetrics,
  conversationSummaryOf,
  isConversationRun,
  type SummaryLike,
} from './conversation-metrics.js';
import { type PairedOptions, type PairedStat, pairedStat, pairedValues } from './paired-stats.js';
import { compareSimulatedUsers, type SimulatedUsersComparison, type UsersSide } from './simulated-users.js';
import type { RunRecord } from './types.js';

export const CONVERSATION_MEASURES = [
  'turns',
  'turns_to_answer',
  'correct',
  'user_tokens',
  'assistant_tokens',
  'discounted_W',
  'discounted_U',
  'discounted_L',
] as const;
export type ConversationMeasure = (typeof CONVERSATION_MEASURES)[number];

export interface ConversationPairComparison {
  /** Conversations both runs hold. */
  shared: number;
  /** Each run's conversation metrics over the shared conversations only. */
  metrics: { a: ConversationMetrics; b: ConversationMetrics };
  /** Per measure: paired interval of B − A and the sign-flip test. */
  significance: Record<ConversationMeasure, PairedStat>;
  /** Whether both runs had the same simulated users (false: the pairs are not the same users). */
  users: SimulatedUsersComparison;
  /**
   * What qualifies the comparison: the users' differences or unknown settings first, then what was left
   * out and why (conversations discounted with different γ).
   */
  notes: string[];
}

const DISCOUNTED: ReadonlySet<ConversationMeasure> = new Set([
  'discounted_W',
  'discounted_U',
  'discounted_L',
]);

function measureOf(s: SummaryLike, measure: ConversationMeasure): number | undefined {
  switch (measure) {
    case 'turns':
      return s.turns;
    case 'turns_to_answer':
      return s.answered_at ?? undefined;
    case 'correct':
      return s.correct ?? undefined;
    case 'user_tokens':
      return s.user_tokens;
    case 'assistant_tokens':
      return s.assistant_tokens;
    case 'discounted_W':
      return s.discounted?.W;
    case 'discounted_U':
      return s.discounted?.U;
    case 'discounted_L':
      return s.discounted?.L;
  }
}

/**
 * Compares the conversations of records `a[i]` and `b[i]` (the same id in both runs); pairs where either
 * record has no conversation summary are left out. `runs` names the runs and gives their config.json
 * (without it, their simulated-user settings are unknown).
 */
export function compareConversationPair(
  a: readonly RunRecord[],
  b: readonly RunRecord[],
  options: PairedOptions & { runs?: { a: UsersSide; b: UsersSide } } = {},
): ConversationPairComparison {
  const keptA: RunRecord[] = [];
  const keptB: RunRecord[] = [];
  const sa: SummaryLike[] = [];
  const sb: SummaryLike[] = [];
  a.forEach((ra, i) => {
    const rb = b[i]!;
    const x = conversationSummaryOf(ra);
    const y = conversationSummaryOf(rb);
    if (x === undefined || y === undefined) return;
    keptA.push(ra);
    keptB.push(rb);
    sa.push(x);
    sb.push(y);
  });
  // W_γ, U_γ and L_γ are sums weighted by γ: two runs discounted differently measure different things,
  // and their difference would pass as an effect. Such pairs are left out of those three, and said so.
  const sameGamma = sa.map((x, i) => x.discounted?.gamma === sb[i]!.discounted?.gamma);
  const { runs, ...paired } = options;
  const users = compareSimulatedUsers(runs?.a ?? { name: 'A' }, runs?.b ?? { name: 'B' }, keptA, keptB);
  const notes: string[] = [...users.notes];
  const mismatched = sameGamma.filter((same, i) => !same && sa[i]!.discounted && sb[i]!.discounted).length;
  if (mismatched > 0) {
    const i = sameGamma.indexOf(false);
    notes.push(
      `W_γ, U_γ and L_γ leave out ${mismatched} conversation(s) discounted with a different γ in each run (A γ = ${sa[i]!.discounted?.gamma}, B γ = ${sb[i]!.discounted?.gamma}): rerun one with the other's --discount to compare them`,
    );
  }
  const significance = {} as Record<ConversationMeasure, PairedStat>;
  for (const m of CONVERSATION_MEASURES) {
    const keep = DISCOUNTED.has(m) ? (i: number) => sameGamma[i]! : () => true;
    const { xs, ys } = pairedValues(
      sa.filter((_, i) => keep(i)),
      sb.filter((_, i) => keep(i)),
      (s) => measureOf(s, m),
    );
    significance[m] = pairedStat(xs, ys, paired);
  }
  return {
    shared: keptA.length,
    metrics: { a: computeConversationMetrics(keptA), b: computeConversationMetrics(keptB) },
    significance,
    users,
    notes,
  };
}

/** Why two runs cannot be compared item by item (one holds conversations, the other single turns). */
export function runKindMismatch(
  a: { name: string; records: readonly RunRecord[] },
  b: { name: string; records: readonly RunRecord[] },
): string | undefined {
  const ca = isConversationRun(a.records);
  const cb = isConversationRun(b.records);
  if (ca === cb) return undefined;
  const [conv, single] = ca ? [a.name, b.name] : [b.name, a.name];
  return `${conv} is a conversation run (gtalign eval run --turns N: one item per row and persona, ids ROW_ID~PERSONA) and ${single} a single-turn run (one item per row): their items cannot be paired; compare conversation runs with conversation runs`;
}
