/**
 * One GTAlign turn with pricing-policy steering and true continuation (GTALIGN.md §5, ARCHITECTURE.md):
 *
 * 1. Stage 1: the instruction prompt (with the history) goes to the model, which writes `<thinking>` and
 *    `<payoff>` and stops at `</payoff>` (under a grammar ending at the payoff block when the backend takes
 *    one; a server that silently ignores it is caught by the constraint's check).
 * 2. The matrix is parsed. If it does not parse: one constrained retry when the backend takes a constraint
 *    (whether or not the first try was constrained), otherwise a `TurnError` that shows the text; not when
 *    the output was cut at its length and the retry would run into the same limit. A
 *    constraint is a means, validation is the judge: an output that breaks the constraint (the server
 *    ignored it) but parses and validates goes on, and the trace records `constraint_ignored`.
 * 3. The policy's edits are applied and the result quantized to two decimals; the rule selects a cell of
 *    exactly those numbers.
 * 4. Stage 2 continues the same assistant message from the stage-1 text with the payoff block replaced by
 *    the edited matrix (one cell per line, keys in the spec's payoff key order; the model's own text is
 *    kept byte for byte when the policy changes nothing). In `model` analysis the model writes `<analyze>`
 *    and `<response>`; in `solver` analysis gtalign writes `<analyze>` and the model only `<response>`.
 *    `reask` continuation instead sends a new request: the question plus a one-line instruction for the
 *    chosen action, as the reference does (the model's reasoning is lost, no cache reused, and gtalign
 *    writes the `<analyze>` block of the assembled output).
 *
 * The action reported is gtalign's selection, except in `model` analysis with `continue`, where the response
 * follows the model's own analysis: the cell it names (`trace.modelChoice`) when it names one.
 */

import { readAnalyzeChoice } from '../chain/analyze.js';
import { solverAnalysis } from '../chain/analyze-write.js';
import { BLOCK_NAMES, extractBlocks, isWellFormed, openTag } from '../chain/blocks.js';
import { buildGbnf, buildRegex, type GrammarOptions } from '../chain/grammar.js';
import { parsePayoff } from '../chain/payoff.js';
import { renderMatrix, replacePayoffContent } from '../chain/payoff-edit.js';
import { type ConversationTurn, DEFAULT_ACTION_DESCRIPTIONS } from '../chain/prompt.js';
import { buildProfileMessages, type PromptProfile, PromptTemplateError } from '../chain/prompt-profile.js';
import { reaskInstruction } from '../chain/reask.js';
import { createBlockStream } from '../chain/stream.js';
import { matrixProblems } from '../game/matrix.js';
import {
  type SelectionResult,
  type SelectionRule,
  type SelectionRuleName,
  selectCell,
} from '../game/select.js';
import { DEFAULT_SPEC, type GameSpec, type PayoffMatrix, splitCellKey } from '../game/spec.js';
import type { ChatMessage, ChatModel, Constraint, GenerateRequest, GenerateResult } from '../llm/types.js';
import { type CellDiff, diffMatrices, editsAreZero, steeredMatrix } from '../steering/apply.js';
import { compilePolicy, type PayoffEdits } from '../steering/compile.js';
import { SteeringError } from '../steering/errors.js';
import type { SteeringPolicy } from '../steering/policy.js';
import type { ActionProfile, ProfileInput } from '../steering/profile.js';
import { TurnError, textExcerpt } from './errors.js';
import { createReasoningStream, type ReasoningStream } from './reasoning-stream.js';

/** The token limit as a user sets it: the CLI's flag and the library's option, so either reader knows. */
function tokenLimit(n: number | undefined): string {
  return `${n === undefined ? '' : `${n} tokens, `}--max-tokens in the CLI, maxTokens in the library`;
}

/** Where an output that ended at its length was cut (undefined when it was not). */
function cutAtOf(result: GenerateResult): 'tokens' | 'context' | undefined {
  if (result.finishReason !== 'length') return undefined;
  return result.limitedBy === 'context' ? 'context' : 'tokens';
}

/** What ended an output cut at its length: the token limit, or the model's context (then the limit is no help). */
function lengthLimit(result: GenerateResult, n: number | undefined): string {
  return result.limitedBy === 'context'
    ? "the model's context, --context-size in the CLI, contextSize in the library"
    : tokenLimit(n);
}

export type AnalysisMode = 'model' | 'solver';
export type ContinuationMode = 'continue' | 'reask' | 'auto';
export type StageName = 'stage1' | 'stage1-retry' | 'stage2' | 'reask';

