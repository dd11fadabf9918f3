/**
 * `gtalignMiddleware(options)`: GTAlign turns for the Vercel AI SDK. Wrap any language model with
 * `wrapLanguageModel({ model, middleware: gtalignMiddleware({ policy: 'api' }) })` and `generateText` /
 * `streamText` answer the GTAlign way: the wrapped model writes its reasoning and payoff matrix (stage 1,
 * stopping at `</payoff>`), the policy edits the matrix, a cell is selected, and stage 2 produces the
 * response. The text is the `<response>` content (streamed as generated); the turn's record is in
 * `providerMetadata.gtalign` (action, cell, matrix_before, matrix_after, policy, tokens per stage).
 *
 * Stage 2 re-asks by default (a new request with a one-line instruction for the chosen action), which
 * works with every model. When the server behind the model can extend a trailing assistant message,
 * `prefill` makes stage 2 continue the same turn: `true` for servers that do so by default (llama.cpp,
 * Ollama), or the provider options that ask for it, e.g. for vLLM/SGLang behind
 * `createOpenAICompatible({ name: 'vllm', … })`:
 * `{ providerOptions: { vllm: { continue_final_message: true, add_generation_prompt: false } } }`.
 *
 * The AI SDK retries a call whose turn failed with a retryable error (`maxRetries`); stage 1's reply from
 * the failed attempt answers the retry's identical request, so a retried stage 2 does not pay for stage 1
 * again (stage-replay.ts).
 *
 * The app's system messages, stop sequences, `topK` and penalties are not applied: each that a call sets
 * comes back as a call warning (unapplied.ts), which the AI SDK shows, with the wrapped model's own
 * warnings about the turn's stages.
 *
 * Per call, `providerOptions.gtalign` may set `policy` (a preset name or a policy object), `analysis` and
 * `reasoning` (options.ts checks them, and the middleware's options when the model is wrapped). With
 * `reasoning: true`, the whole four-block chain is returned as reasoning content after the text; with
 * `reasoning: 'separate'`, the reasoning (thinking, then analysis: see assistant/reasoning-stream.ts)
 * streams as reasoning parts while the model writes it, before the text.
 *
 * AI SDK 6 (language-model specification v3) and AI SDK 7 (specification v4) both work: the hooks read
 * and write only what the two specifications share, typed here structurally. The specification version
 * is a type parameter: `gtalignMiddleware(options)` is a v3 middleware for AI SDK 6, and
 * `gtalignMiddleware({ ...options, specificationVersion: 'v4' })` a v4 one for AI SDK 7 (at run time
 * neither SDK checks a middleware's version; the types do).
 *
 * Nothing comes from the AI SDK, not even types: the JSON types of provider options and metadata are
 * written out below as `@ai-sdk/provider` defines them, so the published declarations (which the root
 * `gtalign` entry reaches) import no optional peer, and a project without the AI SDK type-checks.
 */

import { TurnError } from '../assistant/errors.js';
import { reasoningOf } from '../assistant/reasoning-stream.js';
import { type AnalysisMode, runTurn, type TurnOptions, type TurnResult } from '../assistant/turn.js';
import { createTrimmedEmitter, gtalignObject, usageOf } from '../assistant/turn-json.js';
import type { ConversationTurn } from '../chain/prompt.js';
import type { SelectionRuleName } from '../game/select.js';
import type { ChatModel, GenerateRequest, GenerateResult, StreamEvent, TokenUsage } from '../llm/types.js';
import type { SteeringPolicy } from '../steering/policy.js';
import type { ProfileInput } from '../steering/profile.js';
import { checkMiddlewareOptions, type ReasoningOption, readCallOptions } from './options.js';
import { restartForPrefill } from './restart.js';
import {
  type CompletedStage,
  createStageReplays,
  isRetryable,
  requestKey,
  type StageReplays,
} from './stage-replay.js';
import { namedForCall } from './token-limit.js';
import { type CallWarning, unappliedWarnings } from './unapplied.js';

