/**
 * Scoring one model output with the reference's reward, in two phases so that a batch scorer can call
 * the judges in between:
 *
 *     const a = analyzeSample(sample);            // everything that needs no judge
 *     if (a.kind === 'pending') record = finishSample(a, await judge(a.judgeInput));
 *
 * An output the reference cannot score (no `<response>` block, no `<payoff>` block, a payoff that does
 * not validate, or no `<analyze>` block where required) gets a final record at once: reward 0, every
 * component 0, and `unscorable` saying why. No judge is needed for it.
 * Nothing here throws: an unknown data source or an unusable verdict is a `kind: 'error'` result.
 */

import { extractAnalyze, referenceFormatCheck, tagBlockSpan } from '../chain/format.js';
import type { PayoffError } from '../chain/payoff.js';
import type { PayoffMatrix } from '../game/spec.js';
import { aggregate } from './aggregate.js';
import { characterBleu } from './bleu.js';
import { codeUnitsOf } from './code-units.js';
import {
  answerTerms,
  brevityTerm,
  DATA_SOURCE_FAMILY,
  isDataSource,
  lengthTerm,
  payoffQuality,
  type TaskFamily,
  type WelfareInputs,
  welfare,
} from './components.js';
import {
  type AggregatorName,
  configId,
  type DataSource,
  DEFAULT_REWARD_CONFIG,
  type RewardConfig,
} from './config-base.js';
import { newScanState, scanUnits } from './text.js';

export interface RewardSample {
  data_source: string;
  /** The model's full output (the four tagged blocks). */
  response: string;
  ground_truth: string;
  extra_info?: Record<string, unknown>;
}

export interface RewardComponents extends WelfareInputs {
  /** The verdict normalized to [0, 1] (clip(v), or clip(v / 4) for writing). */
  judge: number;
  /** Character BLEU of the response against the ground truth (writing only). */
  bleu?: number;
}

/** Raw measures behind the length terms (useful for length metrics such as Ans./Token). */
export interface RewardLengths {
  /** Words of the extracted response (0 when there is none). */
  response_words: number;
  /** Code points of the extracted response. */
  response_chars: number;
  /** Words of the whole output. */
  output_words: number;
  /** Code points of the whole output. */
  output_chars: number;
  /** Code points of the reasoning part (everything before the first `<response>`). */
  reasoning_chars: number;
}

export interface UnscorableReason {
  /** The first requirement that failed, in the reference's order. */
  stage: 'response' | 'payoff' | 'analyze';
  message: string;
  /** The payoff parser's errors when `stage` is `payoff`. */
  errors?: PayoffError[];
}

export interface RewardRecord {
  kind: 'record';
  needsVerdict: false;
  data_source: DataSource;
  family: TaskFamily;
  /** False when the reference gives the output zero reward without judging it. */
  scorable: boolean;
  unscorable?: UnscorableReason;
  /** The configured aggregate of U and L (Cobb-Douglas √(U·L) by default). */
  score: number;
  user_reward: number;
  llm_reward: number;
  answer_reward: number;
  components: RewardComponents;
  lengths: RewardLengths;
  /** The judge's verdict on its native scale, as given; null when no judge was needed. */
  verdict: number | null;
  aggregator: AggregatorName;
  config_id: string;
}

/** What a judge needs to grade one output. */
export interface JudgeInput {
  data_source: DataSource;
  family: TaskFamily;
  /** `extra_info.single_turn_prompt` when present (the question, or for writing the hidden intent). */
  question?: string;
  /** The extracted, stripped `<response>` content: what the judge grades. */
  response: string;
  ground_truth: string;
  extra_info: Record<string, unknown>;
}

/** Everything of the score that does not depend on the verdict. */
export interface PartialScore {
  format: number;
  payoff_quality: number;
  bleu?: number;
  matrix: PayoffMatrix;
  /** How the payoff block was read: strict JSON, or the Python-literal fallback. */
  payoff_repaired: 'none' | 'python-literal';
  lengths: RewardLengths;
  ground_truth: string;
}

export interface PendingVerdict {
  kind: 'pending';
  needsVerdict: true;
  data_source: DataSource;
  family: TaskFamily;
  judgeInput: JudgeInput;
  partial: PartialScore;
  /** The configuration the analysis used; {@link finishSample} uses it unless given another. */
  config: RewardConfig;
  config_id: string;
  /**
   * The stripped `<analyze>` content, null when the output has none (kept so the matrix-reasoning check
   * does not look for it again); undefined when whoever built this did not look.
   */
  analyze?: string | null;
}

