/**
 * The run store's record: one finished data-set row. `results.jsonl` in a run folder holds one per line,
 * appended and flushed as each row finishes (see ARCHITECTURE.md, the Evaluate flow).
 */
import type { ScoredResult } from '../reward/batch.js';

/** The reward record of `gtalign reward score` for this row, or why it could not be scored. */
export type RunReward =
  | ScoredResult['record']
  | { error: { stage: 'input' | 'score' | 'judge' | 'generate'; message: string; reason?: string } };

export interface RunRecord {
  /** The data-set row's id (stable across runs, so runs can be compared item by item). */
  id: string;
  data_source: string;
  /** The row's ground truth (labels such as `harmful`, `singleAnswer###…` live here). */
  ground_truth: string;
  /** The row's `extra_info.ground_truth` when present (Abg-CoQA's `ambiguous` / `non_ambiguous`). */
  label?: string;
  /** The model's full output (the four blocks, as assembled). */
  response: string;
  /** The chosen cell (e.g. `DQ_DA`) and action (e.g. `DA`), when known. */
  cell?: string;
  action?: string;
  /** Token counts of the output (tokenizer named in the run's config). */
  tokens?: { reasoning: number; response: number; total: number };
  reward: RunReward;
  /** The assistant's trace in `assistant` mode (matrices, edits, selection, stages). */
  trace?: unknown;
  /** Wall time spent on this row, in milliseconds (generation + scoring). */
  durationMs?: number;
  /**
   * Set on a record that replaces the earlier record of its id: a resume judged its output again (run.ts)
   * or one of its conversation's turns (conversation-run.ts); the last line of an id is its record.
   */
  supersedes?: true;
}