export interface TurnOptions {
  model: ChatModel;
  question: string;
  /** Earlier turns, oldest first (assistant turns hold the response text only). */
  history?: readonly ConversationTurn[];
  spec?: GameSpec;
  /** A resolved steering policy, or edits compiled already (default: no edits). */
  policy?: SteeringPolicy | PayoffEdits;
  /** Action-profile overrides for pricing policies (see docs/steering.md). */
  profile?: ProfileInput | ActionProfile;
  /** Selection rule (default `sum`). */
  rule?: SelectionRuleName | SelectionRule;
  /** Who writes `<analyze>` (default `model`). */
  analysis?: AnalysisMode;
  /** How stage 2 is produced (default `auto`: `continue` when the backend can, else `reask`). */
  continuation?: ContinuationMode;
  /** Use a grammar/regex constraint when the backend takes one (default true). */
  constrain?: boolean;
  /** Bounds written into the grammars (e.g. short blocks and one-digit payoffs for a tiny model). */
  grammar?: Pick<GrammarOptions, 'maxChars' | 'maxWhitespace' | 'integerDigits'>;
  /** Token limit of each stage (a number applies to both; default 1024 each). */
  maxTokens?: number | { stage1?: number; stage2?: number };
  temperature?: number;
  /** Sampling seed; the stage-1 retry uses seed + 1. */
  seed?: number;
  signal?: AbortSignal;
  /**
   * The prompt profile of stage 1 (default `gtalign`, the project's wording, with optional per-action and
   * per-user-type descriptions); `{profile: 'trained', template}` sends a checkpoint's own layout (see
   * `loadPromptTemplate`), `{profile: 'messages', messages}` sends exactly those messages.
   */
  prompt?: PromptProfile;
  /** Streams the text of `<response>` as it is generated (the backend's streaming mode is used). */
  onResponseText?: (text: string) => void;
  /** Called once the matrix is steered and the cell selected, before stage 2 starts. */
  onSteered?: (steering: SteeringTrace) => void;
  /**
   * Streams the reasoning (the `<thinking>` text as stage 1 writes it, then the `<analyze>` text; see
   * reasoning-stream.ts). Stage 1 then uses the backend's streaming mode too.
   */
  onReasoningText?: (text: string) => void;
  /**
   * Called with each stage's trace as soon as its call has answered, before its output is read: a turn
   * that fails or is abandoned later has still paid for these tokens.
   */
  onStage?: (stage: StageTrace) => void;
}

export interface StageTrace {
  name: StageName;
  promptTokens: number;
  cachedPromptTokens: number;
  completionTokens: number;
  durationMs: number;
  finishReason: GenerateResult['finishReason'];
  /** The kind of constraint the stage ran under, if any. */
  constraint?: Constraint['kind'];
  /** The server ignored the constraint (how the output breaks it), and the output was valid anyway. */
  constraintIgnored?: string;
}

/** A stage whose server ignored the constraint but whose output validated (`constraint_ignored`). */
export interface ConstraintIgnored {
  stage: StageName;
  /** How the output breaks the constraint. */
  violation: string;
}

/** What steering did: known after stage 1, before stage 2. */
export interface SteeringTrace {
  /** The policy's label (preset name or description). */
  policy: string;
  /** The model's matrix as parsed from stage 1. */
  matrixBefore: PayoffMatrix;
  /** The edited matrix, quantized to two decimals: exactly what stage 2 shows the model. */
  matrixAfter: PayoffMatrix;
  edits: PayoffEdits;
  /** Cell by cell, after − before. */
  diff: CellDiff[];
  selection: SelectionResult;
}

export interface TurnTrace extends SteeringTrace {
  /** Stage 1's text as the model wrote it, through `</payoff>` (of the retry, when there was one). */
  stage1Text: string;
  /** The `<analyze>` content the model wrote (`model` analysis with `continue` only). */
  modelAnalysis?: string;
  /** The cell the model's analysis names, when it names one. */
  modelChoice?: string;
  /** Who wrote `<analyze>` in the end (`solver` whenever the turn was re-asked). */
  analysisMode: AnalysisMode;
  /** The continuation actually used. */
  continuation: 'continue' | 'reask';
  /** Why that continuation: asked for, or what `auto` found the backend can do (and how it was chosen). */
  continuationReason: string;
  /** `constraint_ignored`: stages whose output broke the constraint but validated (absent when none). */
  constraintIgnored?: ConstraintIgnored[];
  stages: StageTrace[];
  timings: { stage1Ms: number; steerMs: number; stage2Ms: number; totalMs: number };
  /** Format problems of the assembled output (empty when it is a well-formed four-block chain). */
  formatProblems: string[];
  /** Things worth knowing about how the turn ran (a retry, a fallback, a disagreement). */
  notes: string[];
}