/** A JSON value as `@ai-sdk/provider` types it (`JSONValue`). */
type JSONValue = null | string | number | boolean | JSONObject | JSONValue[];
/** A JSON object as `@ai-sdk/provider` types it (`JSONObject`). */
type JSONObject = { [key: string]: JSONValue | undefined };
/** Provider options and metadata: `SharedV3ProviderOptions` and `SharedV3ProviderMetadata` of `@ai-sdk/provider`. */
type SharedV3ProviderOptions = Record<string, JSONObject>;
type SharedV3ProviderMetadata = Record<string, JSONObject>;

/** The AI SDK language-model specifications the middleware implements: v3 (AI SDK 6), v4 (AI SDK 7). */
export type SpecificationVersion = 'v3' | 'v4';

/** A prompt message as both specifications have it (v4 adds part types, which the middleware refuses). */
export type PromptMessageLike =
  | { role: 'system'; content: string }
  | { role: 'user' | 'assistant' | 'tool'; content: ReadonlyArray<{ type: string; text?: string }> };

/** What the middleware reads of a call's options: the fields the v3 and v4 specifications share. */
export interface CallOptionsLike {
  prompt: ReadonlyArray<PromptMessageLike>;
  maxOutputTokens?: number;
  temperature?: number;
  stopSequences?: string[];
  topP?: number;
  topK?: number;
  presencePenalty?: number;
  frequencyPenalty?: number;
  seed?: number;
  /** v4 only: the provider's reasoning effort (not applied: the turn reasons in its own blocks). */
  reasoning?: string;
  tools?: ReadonlyArray<unknown>;
  /** `json` for `generateObject` and `Output.object`: refused (the turn answers in text). */
  responseFormat?: { type: string };
  abortSignal?: AbortSignal;
  headers?: Record<string, string | undefined>;
  /** JSON per provider (v4 types its values a little differently from v3). */
  providerOptions?: Record<string, Record<string, unknown>>;
}

/** The call options the middleware sends to the wrapped model: valid under both specifications. */
export interface SentCallOptions {
  prompt: Array<
    | { role: 'system'; content: string }
    | { role: 'user' | 'assistant'; content: Array<{ type: 'text'; text: string }> }
  >;
  maxOutputTokens?: number;
  stopSequences?: string[];
  temperature?: number;
  topP?: number;
  seed?: number;
  abortSignal?: AbortSignal;
  headers?: Record<string, string | undefined>;
  providerOptions?: SharedV3ProviderOptions;
}

/** What the middleware reads of a finish reason (v4 adds `interrupted`). */
interface FinishReasonLike {
  unified: string;
}

/** What the middleware reads of a model call's usage. */
interface UsageLike {
  inputTokens: { total: number | undefined; cacheRead: number | undefined };
  outputTokens: { total: number | undefined };
}

/** What the middleware reads of a stream part from the wrapped model. */
interface StreamPartLike {
  type: string;
  /** Of `stream-start`: what the model did not apply of the stage's call. */
  warnings?: ReadonlyArray<unknown>;
  delta?: string;
  finishReason?: FinishReasonLike;
  usage?: UsageLike;
  error?: unknown;
}

/** The wrapped model as the middleware uses it: a v3 or v4 language model. */
export interface LanguageModelLike {
  readonly provider: string;
  readonly modelId: string;
  doGenerate(options: SentCallOptions): PromiseLike<{
    content: ReadonlyArray<{ type: string; text?: string }>;
    warnings?: ReadonlyArray<unknown>;
    finishReason: FinishReasonLike;
    usage: UsageLike;
  }>;
  doStream(options: SentCallOptions): PromiseLike<{ stream: ReadableStream<StreamPartLike> }>;
}

/** The finish reason the middleware reports. */
interface FinishReasonOut {
  unified: 'stop' | 'length';
  raw: string;
}

/** The usage the middleware reports (the same shape in v3 and v4); undefined where a call reported none. */
interface UsageOut {
  inputTokens: {
    total: number | undefined;
    noCache: number | undefined;
    cacheRead: number | undefined;
    cacheWrite: undefined;
  };
  outputTokens: { total: number | undefined; text: number | undefined; reasoning: undefined };
}

/** The result of `wrapGenerate`: valid under both specifications. */
export interface GenerateResultOut {
  content: Array<{ type: 'text'; text: string } | { type: 'reasoning'; text: string }>;
  finishReason: FinishReasonOut;
  usage: UsageOut;
  providerMetadata: SharedV3ProviderMetadata;
  /** What the call asked for that the turn does not apply (unapplied.ts), and the wrapped model's warnings. */
  warnings: CallWarning[];
}

