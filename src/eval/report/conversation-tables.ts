/**
 * The tables of conversation runs (`eval run --turns N`), shared by report.md, report.html and the
 * terminal output of `gtalign eval compare` and `eval sweep`: each run's conversation metrics per group,
 * the action mix and welfare by turn index, how conversations ended, two runs side by side with paired
 * statistics, and a sweep's turns and final accuracy against the swept value.
 */
import type { PairComparison } from '../compare.js';
import { CONVERSATION_MEASURES, type ConversationMeasure } from '../conversation-compare.js';
import {
  type ConversationGroup,
  type ConversationMetrics,
  readConversationMetrics,
} from '../conversation-metrics.js';
import { fmt, pct, signed, type Table } from './table.js';
import { pairedVerdict } from './tables.js';

export interface NamedConversations {
  name: string;
  conversations: ConversationMetrics;
}

/** The conversation metrics a metrics object holds, or undefined (none, or not readable as such). */
export function conversationsOf(metrics: unknown): ConversationMetrics | undefined {
  const c = readConversationMetrics(metrics);
  return c instanceof Error ? undefined : c;
}

function scopes(m: ConversationMetrics): Array<[string, ConversationGroup]> {
  return [...Object.entries(m.groups), ['overall', m.overall]];
}

/** The headline numbers of a group: label, value, digits. */
const HEADLINES: ReadonlyArray<[string, (g: ConversationGroup) => number | null, number]> = [
  ['conversations', (g) => g.n, 0],
  ['turns', (g) => g.turns, 2],
  ['answered', (g) => g.answered, 3],
  ['turns to answer', (g) => g.turns_to_answer, 2],
  ['correct', (g) => g.correct, 3],
  ['assistant tokens', (g) => g.assistant_tokens, 1],
  ['user tokens', (g) => g.user_tokens, 1],
  ['U_γ', (g) => g.discounted.U, 3],
  ['L_γ', (g) => g.discounted.L, 3],
  ['W_γ', (g) => g.discounted.W, 3],
];

/** Each run's conversation metrics per group (`SOURCE/PERSONA`, `all/PERSONA`) and overall. */
export function conversationGroupsTable(runs: readonly NamedConversations[]): Table {
  const rows: string[][] = [];
  for (const r of runs) {
    for (const [scope, g] of scopes(r.conversations)) {
      rows.push([
        r.name,
        scope,
        String(g.n),
        fmt(g.turns, 2),
        pct(g.answered),
        fmt(g.turns_to_answer, 2),
        fmt(g.correct),
        String(g.correct_n),
        fmt(g.assistant_tokens, 1),
        fmt(g.user_tokens, 1),
        fmt(g.discounted.U),
        fmt(g.discounted.L),
        fmt(g.discounted.W),
        String(g.discounted.n),
      ]);
    }
  }
  return {
    head: [
      'run',
      'group',
      'n',
      'turns',
      'answered',
      'turns to answer',
      'correct',
      'correct n',
      'assistant tokens',
      'user tokens',
      'U_γ',
      'L_γ',
      'W_γ',
      'discounted n',
    ],
    rows,
    numeric: [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13],
  };
}

/** The actions seen at any turn of the runs, DA, CQ, AQ first. */
function actionKeys(groups: readonly ConversationGroup[]): string[] {
  const keys = new Set(['DA', 'CQ', 'AQ']);
  for (const g of groups) for (const a of g.action_by_turn) for (const k of Object.keys(a)) keys.add(k);
  keys.delete('turn');
  return [...keys];
}

/** Per run (overall) and turn index: how many turns were taken, their actions, and their mean U, L, W. */
export function turnIndexTable(runs: readonly NamedConversations[]): Table {
  const keys = actionKeys(runs.map((r) => r.conversations.overall));
  const rows: string[][] = [];
  for (const r of runs) {
    const g = r.conversations.overall;
    for (const a of g.action_by_turn) {
      const taken = keys.reduce((s, k) => s + (a[k] ?? 0), 0);
      const w = g.per_turn.find((p) => p.turn === a.turn);
      rows.push([
        r.name,
        String(a.turn),
        String(taken),
        ...keys.map((k) => String(a[k] ?? 0)),
        fmt(w?.U),
        fmt(w?.L),
        fmt(w?.W),
        String(w?.n ?? 0),
      ]);
    }
  }
  const head = ['run', 'turn', 'turns taken', ...keys, 'U', 'L', 'W', 'scored'];
  return { head, rows, numeric: head.map((_, i) => i).slice(1) };
}

/** How the conversations ended, per run and group. */
export function endsTable(runs: readonly NamedConversations[]): Table {
  const reasons = new Set<string>();
  for (const r of runs)
    for (const [, g] of scopes(r.conversations)) for (const k of Object.keys(g.ends)) reasons.add(k);
  const keys = [...reasons].sort();
  const rows = runs.flatMap((r) =>
    scopes(r.conversations).map(([scope, g]) => [
      r.name,
      scope,
      String(g.n),
      ...keys.map((k) => String(g.ends[k] ?? 0)),
    ]),
  );
  const head = ['run', 'group', 'n', ...keys];
  return { head, rows, numeric: head.map((_, i) => i).slice(2) };
}

