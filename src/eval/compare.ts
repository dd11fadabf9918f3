/**
 * Comparing runs item by item: for each pair of runs (A, B), over the item ids both runs hold, the
 * Pareto comparison of their (U, L) points (overall and per data source) and the headline metrics'
 * deltas B − A computed on those shared items only. Two conversation runs are compared on their final
 * answers like this, and conversation by conversation too (conversation-compare.ts).
 */
import {
  type ConversationPairComparison,
  compareConversationPair,
  runKindMismatch,
} from './conversation-compare.js';
import { isConversationRun } from './conversation-metrics.js';
import {
  computeMetrics,
  HEADLINE_METRICS,
  type HeadlineMetric,
  type Metrics,
  type MetricsOptions,
  orderSources,
  recordPoint,
} from './metrics.js';
import { type PairedStats, pairedStats } from './paired-stats.js';
import { comparePareto, type PairedItem, type ParetoComparison } from './pareto-compare.js';
import { scoringNotes } from './scoring-compare.js';
import { approxTokenCounter } from './tokens.js';
import type { RunRecord } from './types.js';

export interface RunInput {
  name: string;
  records: readonly RunRecord[];
  /** The run's config.json (conversation runs: its simulated-user settings are compared). */
  config?: Record<string, unknown> | undefined;
}

export interface MetricDelta {
  a: number | null;
  b: number | null;
  /** b − a; null when either is null. */
  delta: number | null;
}

export type MetricDeltas = Record<HeadlineMetric, MetricDelta>;

export interface PairComparison {
  a: string;
  b: string;
  /** Ids present in both runs. */
  shared: number;
  only_a: number;
  only_b: number;
  /** Shared ids left out of the Pareto comparison: no score in either run (a failure, or no verdict yet). */
  excluded: number;
  /** Shared ids whose data_source differs between the runs (grouped under A's). */
  source_mismatch: number;
  pareto: { overall: ParetoComparison; by_source: Record<string, ParetoComparison> };
  deltas: { overall: MetricDeltas; by_source: Record<string, MetricDeltas> };
  /** W, U, L and the answer score over the items both runs scored: paired bootstrap interval and test. */
  significance: PairedStats;
  /** Both runs are conversation runs: their conversation metrics side by side and paired. */
  conversations?: ConversationPairComparison;
  /** One run holds conversations and the other single turns: why their items cannot be paired. */
  kind_mismatch?: string;
  /** The runs were scored differently (judge, reward weights, tokenizer): how (scoring-compare.ts). */
  scoring_notes?: string[];
}

export interface RunsComparison {
  runs: string[];
  /** Every pair (i < j) in the order the runs were given: A = the earlier run. */
  pairs: PairComparison[];
  /** What counted the tokens of records that carry none. */
  tokenizer: { name: string; exact: boolean; description: string; note?: string };
}

function deltas(a: Metrics['overall'] | undefined, b: Metrics['overall'] | undefined): MetricDeltas {
  const out = {} as MetricDeltas;
  for (const k of HEADLINE_METRICS) {
    const va = a?.[k] ?? null;
    const vb = b?.[k] ?? null;
    out[k] = { a: va, b: vb, delta: va === null || vb === null ? null : vb - va };
  }
  return out;
}

/** Compares two runs over their shared ids. */
export function compareRunPair(
  a: RunInput,
  b: RunInput,
  options: MetricsOptions = {},
): PairComparison & { metrics: { a: Metrics; b: Metrics } } {
  const bById = new Map<string, RunRecord>();
  for (const r of b.records) bById.set(r.id, r);
  const sharedA: RunRecord[] = [];
  const sharedB: RunRecord[] = [];
  const items: Array<PairedItem & { source: string }> = [];
  let excluded = 0;
  let mismatch = 0;
  for (const ra of a.records) {
    const rb = bById.get(ra.id);
    if (rb === undefined) continue;
    sharedA.push(ra);
    sharedB.push(rb);
    if (ra.data_source !== rb.data_source) mismatch++;
    const pa = recordPoint(ra);
    const pb = recordPoint(rb);
    if (pa === undefined || pb === undefined) {
      excluded++;
      continue;
    }
    items.push({ id: ra.id, a: pa, b: pb, source: ra.data_source });
  }
  const bySourceItems = new Map<string, PairedItem[]>();
  for (const it of items) {
    const list = bySourceItems.get(it.source);
    if (list === undefined) bySourceItems.set(it.source, [it]);
    else list.push(it);
  }
  const paretoBySource: Record<string, ParetoComparison> = {};
  for (const s of orderSources(bySourceItems.keys()))
    paretoBySource[s] = comparePareto(bySourceItems.get(s) ?? []);
  // Metrics on the shared items only, so that both sides average over the same rows. B's records are
  // grouped by their own data_source; a mismatch is reported above.
  const ma = computeMetrics(sharedA, options);
  const mb = computeMetrics(sharedB, options);
  const deltaBySource: Record<string, MetricDeltas> = {};
  for (const s of orderSources([...Object.keys(ma.by_source), ...Object.keys(mb.by_source)])) {
    deltaBySource[s] = deltas(ma.by_source[s], mb.by_source[s]);
  }
  return {
    a: a.name,
    b: b.name,
    shared: sharedA.length,
    only_a: a.records.length - sharedA.length,
    only_b: b.records.length - sharedB.length,
    excluded,
    source_mismatch: mismatch,
    pareto: { overall: comparePareto(items), by_source: paretoBySource },
    deltas: { overall: deltas(ma.overall, mb.overall), by_source: deltaBySource },
    significance: pairedStats(sharedA, sharedB),
    ...scoringParts(a, b),
    ...conversationParts(a, b, sharedA, sharedB),
    metrics: { a: ma, b: mb },
  };
}

function scoringParts(a: RunInput, b: RunInput): Pick<PairComparison, 'scoring_notes'> {
  const notes = scoringNotes(a, b);
  return notes.length === 0 ? {} : { scoring_notes: notes };
}

/** The conversation comparison of two conversation runs, or why a pair mixes the two kinds of run. */
function conversationParts(
  a: RunInput,
  b: RunInput,
  sharedA: readonly RunRecord[],
  sharedB: readonly RunRecord[],
): Pick<PairComparison, 'conversations' | 'kind_mismatch'> {
  const mismatch = runKindMismatch(a, b);
  if (mismatch !== undefined) return { kind_mismatch: mismatch };
  if (!isConversationRun(a.records)) return {};
  const runs = { a: { name: a.name, config: a.config }, b: { name: b.name, config: b.config } };
  return { conversations: compareConversationPair(sharedA, sharedB, { runs }) };
}

/** Every pair of runs (A before B in the given order). */
export function compareRuns(runs: readonly RunInput[], options: MetricsOptions = {}): RunsComparison {
  const pairs: PairComparison[] = [];
  for (let i = 0; i < runs.length; i++) {
    for (let j = i + 1; j < runs.length; j++) {
      const { metrics: _metrics, ...pair } = compareRunPair(runs[i]!, runs[j]!, options);
      pairs.push(pair);
    }
  }
  const counter = options.tokenCounter ?? approxTokenCounter;
  const tokenizer: RunsComparison['tokenizer'] = {
    name: counter.name,
    exact: counter.exact,
    description: counter.description,
  };
  if (counter.note !== undefined) tokenizer.note = counter.note;
  return { runs: runs.map((r) => r.name), pairs, tokenizer };
}
