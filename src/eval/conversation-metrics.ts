/**
 * Metrics of a conversation run (`eval run --turns N`), from the `conversation` summary of each
 * results.jsonl record (see conversation-run.ts), per data source and persona (`SOURCE/PERSONA`), per
 * persona over every source (`all/PERSONA`) and overall (`overall`):
 *
 * - `n`: conversations; `turns`: mean assistant turns;
 * - `answered`: share of conversations in which the assistant answered at all (a DA or AQ turn with a
 *   non-empty response);
 *   `turns_to_answer`: mean 1-based index of the first answering turn, over those;
 * - `assistant_tokens`: mean tokens the assistant wrote over the conversation (whole outputs);
 *   `user_tokens`: mean tokens of the simulated user's replies (the user's effort; the row's own
 *   question is not counted);
 * - `correct`: mean final-answer correctness against the intent the user held (ambiguity rows: the held
 *   meaning's answers; other rows: the final turn's answer term against the ground truth), over the
 *   conversations that have one (`correct_n`);
 * - `per_turn[t]`: mean U, L and W = the reward's aggregate (√(U·L) by default) of the assistant's t-th
 *   turns that were scored (`n`);
 * - `discounted`: means of U_γ = Σ_t γ^(t−1)·U_t, L_γ and W_γ likewise, over conversations whose every turn
 *   was scored (`n`);
 * - `action_by_turn[t]`: how many t-th turns were DA, CQ, AQ or had no action (`?`);
 * - `ends`: why conversations ended (answered, no-follow-up, user-stopped, turn-limit, no-action);
 * - `failed_turns`: assistant turns (any turn, not only the final one) whose scoring failed (judge
 *   failures, unusable verdicts), `unjudged_turns`: those awaiting a verdict (--judge offline), and
 *   `empty_user_replies`: replies of the simulated user that were empty; counts, not means (records of
 *   runs before these counts were kept count 0).
 */
import { z } from 'zod';
import { describeZodError } from '../issues.js';
import type { RunRecord } from './types.js';

/** What the metrics read of a record's `conversation` summary (ConversationSummary, conversation-run.ts). */
export interface SummaryLike {
  persona: string;
  turns: number;
  end: string;
  actions: string[];
  answered_at: number | null;
  correct: number | null;
  assistant_tokens: number;
  user_tokens: number;
  /** Absent in summaries written before these counts were kept. */
  failed_turns?: number;
  unjudged_turns?: number;
  empty_replies?: number;
  per_turn: Array<{ turn: number; U: number | null; L: number | null; W: number | null }>;
  discounted: { gamma: number; U: number; L: number; W: number } | null;
}

export interface ConversationGroup {
  n: number;
  turns: number | null;
  answered: number | null;
  turns_to_answer: number | null;
  assistant_tokens: number | null;
  user_tokens: number | null;
  correct: number | null;
  correct_n: number;
  per_turn: Array<{ turn: number; n: number; U: number | null; L: number | null; W: number | null }>;
  discounted: { n: number; gamma: number | null; U: number | null; L: number | null; W: number | null };
  action_by_turn: Array<{ turn: number } & Record<string, number>>;
  ends: Record<string, number>;
  /** Counts over the group's conversations; absent in metrics written before they were kept. */
  failed_turns?: number;
  unjudged_turns?: number;
  empty_user_replies?: number;
}

export interface ConversationMetrics {
  groups: Record<string, ConversationGroup>;
  overall: ConversationGroup;
}

function sum(xs: readonly number[]): number {
  return xs.reduce((a, b) => a + b, 0);
}

function mean(xs: readonly number[]): number | null {
  return xs.length === 0 ? null : xs.reduce((a, b) => a + b, 0) / xs.length;
}

/** The conversation summary of a record of a conversation run; undefined for a single-turn record. */
export function conversationSummaryOf(record: RunRecord): SummaryLike | undefined {
  const c = (record as RunRecord & { conversation?: unknown }).conversation;
  if (typeof c !== 'object' || c === null) return undefined;
  const s = c as SummaryLike;
  return typeof s.persona === 'string' && Array.isArray(s.per_turn) ? s : undefined;
}

/** A run of `eval run --turns N` (its records carry conversation summaries) or of single turns. */
export function isConversationRun(records: readonly RunRecord[]): boolean {
  return records.some((r) => conversationSummaryOf(r) !== undefined);
}

/** The metrics of one group of conversations (see the module comment). */
export function conversationGroup(summaries: readonly SummaryLike[]): ConversationGroup {
  const maxTurn = Math.max(0, ...summaries.map((s) => s.turns));
  const perTurn: ConversationGroup['per_turn'] = [];
  const actionByTurn: ConversationGroup['action_by_turn'] = [];
  for (let t = 1; t <= maxTurn; t++) {
    const scored = summaries
      .map((s) => s.per_turn.find((p) => p.turn === t))
      .filter(
        (p): p is NonNullable<typeof p> => p !== undefined && p.U !== null && p.L !== null && p.W !== null,
      );
    perTurn.push({
      turn: t,
      n: scored.length,
      U: mean(scored.map((p) => p.U!)),
      L: mean(scored.map((p) => p.L!)),
      W: mean(scored.map((p) => p.W!)),
    });
    const counts: { turn: number } & Record<string, number> = { turn: t, DA: 0, CQ: 0, AQ: 0 };
    for (const s of summaries) {
      const a = s.actions[t - 1];
      if (a !== undefined) counts[a] = (counts[a] ?? 0) + 1;
    }
    actionByTurn.push(counts);
  }
  const answered = summaries.filter((s) => s.answered_at !== null);
  const correct = summaries.map((s) => s.correct).filter((c): c is number => c !== null);
  const disc = summaries.map((s) => s.discounted).filter((d): d is NonNullable<typeof d> => d !== null);
  const ends: Record<string, number> = {};
  for (const s of summaries) ends[s.end] = (ends[s.end] ?? 0) + 1;
  return {
    n: summaries.length,
    turns: mean(summaries.map((s) => s.turns)),
    answered: summaries.length === 0 ? null : answered.length / summaries.length,
    turns_to_answer: mean(answered.map((s) => s.answered_at!)),
    assistant_tokens: mean(summaries.map((s) => s.assistant_tokens)),
    user_tokens: mean(summaries.map((s) => s.user_tokens)),
    correct: mean(correct),
    correct_n: correct.length,
    per_turn: perTurn,
    discounted: {
      n: disc.length,
      gamma: disc[0]?.gamma ?? null,
      U: mean(disc.map((d) => d.U)),
      L: mean(disc.map((d) => d.L)),
      W: mean(disc.map((d) => d.W)),
    },
    action_by_turn: actionByTurn,
    ends,
    failed_turns: sum(summaries.map((s) => s.failed_turns ?? 0)),
    unjudged_turns: sum(summaries.map((s) => s.unjudged_turns ?? 0)),
    empty_user_replies: sum(summaries.map((s) => s.empty_replies ?? 0)),
  };
}