/** The parts of the stream `wrapStream` returns: valid under both specifications. */
export type StreamPartOut =
  | { type: 'stream-start'; warnings: CallWarning[] }
  | { type: 'text-start' | 'text-end' | 'reasoning-start' | 'reasoning-end'; id: string }
  | { type: 'text-delta' | 'reasoning-delta'; id: string; delta: string }
  | {
      type: 'finish';
      finishReason: FinishReasonOut;
      usage: UsageOut;
      providerMetadata: SharedV3ProviderMetadata;
    }
  | { type: 'error'; error: unknown };

interface HookOptions {
  params: CallOptionsLike;
  model: LanguageModelLike;
}

/**
 * The middleware object: `specificationVersion` is `V`, and the hooks produce only results that are valid
 * under both specifications (text and reasoning content, stream-start, text and reasoning parts, finish,
 * error), so the object is a `LanguageModelV3Middleware` for V = 'v3' and a `LanguageModelV4Middleware`
 * for V = 'v4'.
 */
export interface GtalignMiddleware<V extends SpecificationVersion = 'v3'> {
  readonly specificationVersion: V;
  wrapGenerate: (options: HookOptions) => Promise<GenerateResultOut>;
  wrapStream: (options: HookOptions) => Promise<{ stream: ReadableStream<StreamPartOut> }>;
}

export interface GtalignMiddlewareOptions {
  /** A preset name (`api`, `paper-api`, …) or a policy object (default: no edits). */
  policy?: string | SteeringPolicy;
  profile?: ProfileInput;
  /** Who writes `<analyze>` when stage 2 continues the turn (default `model`). */
  analysis?: AnalysisMode;
  /** Selection rule (default `sum`). */
  rule?: SelectionRuleName;
  /** How the wrapped model extends a trailing assistant message (see the module comment); default: it cannot. */
  prefill?: boolean | { providerOptions: SharedV3ProviderOptions };
  /** Token limit of each stage when the call sets none (default 1024). */
  maxTokens?: number;
  /** Return the whole chain as reasoning content (`true`), or the reasoning as it is written (`separate`). */
  reasoning?: ReasoningOption;
}

export type { ReasoningOption } from './options.js';

/** The question (the last message, the user's) and the earlier user/assistant turns, as text. */
export function promptToTurn(prompt: ReadonlyArray<PromptMessageLike>): {
  question: string;
  history: ConversationTurn[];
} {
  const textOf = (content: ReadonlyArray<{ type: string; text?: string }>, index: number): string =>
    content
      .map((part) => {
        if (part.type === 'text') return part.text ?? '';
        if (part.type === 'reasoning') return '';
        throw new TurnError(
          'options',
          `gtalignMiddleware: prompt message ${index} (${prompt[index]?.role}) has a '${part.type}' part; only text is supported`,
        );
      })
      .join('');
  const last = prompt.at(-1);
  if (last === undefined || last.role !== 'user') {
    throw new TurnError(
      'options',
      `gtalignMiddleware: the prompt must end with the user's question; ${last === undefined ? 'it is empty' : `its last message has role ${last.role}`}`,
    );
  }
  const history: ConversationTurn[] = [];
  for (const [i, m] of prompt.slice(0, -1).entries()) {
    if (m.role === 'system') continue; // the GTAlign instruction prompt is the system behaviour
    if (m.role === 'tool') {
      throw new TurnError(
        'options',
        `gtalignMiddleware: prompt message ${i} is a tool message; tools are not supported`,
      );
    }
    history.push({ role: m.role, content: textOf(m.content, i) });
  }
  return { question: textOf(last.content, prompt.length - 1), history };
}

function mergeProviderOptions(
  a: SharedV3ProviderOptions | undefined,
  b: SharedV3ProviderOptions | undefined,
): SharedV3ProviderOptions | undefined {
  if (b === undefined) return a;
  const out: SharedV3ProviderOptions = { ...a };
  for (const [k, v] of Object.entries(b)) out[k] = { ...out[k], ...v };
  return out;
}