export interface ScoreError {
  kind: 'error';
  needsVerdict: false;
  code: 'unknown-data-source' | 'invalid-verdict';
  message: string;
  data_source: string;
}

export type SampleAnalysis = RewardRecord | PendingVerdict | ScoreError;

const ZERO_COMPONENTS: Readonly<RewardComponents> = Object.freeze({
  format: 0,
  payoff_quality: 0,
  a_user: 0,
  a_llm: 0,
  response_length: 0,
  whole_length: 0,
  brevity: 0,
  judge: 0,
});

// Class bits of a code unit in a ScanState (see text.ts).
const CLASS_SPACE = 1;
const CLASS_HIGH_SURROGATE = 2;

/**
 * Lengths in one pass over the output. `response` is the span of the stripped response content; the
 * reasoning part ends at the first `<response>`, which is that block's opening tag when there is one.
 */
function measure(
  output: string,
  response: { open: number; start: number; end: number } | undefined,
): RewardLengths {
  const state = newScanState();
  const units = codeUnitsOf(output);
  if (response === undefined) {
    const reasoningEnd = output.indexOf('<response>');
    const cut = reasoningEnd < 0 ? output.length : reasoningEnd;
    scanUnits(units, 0, cut, state);
    const reasoningChars = cut - state.pairs;
    scanUnits(units, cut, output.length, state);
    return {
      response_words: 0,
      response_chars: 0,
      output_words: state.words,
      output_chars: output.length - state.pairs,
      reasoning_chars: reasoningChars,
    };
  }
  const { open, start, end } = response;
  scanUnits(units, 0, open, state);
  const reasoningChars = open - state.pairs;
  scanUnits(units, open, start, state);
  // The response counted on its own starts fresh: a word (the content is stripped, so non-blank) at
  // `start` counts even when glued to the tag, and a pair completed exactly at `start` does not.
  const classBefore = state.prev;
  const wordsBefore = state.words;
  const pairsBefore = state.pairs;
  scanUnits(units, start, end, state);
  let responseWords = state.words - wordsBefore;
  let responsePairs = state.pairs - pairsBefore;
  if (start < end && (classBefore & CLASS_SPACE) === 0) responseWords++;
  if (
    start < end &&
    (classBefore & CLASS_HIGH_SURROGATE) !== 0 &&
    (output.charCodeAt(start) & 0xfc00) === 0xdc00
  )
    responsePairs--;
  scanUnits(units, end, output.length, state);
  return {
    response_words: responseWords,
    response_chars: end - start - responsePairs,
    output_words: state.words,
    output_chars: output.length - state.pairs,
    reasoning_chars: reasoningChars,
  };
}

function unscorable(
  source: DataSource,
  output: string,
  response: { open: number; start: number; end: number } | undefined,
  reason: UnscorableReason,
  config: RewardConfig,
): RewardRecord {
  return {
    kind: 'record',
    needsVerdict: false,
    data_source: source,
    family: DATA_SOURCE_FAMILY[source],
    scorable: false,
    unscorable: reason,
    score: 0,
    user_reward: 0,
    llm_reward: 0,
    answer_reward: 0,
    components: { ...ZERO_COMPONENTS },
    lengths: measure(output, response),
    verdict: null,
    aggregator: config.aggregator.name,
    config_id: configId(config),
  };
}

/**
 * Phase 1: everything that needs no judge. Returns a final record for an unscorable output, a pending
 * analysis with the judge's input otherwise, or an error for an unknown data source.
 */