export interface TurnResult {
  /** The text of `<response>`, trimmed. */
  response: string;
  /** The assistant action the response carries out (a column, e.g. `DA`). */
  action: string;
  /** The cell of that action (e.g. `DQ_DA`). */
  cell: string;
  /** The whole four-block output as assembled (stage 1 with the edited matrix, then stage 2). */
  output: string;
  trace: TurnTrace;
}

const DEFAULT_MAX_TOKENS = 1024;
/** The grammar's bounds for a model of random weights when the caller gives none (the demo's). */
export const RANDOM_WEIGHTS_GRAMMAR: GrammarOptions = { maxChars: 40, maxWhitespace: 2, integerDigits: 1 };
const PAYOFF_STOP = '</payoff>';
const RESPONSE_STOP = '</response>';

function isEdits(policy: SteeringPolicy | PayoffEdits): policy is PayoffEdits {
  return !('kind' in policy) && 'cells' in policy;
}

function stageLimit(maxTokens: TurnOptions['maxTokens'], stage: 'stage1' | 'stage2'): number {
  const n = typeof maxTokens === 'number' ? maxTokens : (maxTokens?.[stage] ?? DEFAULT_MAX_TOKENS);
  if (!Number.isSafeInteger(n) || n < 1) {
    throw new TurnError('options', `maxTokens for ${stage} must be an integer >= 1, got ${n}`);
  }
  return n;
}

// Built constraints by spec and options: a server answering every request with a turn would otherwise
// render the same grammar twice per request.
const builtConstraints = new WeakMap<GameSpec, Map<string, Readonly<Constraint>>>();

/** The parts of the chain a stage is constrained to. */
const STAGE1_PART = { endAt: 'payoff' } as const;
const ANALYZE_ON_PART = { startAt: 'analyze' } as const;
const RESPONSE_ON_PART = { startAt: 'response' } as const;
type ChainPart = typeof STAGE1_PART | typeof ANALYZE_ON_PART | typeof RESPONSE_ON_PART;

/** The constraint a backend can take for this part of the chain, or undefined. */
function constraintFor(
  model: ChatModel,
  spec: GameSpec,
  grammar: TurnOptions['grammar'],
  part: ChainPart,
): Constraint | undefined {
  const kind = model.capabilities.gbnf ? 'gbnf' : model.capabilities.regex ? 'regex' : undefined;
  if (kind === undefined) return undefined;
  let bySpec = builtConstraints.get(spec);
  if (bySpec === undefined) {
    bySpec = new Map();
    builtConstraints.set(spec, bySpec);
  }
  const key = `${kind} ${'endAt' in part ? `end ${part.endAt}` : `start ${part.startAt}`} ${grammar === undefined ? '{}' : JSON.stringify(grammar)}`;
  let constraint = bySpec.get(key);
  if (constraint === undefined) {
    const options: GrammarOptions = { ...grammar, ...part };
    // No `check` for GBNF: llama.cpp enforces grammars itself, and it counts a byte sequence that is not
    // valid UTF-8 as one character where the decoded text has several U+FFFD, so a RegExp check could reject
    // a grammatical output. The turn validates what it needs (the matrix parses, a <response> exists) anyway.
    constraint = Object.freeze(
      kind === 'gbnf'
        ? { kind, grammar: buildGbnf(spec, options) }
        : { kind, pattern: buildRegex(spec, options) },
    );
    bySpec.set(key, constraint);
  }
  return constraint;
}

function stageTrace(name: StageName, result: GenerateResult, constraint?: Constraint): StageTrace {
  const trace: StageTrace = {
    name,
    promptTokens: result.usage.promptTokens,
    cachedPromptTokens: result.usage.cachedPromptTokens,
    completionTokens: result.usage.completionTokens,
    durationMs: result.durationMs,
    finishReason: result.finishReason,
  };
  if (constraint !== undefined) trace.constraint = constraint.kind;
  return trace;
}

/**
 * A stage's request, its fields set one by one: V8 builds an object from conditional spreads slowly (the
 * trace built that way was most of a turn's own CPU time, see the end of `runTurn`).
 */
function stageRequest(
  options: TurnOptions,
  messages: ChatMessage[],
  head: { assistantPrefix?: string; stop?: string },
  maxTokens: number,
  seed: number | undefined,
  constraint: Constraint | undefined,
): GenerateRequest {
  const request: GenerateRequest = { messages };
  if (head.assistantPrefix !== undefined) request.assistantPrefix = head.assistantPrefix;
  if (head.stop !== undefined) request.stop = [head.stop];
  request.maxTokens = maxTokens;
  if (options.temperature !== undefined) request.temperature = options.temperature;
  if (options.signal !== undefined) request.signal = options.signal;
  if (seed !== undefined) request.seed = seed;
  if (constraint !== undefined) {
    request.constraint = constraint;
    request.onConstraintViolation = 'report';
  }
  return request;
}