/**
 * Whether every model call of a turn reported its input and its output tokens. A stream may report none
 * (the OpenAI-compatible provider asks for them only with `includeUsage`); the turn's totals are then
 * unknown, as the AI SDK reports a model's, rather than the sum of the stages that did report.
 */
interface UsageReported {
  input: boolean;
  output: boolean;
}

function usageFrom(u: UsageLike | undefined, reported: UsageReported): TokenUsage {
  if (u?.inputTokens.total === undefined) reported.input = false;
  if (u?.outputTokens.total === undefined) reported.output = false;
  return {
    promptTokens: u?.inputTokens.total ?? 0,
    cachedPromptTokens: u?.inputTokens.cacheRead ?? 0,
    completionTokens: u?.outputTokens.total ?? 0,
  };
}

/**
 * Adds a stage's warnings from the wrapped model to the turn's, once each (both stages often warn alike).
 * They are the wrapped model's own, of the same specification as the middleware's result.
 */
function addWarnings(turn: CallWarning[], stage: ReadonlyArray<unknown> | undefined): void {
  for (const w of stage ?? []) {
    const key = JSON.stringify(w);
    if (!turn.some((t) => JSON.stringify(t) === key)) turn.push(w as CallWarning);
  }
}

function finishFrom(reason: FinishReasonLike): GenerateResult['finishReason'] {
  return reason.unified === 'stop' ? 'stop' : reason.unified === 'length' ? 'length' : 'other';
}

/** One attempt at a turn: the stages it completed, and how many of them a failed attempt had paid for. */
interface Attempt {
  replays: StageReplays;
  completed: CompletedStage[];
  reused: number;
}

