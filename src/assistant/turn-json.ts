/**
 * A GTAlign turn as JSON for HTTP and SDK clients: the `gtalign` object (action, cell, both matrices, the
 * policy, tokens per stage), OpenAI-style usage, and the trimming of streamed response text. No I/O.
 */

import type { PayoffMatrix } from '../game/spec.js';
import type { TurnResult } from './turn.js';

/** Emits streamed response text with the same trimming as `TurnResult.response` (leading and trailing whitespace). */
export interface TrimmedEmitter {
  push(text: string): void;
  /** Everything emitted so far. */
  readonly sent: string;
}

export function createTrimmedEmitter(emit: (text: string) => void): TrimmedEmitter {
  let started = false;
  let held = '';
  let sent = '';
  return {
    push(text: string) {
      let t = text;
      if (!started) {
        t = t.replace(/^\s+/, '');
        if (t === '') return;
        started = true;
      }
      // Trailing whitespace is held until more text follows: the final response is trimmed.
      const all = held + t;
      const body = all.replace(/\s+$/, '');
      held = all.slice(body.length);
      if (body !== '') {
        sent += body;
        emit(body);
      }
    },
    get sent() {
      return sent;
    },
  };
}

export interface TurnUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  prompt_tokens_details: { cached_tokens: number };
}

/** OpenAI-style usage: the sum over the turn's model calls. */
export function usageOf(result: TurnResult): TurnUsage {
  let prompt = 0;
  let completion = 0;
  let cached = 0;
  for (const s of result.trace.stages) {
    prompt += s.promptTokens;
    completion += s.completionTokens;
    cached += s.cachedPromptTokens;
  }
  return {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: prompt + completion,
    prompt_tokens_details: { cached_tokens: cached },
  };
}

/** The `gtalign` object of a response (plain JSON). */
export interface GtalignObject {
  /** The assistant action carried out, e.g. `DA`. */
  action: string;
  /** Its cell, e.g. `DQ_DA`. */
  cell: string;
  /** The model's matrix as parsed from stage 1. */
  matrix_before: PayoffMatrix;
  /** The matrix after the policy's edits, as shown to the model in stage 2. */
  matrix_after: PayoffMatrix;
  /** The policy's label. */
  policy: string;
  selection: { rule: string; selected: string[]; reason: string };
  /** The cell the model's own analysis names (model analysis only). */
  model_choice?: string;
  analysis: 'model' | 'solver';
  continuation: 'continue' | 'reask';
  /** Tokens per model call (`stage1`, `stage1-retry`, `stage2`, `reask`). */
  tokens: Record<string, { prompt: number; cached_prompt: number; completion: number }>;
  timings_ms: { stage1: number; stage2: number; total: number };
  format_problems: string[];
  notes: string[];
}

export function gtalignObject(result: TurnResult): GtalignObject {
  const t = result.trace;
  const tokens: Record<string, { prompt: number; cached_prompt: number; completion: number }> = {};
  for (const s of t.stages) {
    tokens[s.name] = {
      prompt: s.promptTokens,
      cached_prompt: s.cachedPromptTokens,
      completion: s.completionTokens,
    };
  }
  // Field by field, in the order JSON shows them: an object literal with a spread inside is slow to make.
  const g = {
    action: result.action,
    cell: result.cell,
    matrix_before: t.matrixBefore,
    matrix_after: t.matrixAfter,
    policy: t.policy,
    selection: { rule: t.selection.rule, selected: t.selection.selected, reason: t.selection.reason },
  } as GtalignObject;
  if (t.modelChoice !== undefined) g.model_choice = t.modelChoice;
  g.analysis = t.analysisMode;
  g.continuation = t.continuation;
  g.tokens = tokens;
  g.timings_ms = {
    stage1: Math.round(t.timings.stage1Ms),
    stage2: Math.round(t.timings.stage2Ms),
    total: Math.round(t.timings.totalMs),
  };
  g.format_problems = t.formatProblems;
  g.notes = t.notes;
  return g;
}