const STAGE1_HEAD = { stop: PAYOFF_STOP };
const NO_HEAD = {};

/**
 * A stage-2 reply that started the chain over instead of continuing the prefix (a chat template that
 * closed the assistant turn and opened a new one, often with a `<think>` block): what gives it away.
 */
export function restartOf(tail: string): string | undefined {
  const head = tail.trimStart();
  if (head.startsWith('<think>')) return 'it begins with a <think> block';
  // Only where a chain's blocks stand: a reply may name the tags in its <analyze> reasoning or in the
  // <response> text ("wrap it in <thinking>"), which is no restart.
  const response = tail.indexOf('<response>');
  const chain = (response >= 0 ? tail.slice(0, response) : tail).replace(/<analyze>[\s\S]*?<\/analyze>/g, '');
  for (const tag of ['<thinking>', '<payoff>']) {
    if (chain.includes(tag)) return `it writes the prefix's ${tag} block again`;
  }
  return undefined;
}

/** What to do about a restarted stage 2, for the server kind the model id names. */
function restartFix(modelId: string): string {
  const vendor = modelId.slice(0, modelId.indexOf(':'));
  const server =
    vendor === 'llamacpp'
      ? 'start llama-server with --jinja and without --no-prefill-assistant (a thinking model: also --reasoning-budget 0)'
      : vendor === 'vllm' || vendor === 'sglang'
        ? `make sure the ${vendor === 'vllm' ? 'vLLM' : 'SGLang'} server honours continue_final_message and chat_template_kwargs, or start it with a --chat-template that continues a final assistant message without opening a <think> block`
        : vendor === 'ollama'
          ? 'use a model whose Ollama template continues a trailing assistant message (the official ones do) and that does not think'
          : 'use a server that continues a trailing assistant message';
  return (
    `gtalign sends chat_template_kwargs {"enable_thinking": false} when continuing on vLLM, SGLang and llama.cpp ` +
    `(unless --keep-thinking); ${server}; or use --continuation reask`
  );
}

/** Stage 1's request, streamed when its reasoning is (the thinking text only: see reasoning-stream.ts). */
async function callStage1(
  model: ChatModel,
  request: GenerateRequest,
  reasoning: ReasoningStream | undefined,
): Promise<GenerateResult> {
  if (reasoning === undefined) return model.generate(request);
  const thinking = reasoning.stage(['thinking'], 'payoff');
  const result = await call(model, request, thinking.push);
  thinking.end();
  return result;
}

/** One text callback feeding two, either of which may be absent. */
function both(
  a: ((text: string) => void) | undefined,
  b: ((text: string) => void) | undefined,
): ((text: string) => void) | undefined {
  if (a === undefined || b === undefined) return a ?? b;
  return (text) => {
    a(text);
    b(text);
  };
}

/** Runs one request, streaming text to `onText` when given (the backend's streaming mode), else not. */
async function call(
  model: ChatModel,
  request: GenerateRequest,
  onText?: (text: string) => void,
): Promise<GenerateResult> {
  if (onText === undefined) return model.generate(request);
  for await (const event of model.stream(request)) {
    if (event.type === 'text') onText(event.text);
    else return event.result;
  }
  throw new TurnError('response', `${model.id}: the stream ended without a result`);
}

interface Stage1 {
  /** The stage-1 text through `</payoff>`. */
  text: string;
  matrix: PayoffMatrix;
  contentStart: number;
  contentEnd: number;
}

/**
 * Reads the payoff block of a stage-1 result; returns the problems when there is no valid matrix. `limit` is
 * the stage's token limit, named when the model ran into it before `</payoff>`.
 */
function readStage1(
  result: GenerateResult,
  spec: GameSpec,
  limit: number,
): Stage1 | { problems: string[]; text: string } {
  const raw = result.stoppedBy === PAYOFF_STOP ? result.text + PAYOFF_STOP : result.text;
  // A server that ignored the stop string may have written on: keep the text through the first `</payoff>`.
  const close = raw.indexOf(PAYOFF_STOP);
  const text = close >= 0 ? raw.slice(0, close + PAYOFF_STOP.length) : raw;
  const cut = close < 0 && result.finishReason === 'length';
  const payoff = extractBlocks(text).blocks.payoff;
  if (cut) {
    return {
      problems: [
        `the output reached the stage-1 ${result.limitedBy === 'context' ? 'context' : 'token'} limit (${lengthLimit(result, limit)}) before </payoff>${payoff === undefined ? ', with no <payoff> block yet' : ''}`,
      ],
      text,
    };
  }
  if (text.trim() === '') return { problems: ['the model returned no text'], text };
  if (payoff === undefined) return { problems: ['no <payoff> block'], text };
  if (!payoff.closed) return { problems: ['the <payoff> block is not closed'], text };
  const parsed = parsePayoff(payoff.content, spec);
  if (!parsed.ok) {
    return {
      problems: parsed.errors.map(
        (e) =>
          `${e.path === '' ? 'payoff' : e.path}: ${e.message}${e.position === undefined ? '' : ` at offset ${payoff.contentStart + e.position}`}`,
      ),
      text,
    };
  }
  // Python-style parsing lets NaN and Infinity through; a game needs finite payoffs.
  const problems = matrixProblems(parsed.matrix, spec);
  if (problems.length > 0) return { problems: problems.map((p) => p.message), text };
  return { text, matrix: parsed.matrix, contentStart: payoff.contentStart, contentEnd: payoff.contentEnd };
}