/** A `ChatModel` over an AI SDK language model, for `runTurn`. */
function chatModelOf(
  model: LanguageModelLike,
  base: CallOptionsLike,
  prefill: GtalignMiddlewareOptions['prefill'],
  reported: UsageReported,
  warnings: CallWarning[],
  attempt: Attempt,
): ChatModel {
  const canPrefill = prefill !== undefined && prefill !== false;
  const extra = typeof prefill === 'object' ? prefill.providerOptions : undefined;

  const toCall = (request: GenerateRequest): SentCallOptions => {
    const prompt: SentCallOptions['prompt'] = request.messages.map((m) =>
      m.role === 'system'
        ? { role: 'system', content: m.content }
        : { role: m.role, content: [{ type: 'text', text: m.content }] },
    );
    const prefix = request.assistantPrefix;
    if (prefix !== undefined && prefix !== '')
      prompt.push({ role: 'assistant', content: [{ type: 'text', text: prefix }] });
    // JSON values by the specifications' contract; v3's JSON types describe them.
    const { gtalign: _own, ...providerOptions } = (base.providerOptions ?? {}) as SharedV3ProviderOptions;
    const merged = prefix ? mergeProviderOptions(providerOptions, extra) : providerOptions;
    const temperature = request.temperature ?? base.temperature;
    const seed = request.seed ?? base.seed;
    const signal = request.signal ?? base.abortSignal;
    return {
      prompt,
      ...(request.maxTokens === undefined ? {} : { maxOutputTokens: request.maxTokens }),
      ...(request.stop === undefined ? {} : { stopSequences: request.stop }),
      ...(temperature === undefined ? {} : { temperature }),
      ...(base.topP === undefined ? {} : { topP: base.topP }),
      ...(seed === undefined ? {} : { seed }),
      ...(signal === undefined ? {} : { abortSignal: signal }),
      ...(base.headers === undefined ? {} : { headers: base.headers }),
      ...(merged === undefined || Object.keys(merged).length === 0 ? {} : { providerOptions: merged }),
    };
  };

  /** Some servers echo the prefix at the start of the content: only what follows it is new. */
  const withoutEcho = (request: GenerateRequest, raw: string): string => {
    const prefix = request.assistantPrefix;
    return prefix && raw.startsWith(prefix) ? raw.slice(prefix.length) : raw;
  };
  /** The stop string is presumed when exactly one was asked for and generation stopped (the SDK does not say which). */
  const result = (
    request: GenerateRequest,
    text: string,
    finish: GenerateResult['finishReason'],
    usage: TokenUsage,
    started: number,
  ): GenerateResult => {
    const stop = request.stop?.length === 1 && finish === 'stop' ? request.stop[0] : undefined;
    return {
      text,
      finishReason: finish,
      ...(stop === undefined ? {} : { stoppedBy: stop }),
      usage,
      durationMs: performance.now() - started,
    };
  };

  /** The reply a failed attempt got to this very request (stage-replay.ts), counted as this attempt's. */
  const replayed = (key: string | undefined): GenerateResult | undefined => {
    const kept = key === undefined ? undefined : attempt.replays.take(key);
    if (kept === undefined) return undefined;
    addWarnings(warnings, kept.warnings);
    if (!kept.reported.input) reported.input = false;
    if (!kept.reported.output) reported.output = false;
    attempt.completed.push(kept);
    attempt.reused++;
    return kept.result;
  };
  const completed = (
    key: string | undefined,
    done: GenerateResult,
    stageWarnings: ReadonlyArray<unknown> | undefined,
    usage: UsageLike | undefined,
  ): GenerateResult => {
    if (key === undefined) return done;
    attempt.completed.push({
      key,
      result: done,
      warnings: stageWarnings ?? [],
      reported: {
        input: usage?.inputTokens.total !== undefined,
        output: usage?.outputTokens.total !== undefined,
      },
    });
    return done;
  };

  return {
    id: `ai-sdk:${model.provider}/${model.modelId}`,
    capabilities: { continuation: canPrefill, gbnf: false, regex: false, seed: true, cacheReport: false },
    async generate(request) {
      const started = performance.now();
      const call = toCall(request);
      const key = requestKey(model, call);
      const kept = replayed(key);
      if (kept !== undefined) return kept;
      const out = await model.doGenerate(call);
      addWarnings(warnings, out.warnings);
      const raw = out.content.map((c) => (c.type === 'text' ? c.text : '')).join('');
      const done = result(
        request,
        withoutEcho(request, raw),
        finishFrom(out.finishReason),
        usageFrom(out.usage, reported),
        started,
      );
      return completed(key, done, out.warnings, out.usage);
    },
    async *stream(request): AsyncIterable<StreamEvent> {
      const started = performance.now();
      const call = toCall(request);
      const key = requestKey(model, call);
      const kept = replayed(key);
      if (kept !== undefined) {
        if (kept.text !== '') yield { type: 'text', text: kept.text };
        yield { type: 'done', result: kept };
        return;
      }
      const { stream } = await model.doStream(call);
      let stageWarnings: ReadonlyArray<unknown> | undefined;
      const reader = stream.getReader();
      const prefix = request.assistantPrefix ?? '';
      let raw = '';
      // While the text could still be an echo of the prefix it is held back.
      let decided = prefix === '';
      let emitted = 0;
      let finish: GenerateResult['finishReason'] = 'other';
      let usage: UsageLike | undefined;
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          if (value.type === 'stream-start') {
            stageWarnings = value.warnings;
            addWarnings(warnings, value.warnings);
          } else if (value.type === 'text-delta') {
            raw += value.delta ?? '';
            if (!decided) {
              if (prefix.startsWith(raw)) continue;
              decided = true;
              emitted = raw.startsWith(prefix) ? prefix.length : 0;
            }
            if (raw.length > emitted) {
              yield { type: 'text', text: raw.slice(emitted) };
              emitted = raw.length;
            }
          } else if (value.type === 'finish') {
            if (value.finishReason !== undefined) finish = finishFrom(value.finishReason);
            if (value.usage !== undefined) usage = value.usage;
          } else if (value.type === 'error') {
            throw value.error;
          }
        }
      } finally {
        reader.releaseLock();
      }
      const text = withoutEcho(request, raw);
      // Text held back as a possible echo that turned out not to be one.
      if (!decided && text !== '') yield { type: 'text', text };
      const done = result(request, text, finish, usageFrom(usage, reported), started);
      yield { type: 'done', result: completed(key, done, stageWarnings, usage) };
    },
    close: () => Promise.resolve(),
  };
}

function metadata(result: TurnResult, attempt: Attempt): SharedV3ProviderMetadata {
  const g = gtalignObject(result);
  if (attempt.reused > 0) {
    g.notes = [
      ...g.notes,
      "stage 1's reply was reused from the attempt the AI SDK retried (a later stage failed there), not paid for again",
    ];
  }
  // Plain JSON by construction (numbers, strings, arrays, objects).
  return { gtalign: JSON.parse(JSON.stringify(g)) as Record<string, never> };
}