/** Two conversation runs side by side on their shared conversations: A, B, Δ overall, Δ per group. */
export function conversationDeltaTable(pair: PairComparison): Table | undefined {
  const c = pair.conversations;
  if (c === undefined) return undefined;
  const groups = [...new Set([...Object.keys(c.metrics.a.groups), ...Object.keys(c.metrics.b.groups)])];
  const value = (
    m: ConversationMetrics,
    group: string | undefined,
    get: (g: ConversationGroup) => number | null,
  ) => {
    const g = group === undefined ? m.overall : m.groups[group];
    return g === undefined ? null : get(g);
  };
  const delta = (a: number | null, b: number | null) => (a === null || b === null ? null : b - a);
  return {
    head: ['measure', 'A', 'B', 'Δ overall', ...groups.map((g) => `Δ ${g}`)],
    rows: HEADLINES.map(([label, get, digits]) => {
      const a = value(c.metrics.a, undefined, get);
      const b = value(c.metrics.b, undefined, get);
      return [
        label,
        fmt(a, digits),
        fmt(b, digits),
        signed(delta(a, b), digits),
        ...groups.map((g) => signed(delta(value(c.metrics.a, g, get), value(c.metrics.b, g, get)), digits)),
      ];
    }),
    numeric: [1, 2, 3, ...groups.map((_, i) => i + 4)],
  };
}

const MEASURE_LABEL: Record<ConversationMeasure, string> = {
  turns: 'turns',
  turns_to_answer: 'turns to answer',
  correct: 'correct',
  user_tokens: 'user tokens',
  assistant_tokens: 'assistant tokens',
  discounted_W: 'W_γ',
  discounted_U: 'U_γ',
  discounted_L: 'L_γ',
};

/** Whether the conversations of B differ from A's by more than noise, per measure. */
export function conversationSignificanceTable(pair: PairComparison): Table | undefined {
  const c = pair.conversations;
  if (c === undefined) return undefined;
  const first = c.significance.turns.difference;
  return {
    head: ['measure', 'n', 'A', 'B', 'Δ B − A', `${Math.round(first.level * 100)}% interval`, 'p', 'verdict'],
    rows: CONVERSATION_MEASURES.map((m) => {
      const s = c.significance[m];
      const d = s.difference;
      const digits = m.endsWith('tokens') ? 1 : 3;
      return [
        MEASURE_LABEL[m],
        String(s.n),
        fmt(s.meanA, digits),
        fmt(s.meanB, digits),
        signed(s.n === 0 ? null : d.estimate, digits),
        s.n === 0 ? '–' : `[${signed(d.low, digits)}, ${signed(d.high, digits)}]`,
        s.n === 0 ? '–' : s.test.pValue.toPrecision(2),
        pairedVerdict(s, pair),
      ];
    }),
    numeric: [1, 2, 3, 4, 6],
  };
}

/** A sweep point as the conversation sweep table reads it. */
export interface ConversationSweepPoint {
  value: number;
  metrics: unknown;
}

/**
 * A conversation sweep's points: turns, turns to answer and final accuracy (and the user's effort and
 * W_γ) against the swept value; undefined when no point holds conversation metrics.
 */
export function conversationSweepTable(
  param: string,
  points: readonly ConversationSweepPoint[],
): Table | undefined {
  const withConversations = [...points]
    .sort((a, b) => a.value - b.value)
    .flatMap((p) => {
      const c = conversationsOf(p.metrics);
      return c === undefined ? [] : [{ value: p.value, g: c.overall }];
    });
  if (withConversations.length === 0) return undefined;
  return {
    head: [param, 'conversations', 'turns', 'answered', 'turns to answer', 'correct', 'user tokens', 'W_γ'],
    rows: withConversations.map(({ value, g }) => [
      String(value),
      String(g.n),
      fmt(g.turns, 2),
      pct(g.answered),
      fmt(g.turns_to_answer, 2),
      fmt(g.correct),
      fmt(g.user_tokens, 1),
      fmt(g.discounted.W),
    ]),
    numeric: [0, 1, 2, 3, 4, 5, 6, 7],
  };
}

/** How the conversation significance table was computed, for the line under it. */
export function conversationSignificanceNote(pair: PairComparison): string {
  const s = pair.conversations?.significance.turns;
  if (s === undefined) return '';
  const d = s.difference;
  const t = s.test;
  return `Paired percentile bootstrap of the mean difference over the shared conversations that have the measure in both runs (${d.resamples} resamples, seed ${d.seed}); p from the paired sign-flip test (${t.method === 'exact' ? 'exact' : `${t.permutations} random sign patterns, seed ${t.seed}`}). "within noise": the interval covers 0, or p > 0.05 (a handful of items gives a bootstrap interval narrower than the truth).`;
}