/**
 * Whether `text` is the start of `</response>` (from `</` on, not all of it): what a reply cut at its
 * length inside the closing tag ends with, which is not the user's text.
 */
function isCutCloseTag(text: string): boolean {
  return text.length >= 2 && text.length < RESPONSE_STOP.length && RESPONSE_STOP.startsWith(text);
}

/** The text of a `<response>` block; an unclosed one without the start of the closing tag it was cut in. */
function responseContent(block: { content: string; closed: boolean }): string {
  const { content } = block;
  const open = content.lastIndexOf('</');
  if (!block.closed && open >= 0 && isCutCloseTag(content.slice(open))) return content.slice(0, open).trim();
  return content.trim();
}

/** Streams the content of `<response>` out of stage-2 text. */
function responseStreamer(onText: ((text: string) => void) | undefined): {
  push(text: string): void;
  end(): void;
  readonly fn: ((text: string) => void) | undefined;
} {
  if (onText === undefined) return { push() {}, end() {}, fn: undefined };
  const blocks = createBlockStream();
  const emit = (events: ReturnType<typeof blocks.push>, atEnd = false) => {
    for (const e of events) {
      if (e.type !== 'text' || e.block !== 'response') continue;
      // At the end only a held-back partial tag is flushed: the start of `</response>` is not text.
      if (atEnd && isCutCloseTag(e.text)) continue;
      onText(e.text);
    }
  };
  const push = (text: string) => emit(blocks.push(text));
  return { push, end: () => emit(blocks.end(), true), fn: push };
}

/**
 * Streams a re-asked reply. A model trained on the format may write the whole chain again; then only its
 * `<response>` content reaches the user, as in the non-streaming result. A reply that does not open with
 * a block tag is the response itself and streams as it comes. The decision waits for the first few
 * non-blank characters.
 */
function reaskStreamer(onText: ((text: string) => void) | undefined): {
  end(): void;
  readonly fn: ((text: string) => void) | undefined;
} {
  if (onText === undefined) return { end() {}, fn: undefined };
  const tags = BLOCK_NAMES.map(openTag);
  const blocks = responseStreamer(onText);
  let mode: 'undecided' | 'plain' | 'blocks' = 'undecided';
  let held = '';
  const push = (text: string) => {
    if (mode === 'plain') return onText(text);
    if (mode === 'blocks') return blocks.push(text);
    held += text;
    const head = held.trimStart();
    if (head === '') return;
    if (tags.some((tag) => head.startsWith(tag))) mode = 'blocks';
    else if (tags.some((tag) => tag.startsWith(head)))
      return; // still possibly the start of a tag
    else mode = 'plain';
    const out = held;
    held = '';
    if (mode === 'blocks') blocks.push(out);
    else onText(out);
  };
  const end = () => {
    if (mode === 'blocks') blocks.end();
    else if (held !== '') onText(held);
  };
  return { end, fn: push };
}

/** Runs one GTAlign turn (see the module comment). */
export function runTurn(options: TurnOptions): Promise<TurnResult> {
  // A model with one sequence keeps the turn's stages together (see ChatModel.exclusive).
  const { model } = options;
  return model.exclusive === undefined
    ? turnOf(options)
    : model.exclusive(() => turnOf(options), options.signal);
}