/** The conversation metrics of a run's records (records without a conversation summary are left out). */
export function computeConversationMetrics(records: readonly RunRecord[]): ConversationMetrics {
  const bySource = new Map<string, SummaryLike[]>();
  const byPersona = new Map<string, SummaryLike[]>();
  const all: SummaryLike[] = [];
  for (const r of records) {
    const s = conversationSummaryOf(r);
    if (s === undefined) continue;
    all.push(s);
    const key = `${r.data_source}/${s.persona}`;
    bySource.set(key, [...(bySource.get(key) ?? []), s]);
    byPersona.set(s.persona, [...(byPersona.get(s.persona) ?? []), s]);
  }
  const groups: Record<string, ConversationGroup> = {};
  for (const key of [...bySource.keys()].sort()) groups[key] = conversationGroup(bySource.get(key)!);
  if (byPersona.size > 1 || bySource.size > 1) {
    for (const key of [...byPersona.keys()].sort())
      groups[`all/${key}`] = conversationGroup(byPersona.get(key)!);
  }
  return { groups, overall: conversationGroup(all) };
}

const maybe = z.number().finite().nullable();
const groupShape = z.looseObject({
  n: z.number().int().min(0),
  turns: maybe,
  answered: maybe,
  turns_to_answer: maybe,
  assistant_tokens: maybe,
  user_tokens: maybe,
  correct: maybe,
  correct_n: z.number().int().min(0),
  per_turn: z.array(
    z.looseObject({
      turn: z.number().int().min(1),
      n: z.number().int().min(0),
      U: maybe,
      L: maybe,
      W: maybe,
    }),
  ),
  discounted: z.looseObject({ n: z.number().int().min(0), gamma: maybe, U: maybe, L: maybe, W: maybe }),
  action_by_turn: z.array(z.looseObject({ turn: z.number().int().min(1) }).catchall(z.number())),
  ends: z.record(z.string(), z.number()),
  failed_turns: z.number().int().min(0).optional(),
  unjudged_turns: z.number().int().min(0).optional(),
  empty_user_replies: z.number().int().min(0).optional(),
});
const metricsShape = z.looseObject({ groups: z.record(z.string(), groupShape), overall: groupShape });

/**
 * The conversation metrics a metrics object read from disk (metrics.json, a sweep point's) holds under
 * `conversations`: undefined when it has none (a single-turn run); an Error naming the field when they
 * are not conversation metrics.
 */
export function readConversationMetrics(metrics: unknown): ConversationMetrics | undefined | Error {
  if (typeof metrics !== 'object' || metrics === null) return undefined;
  const value = (metrics as { conversations?: unknown }).conversations;
  if (value === undefined) return undefined;
  const parsed = metricsShape.safeParse(value);
  if (!parsed.success)
    return new Error(`not conversation metrics: ${describeZodError(parsed.error, 'conversations', 3)}`);
  return parsed.data as unknown as ConversationMetrics;
}

function num(x: number | null, digits = 3): string {
  return x === null ? '-' : x.toFixed(digits);
}

/** The terminal table of a conversation run: one line per group, then overall. */
export function conversationTable(metrics: ConversationMetrics): string {
  const header =
    'group n turns answered to-answer correct asst-tok user-tok U_γ L_γ W_γ actions(t1|t2|…)'.split(' ');
  const line = (name: string, g: ConversationGroup): string[] => [
    name,
    String(g.n),
    num(g.turns, 2),
    g.answered === null ? '-' : `${Math.round(100 * g.answered)}%`,
    num(g.turns_to_answer, 2),
    num(g.correct),
    num(g.assistant_tokens, 0),
    num(g.user_tokens, 0),
    num(g.discounted.U),
    num(g.discounted.L),
    num(g.discounted.W),
    g.action_by_turn
      .map((a) =>
        Object.entries(a)
          .filter(([k, v]) => k !== 'turn' && v > 0)
          .map(([k, v]) => `${k}${v}`)
          .join(' '),
      )
      .join(' | '),
  ];
  const rows = [
    header,
    ...Object.entries(metrics.groups).map(([k, g]) => line(k, g)),
    line('overall', metrics.overall),
  ];
  const widths: number[] = [];
  for (const r of rows) {
    for (const [i, c] of r.entries()) widths[i] = Math.max(widths[i] ?? 0, c.length);
  }
  return rows
    .map((r) =>
      r
        .map((c, i) => (i === 0 || i === r.length - 1 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}