function usageOfTurn(result: TurnResult, reported: UsageReported): UsageOut {
  const u = usageOf(result);
  const cached = u.prompt_tokens_details.cached_tokens;
  const output = reported.output ? u.completion_tokens : undefined;
  return {
    inputTokens: reported.input
      ? {
          total: u.prompt_tokens,
          noCache: u.prompt_tokens - cached,
          cacheRead: cached,
          cacheWrite: undefined,
        }
      : { total: undefined, noCache: undefined, cacheRead: undefined, cacheWrite: undefined },
    outputTokens: { total: output, text: output, reasoning: undefined },
  };
}

function finishOfTurn(result: TurnResult): FinishReasonOut {
  const last = result.trace.stages.at(-1);
  return last?.finishReason === 'length'
    ? { unified: 'length', raw: 'length' }
    : { unified: 'stop', raw: 'stop' };
}

export function gtalignMiddleware<V extends SpecificationVersion = 'v3'>(
  options: GtalignMiddlewareOptions & { specificationVersion?: V } = {},
): GtalignMiddleware<V> {
  // A bad option (a preset, a policy object, a misspelt name) fails here, when the model is wrapped.
  const defaultPolicy = checkMiddlewareOptions(options);
  // What failed turns paid for, for the AI SDK's retries of their calls (stage-replay.ts).
  const replays = createStageReplays();

  const turnOptions = (params: CallOptionsLike, model: LanguageModelLike, signal: AbortSignal) => {
    if (params.tools !== undefined && params.tools.length > 0) {
      throw new TurnError('options', 'gtalignMiddleware: tools are not supported by the GTAlign turn');
    }
    if (params.responseFormat !== undefined && params.responseFormat.type !== 'text') {
      throw new TurnError(
        'options',
        `gtalignMiddleware: responseFormat ${params.responseFormat.type} (generateObject, Output.object) is not ` +
          'supported: the GTAlign turn answers in text',
      );
    }
    const call = readCallOptions(params.providerOptions?.gtalign);
    const { question, history } = promptToTurn(params.prompt);
    const reported: UsageReported = { input: true, output: true };
    // What the call asks for that the turn does not apply, then what the wrapped model warns of its stages.
    const warnings = unappliedWarnings(params);
    const attempt: Attempt = { replays, completed: [], reused: 0 };
    const turn: TurnOptions = {
      model: chatModelOf(
        model,
        { ...params, abortSignal: signal },
        options.prefill,
        reported,
        warnings,
        attempt,
      ),
      question,
      history,
      policy: call.policy ?? defaultPolicy,
      ...(options.profile === undefined ? {} : { profile: options.profile }),
      analysis: call.analysis ?? options.analysis ?? 'model',
      ...(options.rule === undefined ? {} : { rule: options.rule }),
      continuation: 'auto',
      maxTokens: params.maxOutputTokens ?? options.maxTokens ?? 1024,
      ...(params.temperature === undefined ? {} : { temperature: params.temperature }),
      ...(params.seed === undefined ? {} : { seed: params.seed }),
      signal,
    };
    return {
      turn,
      reported,
      reasoning: call.reasoning ?? options.reasoning ?? false,
      warnings,
      attempt,
    };
  };

  return {
    specificationVersion: (options.specificationVersion ?? 'v3') as V,
    async wrapGenerate({ params, model }): Promise<GenerateResultOut> {
      const signal = params.abortSignal ?? new AbortController().signal;
      const { turn, reported, reasoning, warnings, attempt } = turnOptions(params, model, signal);
      const result = await runTurn(turn).catch((error: unknown) => {
        if (isRetryable(error)) replays.keep(attempt.completed);
        throw namedForCall(restartForPrefill(error), params.maxOutputTokens);
      });
      const content: GenerateResultOut['content'] = [];
      if (reasoning === 'separate') content.push({ type: 'reasoning', text: reasoningOf(result.output) });
      else if (reasoning) content.push({ type: 'reasoning', text: result.output });
      content.push({ type: 'text', text: result.response });
      return {
        content,
        finishReason: finishOfTurn(result),
        usage: usageOfTurn(result, reported),
        providerMetadata: metadata(result, attempt),
        warnings,
      };
    },
    async wrapStream({ params, model }): Promise<{ stream: ReadableStream<StreamPartOut> }> {
      const controller = new AbortController();
      const signal =
        params.abortSignal === undefined
          ? controller.signal
          : AbortSignal.any([params.abortSignal, controller.signal]);
      // Options are checked before the stream starts, so a bad call throws from streamText's first read.
      const { turn, reported, reasoning, warnings, attempt } = turnOptions(params, model, signal);
      // The stream is handed over once the turn has something to show, and a turn that fails before that
      // rejects instead: the AI SDK retries a rejected stream call (maxRetries), as for any model whose
      // request fails, where an error part in a stream already handed over is final.
      let shown = false;
      let settleFirst!: { show: () => void; fail: (error: unknown) => void };
      const first = new Promise<void>((show, fail) => {
        settleFirst = { show, fail };
      });
      const stream = new ReadableStream<StreamPartOut>({
        start(out) {
          // After a cancel (or a user abort) the stream is closed: nothing more may be enqueued.
          const emit = (part: StreamPartOut): void => {
            if (controller.signal.aborted) return;
            try {
              if (!shown) {
                // Sent with the first part, so it carries the warnings of the stages run by then.
                out.enqueue({ type: 'stream-start', warnings: [...warnings] });
                shown = true;
                settleFirst.show();
              }
              out.enqueue(part);
            } catch {
              controller.abort();
            }
          };
          const end = (): void => {
            try {
              out.close();
            } catch {
              // already closed by the consumer
            }
          };
          // `separate`: reasoning parts as the model writes them, closed before the text starts.
          let thinking: 'none' | 'open' | 'closed' = 'none';
          let thought = '';
          const think = (delta: string): void => {
            if (thinking === 'closed') return;
            if (thinking === 'none') emit({ type: 'reasoning-start', id: 'reasoning' });
            thinking = 'open';
            thought += delta;
            emit({ type: 'reasoning-delta', id: 'reasoning', delta });
          };
          const stopThinking = (): void => {
            if (thinking === 'open') emit({ type: 'reasoning-end', id: 'reasoning' });
            thinking = 'closed';
          };
          let open = false;
          const emitter = createTrimmedEmitter((delta) => {
            if (!open) {
              stopThinking();
              emit({ type: 'text-start', id: 'response' });
              open = true;
            }
            emit({ type: 'text-delta', id: 'response', delta });
          });
          runTurn({
            ...turn,
            onResponseText: (t) => emitter.push(t),
            ...(reasoning === 'separate' ? { onReasoningText: think } : {}),
          }).then(
            (result) => {
              if (reasoning === 'separate' && thinking !== 'closed') {
                // Reasoning the stream did not deliver; after a retried stage 1 it streamed both attempts.
                const whole = reasoningOf(result.output);
                if (whole.startsWith(thought) && whole.length > thought.length)
                  think(whole.slice(thought.length));
              }
              stopThinking();
              // Text the stream did not deliver (a backend that did not stream it).
              if (result.response.startsWith(emitter.sent) && result.response.length > emitter.sent.length) {
                emitter.push(result.response.slice(emitter.sent.length));
              }
              if (open) emit({ type: 'text-end', id: 'response' });
              if (reasoning === true) {
                emit({ type: 'reasoning-start', id: 'chain' });
                emit({ type: 'reasoning-delta', id: 'chain', delta: result.output });
                emit({ type: 'reasoning-end', id: 'chain' });
              }
              emit({
                type: 'finish',
                finishReason: finishOfTurn(result),
                usage: usageOfTurn(result, reported),
                providerMetadata: metadata(result, attempt),
              });
              end();
            },
            (failure: unknown) => {
              const error = namedForCall(restartForPrefill(failure), params.maxOutputTokens);
              if (!shown) {
                // The AI SDK retries a rejected stream call: what this attempt paid for is kept for it.
                if (isRetryable(failure)) replays.keep(attempt.completed);
                settleFirst.fail(error);
                return;
              }
              emit({ type: 'error', error });
              end();
            },
          );
        },
        cancel(reason) {
          controller.abort(reason);
        },
      });
      await first;
      return { stream };
    },
  };
}