async function turnOf(options: TurnOptions): Promise<TurnResult> {
  const started = performance.now();
  const { model } = options;
  const spec = options.spec ?? DEFAULT_SPEC;
  const analysisWanted = options.analysis ?? 'model';
  const wanted = options.continuation ?? 'auto';
  const constrain = options.constrain ?? true;
  // A model of random weights (the offline one) writes noise that only the grammar bounds: with no bound
  // of the caller's, its text blocks are kept short, or it may fill its token limit inside one block and
  // fail the turn (as `gtalign chat` on the tiny model did for one seed in four).
  const grammarOptions = options.grammar ?? (model.randomWeights ? RANDOM_WEIGHTS_GRAMMAR : undefined);
  const stage1Max = stageLimit(options.maxTokens, 'stage1');
  const stage2Max = stageLimit(options.maxTokens, 'stage2');
  if (options.question.trim() === '') throw new TurnError('options', 'the question is empty');
  if (wanted === 'continue' && !model.capabilities.continuation) {
    throw new TurnError(
      'options',
      `${model.id} cannot continue an assistant turn${model.about === undefined ? '' : ` (${model.about})`}; use continuation "reask" or "auto"`,
    );
  }
  const continuation: 'continue' | 'reask' =
    wanted === 'auto' ? (model.capabilities.continuation ? 'continue' : 'reask') : wanted;
  const notes: string[] = [];
  const chosenBy = model.about === undefined ? '' : ` (${model.about})`;
  const continuationReason =
    wanted !== 'auto'
      ? `continuation "${wanted}" was asked for`
      : continuation === 'continue'
        ? `auto: ${model.id} can continue an assistant turn${chosenBy}`
        : `auto: ${model.id} cannot continue an assistant turn${chosenBy}, so stage 2 re-asks the question`;
  if (wanted === 'auto' && continuation === 'reask') notes.push(continuationReason.slice('auto: '.length));
  const constraintIgnored: ConstraintIgnored[] = [];
  /** Records a stage whose server ignored the constraint while its output validated. */
  const ignored = (stage: StageTrace, result: GenerateResult): void => {
    if (result.constraintViolation === undefined) return;
    stage.constraintIgnored = result.constraintViolation;
    constraintIgnored.push({ stage: stage.name, violation: result.constraintViolation });
    notes.push(
      `constraint_ignored (${stage.name}): the server ignored the ${stage.constraint ?? ''} constraint, but the output validated, so the turn went on`,
    );
  };
  // Compile the policy up front: a bad policy fails before any tokens are spent.
  const policy = options.policy ?? { kind: 'none', name: 'none' };
  const edits = isEdits(policy) ? policy : compilePolicy(policy, options.profile, spec);

  const history = options.history ?? [];
  let messages: ChatMessage[];
  try {
    messages = buildProfileMessages(options.prompt, { question: options.question, history, spec });
  } catch (err) {
    if (err instanceof PromptTemplateError) throw new TurnError('options', err.message);
    throw err;
  }
  const stages: StageTrace[] = [];
  const addStage = (stage: StageTrace): void => {
    stages.push(stage);
    options.onStage?.(stage);
  };

  // ---- stage 1: thinking + payoff, stopping at </payoff>
  const stage1Constraint = constrain ? constraintFor(model, spec, grammarOptions, STAGE1_PART) : undefined;
  const reasoning =
    options.onReasoningText === undefined ? undefined : createReasoningStream(options.onReasoningText);
  const first = await callStage1(
    model,
    stageRequest(options, messages, STAGE1_HEAD, stage1Max, options.seed, stage1Constraint),
    reasoning,
  );
  const firstTrace = stageTrace('stage1', first, stage1Constraint);
  addStage(firstTrace);
  let read = readStage1(first, spec, stage1Max);
  if (!('problems' in read)) ignored(firstTrace, first);
  if ('problems' in read) {
    const cutAt = cutAtOf(first);
    // Cut at its length: the same limit cuts a retry as well, unless the retry's grammar bounds the text
    // blocks and the first call ran without it. Retrying anyway would pay for stage 1 twice.
    if (cutAt !== undefined && (stage1Constraint !== undefined || grammarOptions?.maxChars === undefined)) {
      throw new TurnError(
        'payoff',
        `stage 1 of ${model.id} gave no valid payoff matrix (${read.problems.slice(0, 5).join('; ')}); not retried, since the same limit would cut a retry: raise the ${cutAt === 'context' ? 'context size' : 'token limit'} (${lengthLimit(first, stage1Max)}): ${textExcerpt(read.text)}`,
        { stage: 'stage1', text: read.text, problems: read.problems, cutAt },
      );
    }
    const retryConstraint = constraintFor(model, spec, grammarOptions, STAGE1_PART);
    if (retryConstraint === undefined) {
      throw new TurnError(
        'payoff',
        `stage 1 of ${model.id} gave no valid payoff matrix (${read.problems.slice(0, 5).join('; ')}), and the backend takes no grammar to retry with: ${textExcerpt(read.text)}`,
        { stage: 'stage1', text: read.text, problems: read.problems, cutAt: cutAtOf(first) },
      );
    }
    notes.push(`stage 1 gave no valid payoff matrix (${read.problems[0]}); retried once under a grammar`);
    const retry = await callStage1(
      model,
      stageRequest(
        options,
        messages,
        STAGE1_HEAD,
        stage1Max,
        options.seed === undefined ? undefined : options.seed + 1,
        retryConstraint,
      ),
      reasoning,
    );
    const retryTrace = stageTrace('stage1-retry', retry, retryConstraint);
    addStage(retryTrace);
    read = readStage1(retry, spec, stage1Max);
    if (!('problems' in read)) ignored(retryTrace, retry);
    if ('problems' in read) {
      const ignoredToo =
        retry.constraintViolation === undefined
          ? ''
          : `; the server ignored the constraint: ${retry.constraintViolation.replace(/^the output /, 'the retry ')}`;
      throw new TurnError(
        'payoff',
        `stage 1 of ${model.id} gave no valid payoff matrix, even on the constrained retry (${read.problems.slice(0, 5).join('; ')})${retry.finishReason === 'length' ? `; raise the ${retry.limitedBy === 'context' ? 'context size' : 'token limit'} (${lengthLimit(retry, undefined)})` : ''}${ignoredToo}: ${textExcerpt(read.text)}`,
        { stage: 'stage1-retry', text: read.text, problems: read.problems, cutAt: cutAtOf(retry) },
      );
    }
  }
  const stage1Done = performance.now();

  // ---- steer and select
  const matrixBefore = read.matrix;
  const unchanged = editsAreZero(edits);
  let matrixAfter = matrixBefore;
  // The model's payoffs are finite (stage 1 checked them); a large one plus a large edit may not be,
  // which steeredMatrix refuses naming the cell.
  let outOfRange: string[] = [];
  try {
    if (!unchanged) matrixAfter = steeredMatrix(matrixBefore, edits, spec);
  } catch (err) {
    if (!(err instanceof SteeringError)) throw err;
    outOfRange = err.issues.map((i) => `${i.path.replace(/^cells\./, '')}: ${i.message}`);
  }
  if (outOfRange.length > 0) {
    throw new TurnError(
      'payoff',
      `the policy's edits take the payoffs of ${model.id}'s matrix past the largest number (${outOfRange.slice(0, 5).join('; ')}): ${textExcerpt(read.text)}`,
      { stage: 'stage1', text: read.text, problems: outOfRange },
    );
  }
  const selection = selectCell(matrixAfter, options.rule ?? 'sum', spec);
  const pick = selection.selected[0]!;
  const steering: SteeringTrace = {
    policy: edits.label,
    matrixBefore,
    matrixAfter,
    edits,
    diff: diffMatrices(matrixBefore, matrixAfter, spec),
    selection,
  };
  // With no change the model's own text stays byte for byte: the whole stage-1 cache is reused.
  const steeredText = unchanged
    ? read.text
    : replacePayoffContent(
        read.text,
        read.contentStart,
        read.contentEnd,
        // In the spec's payoff key order, the one the prompt lists and the grammars force.
        renderMatrix(matrixAfter, spec),
      );
  options.onSteered?.(steering);
  const steerDone = performance.now();

  // ---- stage 2
  const analysisMode: AnalysisMode = continuation === 'reask' ? 'solver' : analysisWanted;
  if (continuation === 'reask' && analysisWanted === 'model') {
    notes.push('a re-asked turn cannot see its reasoning, so gtalign wrote the <analyze> block');
  }
  const solverText =
    analysisMode === 'solver'
      ? solverAnalysis(matrixAfter, selection, spec, {
          ...DEFAULT_ACTION_DESCRIPTIONS,
          ...options.prompt?.actionDescriptions,
        })
      : undefined;
  let output: string;
  let response: string;
  let modelAnalysis: string | undefined;
  /** The blocks of `output`, when a path read them already. */
  let outputBlocks: ReturnType<typeof extractBlocks> | undefined;
  if (solverText !== undefined) reasoning?.block(solverText);
  const streamer = responseStreamer(options.onResponseText);

  if (continuation === 'continue') {
    const prefix =
      solverText === undefined ? steeredText : `${steeredText}\n<analyze>${solverText}</analyze>\n`;
    const constraint = constrain
      ? constraintFor(
          model,
          spec,
          grammarOptions,
          analysisMode === 'model' ? ANALYZE_ON_PART : RESPONSE_ON_PART,
        )
      : undefined;
    // The model's own analysis streams as reasoning; the response as the response.
    const analysis = analysisMode === 'model' ? reasoning?.stage(['analyze']) : undefined;
    const second = await call(
      model,
      stageRequest(
        options,
        messages,
        { assistantPrefix: prefix, stop: RESPONSE_STOP },
        stage2Max,
        options.seed,
        constraint,
      ),
      both(streamer.fn, analysis?.push),
    );
    streamer.end();
    analysis?.end();
    const secondTrace = stageTrace('stage2', second, constraint);
    addStage(secondTrace);
    const tail = second.stoppedBy === RESPONSE_STOP ? second.text + RESPONSE_STOP : second.text;
    const restart = restartOf(tail);
    if (restart !== undefined) {
      throw new TurnError(
        'response',
        `stage 2 of ${model.id} restarted the reply instead of continuing the assistant turn (${restart}): the server's chat template did not continue the partial assistant message, as templates of thinking models (Qwen3 style) often do not. Fix: ${restartFix(model.id)}. Reply: ${textExcerpt(tail)}`,
        { stage: 'stage2', text: tail, problems: [restart] },
      );
    }
    output = prefix + tail;
    outputBlocks = extractBlocks(output);
    const blocks = outputBlocks.blocks;
    const block = blocks.response;
    if (block === undefined) {
      throw new TurnError(
        'response',
        `stage 2 of ${model.id} wrote no <response> block${second.finishReason === 'length' ? ` before reaching its ${second.limitedBy === 'context' ? 'context' : 'token'} limit (${lengthLimit(second, stage2Max)})` : ''}: ${textExcerpt(tail)}`,
        { stage: 'stage2', text: tail, cutAt: cutAtOf(second) },
      );
    }
    ignored(secondTrace, second);
    if (!block.closed) notes.push(`the <response> block was cut (finish reason ${second.finishReason})`);
    response = responseContent(block);
    if (analysisMode === 'model') modelAnalysis = blocks.analyze?.content.trim();
  } else {
    const column = splitCellKey(pick, spec)?.column ?? pick;
    const reask: ChatMessage[] = [
      ...history.map((t): ChatMessage => ({ role: t.role, content: t.content })),
      {
        role: 'user',
        content: `${options.question.trim()}\n\n${reaskInstruction(column, options.prompt?.actionDescriptions)}`,
      },
    ];
    const reaskStream = reaskStreamer(options.onResponseText);
    const second = await call(
      model,
      stageRequest(options, reask, NO_HEAD, stage2Max, options.seed, undefined),
      reaskStream.fn,
    );
    reaskStream.end();
    addStage(stageTrace('reask', second));
    // A model that still writes the chain is read for its response; otherwise the whole reply is the response.
    const own = extractBlocks(second.text).blocks.response;
    response = own === undefined ? second.text.trim() : responseContent(own);
    if (response === '') {
      // An empty reply must not pass for the chosen action carried out.
      throw new TurnError(
        'response',
        `the re-asked request to ${model.id} returned ${second.text.trim() === '' ? 'an empty reply' : 'an empty <response> block'} (finish reason ${second.finishReason}): ${textExcerpt(second.text)}`,
        { stage: 'reask', text: second.text },
      );
    }
    if (second.finishReason === 'length') {
      notes.push(
        `the re-asked reply was cut at the stage-2 ${second.limitedBy === 'context' ? 'context' : 'token'} limit (${lengthLimit(second, stage2Max)})`,
      );
    }
    output = `${steeredText}\n<analyze>${solverText}</analyze>\n<response>${response}</response>`;
  }

  let cell = pick;
  let modelChoice: string | undefined;
  if (modelAnalysis !== undefined) {
    modelChoice = readAnalyzeChoice(modelAnalysis, spec).cell;
    if (modelChoice !== undefined) {
      cell = modelChoice;
      if (modelChoice !== pick) {
        notes.push(`the model's analysis chose ${modelChoice}, gtalign's ${selection.rule} rule ${pick}`);
      }
    }
  }
  const extraction = outputBlocks ?? extractBlocks(output);
  const formatProblems = isWellFormed(extraction) ? [] : extraction.problems.map((p) => p.message);
  const done = performance.now();
  // Built field by field, in the order JSON shows them: an object literal of spreads is slow to make.
  const trace = {
    policy: steering.policy,
    matrixBefore,
    matrixAfter,
    edits,
    diff: steering.diff,
    selection,
    stage1Text: read.text,
  } as TurnTrace;
  if (modelAnalysis !== undefined) trace.modelAnalysis = modelAnalysis;
  if (modelChoice !== undefined) trace.modelChoice = modelChoice;
  trace.analysisMode = analysisMode;
  trace.continuation = continuation;
  trace.continuationReason = continuationReason;
  if (constraintIgnored.length > 0) trace.constraintIgnored = constraintIgnored;
  trace.stages = stages;
  trace.timings = {
    stage1Ms: stage1Done - started,
    steerMs: steerDone - stage1Done,
    stage2Ms: done - steerDone,
    totalMs: done - started,
  };
  trace.formatProblems = formatProblems;
  trace.notes = notes;
  return { response, action: splitCellKey(cell, spec)?.column ?? cell, cell, output, trace };
}