export function analyzeSample(
  sample: RewardSample,
  config: RewardConfig = DEFAULT_REWARD_CONFIG,
): SampleAnalysis {
  const source = sample.data_source;
  if (!isDataSource(source)) {
    return {
      kind: 'error',
      needsVerdict: false,
      code: 'unknown-data-source',
      message: `unknown data source "${source}"; expected one of ${Object.keys(DATA_SOURCE_FAMILY).join(', ')}`,
      data_source: source,
    };
  }
  const output = sample.response;
  const span = tagBlockSpan(output, 'response');
  if (span === undefined) {
    return unscorable(
      source,
      output,
      span,
      { stage: 'response', message: 'no <response>…</response> block' },
      config,
    );
  }
  const response = output.slice(span.start, span.end);
  const check = referenceFormatCheck(output);
  if (check.payoff === undefined) {
    return unscorable(
      source,
      output,
      span,
      { stage: 'payoff', message: 'no <payoff>…</payoff> block' },
      config,
    );
  }
  if (!check.payoff.ok) {
    const stage = check.payoff.stage;
    return unscorable(
      source,
      output,
      span,
      {
        stage: 'payoff',
        message:
          stage === 'syntax'
            ? 'payoff block is neither JSON nor a Python literal'
            : 'payoff block does not validate',
        errors: check.payoff.errors,
      },
      config,
    );
  }
  const analyze = extractAnalyze(output);
  if (analyze === undefined && config.analyzeRequiredFor.includes(source)) {
    return unscorable(
      source,
      output,
      span,
      { stage: 'analyze', message: 'no <analyze>…</analyze> block' },
      config,
    );
  }

  const family = DATA_SOURCE_FAMILY[source];
  const extra = sample.extra_info ?? {};
  const question = extra.single_turn_prompt;
  const partial: PartialScore = {
    format: check.format,
    payoff_quality: payoffQuality(check.payoff.matrix),
    matrix: check.payoff.matrix,
    payoff_repaired: check.payoff.repaired,
    lengths: measure(output, span),
    ground_truth: sample.ground_truth,
  };
  if (family === 'writing') partial.bleu = characterBleu(response, sample.ground_truth);
  return {
    kind: 'pending',
    needsVerdict: true,
    data_source: source,
    family,
    judgeInput: {
      data_source: source,
      family,
      ...(typeof question === 'string' ? { question } : {}),
      response,
      ground_truth: sample.ground_truth,
      extra_info: extra,
    },
    partial,
    config,
    config_id: configId(config),
    analyze: analyze ?? null,
  };
}

/**
 * Phase 2: the record from a pending analysis and the judge's verdict on its native scale (0/1 for
 * math and ambiguity, 0–4 for writing, 0/0.5/1 for safety; values outside are clipped as the reference
 * does, for callers that asked for that: the batch refuses an input verdict outside its scale unless told
 * to clip). A verdict that is not a finite number is an error, never a silent 0.
 */
export function finishSample(
  analysis: PendingVerdict,
  verdict: number,
  config: RewardConfig = analysis.config,
): RewardRecord | ScoreError {
  if (typeof verdict !== 'number' || !Number.isFinite(verdict)) {
    return {
      kind: 'error',
      needsVerdict: false,
      code: 'invalid-verdict',
      message: `verdict must be a finite number, got ${String(verdict)}`,
      data_source: analysis.data_source,
    };
  }
  const p = analysis.partial;
  const answers = answerTerms(analysis.family, verdict, p.ground_truth, p.bleu);
  const components: RewardComponents = {
    format: p.format,
    payoff_quality: p.payoff_quality,
    a_user: answers.a_user,
    a_llm: answers.a_llm,
    response_length: lengthTerm(p.lengths.response_words, config.responseLength, config.k),
    whole_length: lengthTerm(p.lengths.output_words, config.wholeLength, config.k),
    brevity: brevityTerm(p.lengths.reasoning_chars, config.brevityScale),
    judge: answers.judge,
  };
  if (p.bleu !== undefined) components.bleu = p.bleu;
  const { user, llm } = welfare(components, config);
  return {
    kind: 'record',
    needsVerdict: false,
    data_source: analysis.data_source,
    family: analysis.family,
    scorable: true,
    score: aggregate(config.aggregator, user, llm),
    user_reward: user,
    llm_reward: llm,
    answer_reward: answers.answer_reward,
    components,
    lengths: p.lengths,
    verdict,
    aggregator: config.aggregator.name,
    config_id: configId(config),
  };
}

/** Both phases with a verdict known in advance (tests, replays, offline benchmarks). */
export function scoreWithVerdict(
  sample: RewardSample,
  verdict: number,
  config: RewardConfig = DEFAULT_REWARD_CONFIG,
): RewardRecord | ScoreError {
  const analysis = analyzeSample(sample, config);
  return analysis.kind === 'pending' ? finishSample(analysis, verdict, config) : analysis;
}
