/**
 * `gtalign serve`: an OpenAI-compatible chat endpoint in front of any `ChatModel` (an upstream
 * OpenAI-compatible server or the embedded local model). Every request runs one GTAlign turn with
 * steering; the client gets the `<response>` text (or the whole chain when it asks for the reasoning) and
 * a top-level `gtalign` object: action, cell, both matrices, the policy and the tokens of each stage.
 *
 * Routes: `POST /v1/chat/completions` (JSON or SSE with `stream: true`), `POST /v1/responses` (the
 * Responses API, see responses.ts; the same turn), `GET /v1/models`, `GET /healthz` (no key needed),
 * `GET /metrics` (Prometheus text).
 *
 * Streaming: the status line is sent once stage 1 has given a valid matrix (so a dead or misbehaving
 * upstream still gets a proper 502/504), then the response text as the model writes it, then a last chunk
 * with `finish_reason` and the `gtalign` object, a usage chunk when `stream_options.include_usage`, and
 * `data: [DONE]`. A failure after the status line is an SSE `data: {"error": …}` event, which the official
 * clients raise as an APIError.
 *
 * A client that disconnects aborts the upstream request (the request's signal reaches the model's fetch);
 * a turn that runs past the upstream timeout is aborted and answered 504.
 */

import { randomUUID } from 'node:crypto';
import { TurnError } from '../assistant/errors.js';
import { reasoningOf } from '../assistant/reasoning-stream.js';
import { runTurn, type StageTrace, type TurnOptions, type TurnResult } from '../assistant/turn.js';
import { createTrimmedEmitter, gtalignObject, usageOf } from '../assistant/turn-json.js';
import type { ConversationTurn } from '../chain/prompt.js';
import type { SelectionRuleName } from '../game/select.js';
import type { AbortWatcher } from '../llm/abort-watch.js';
import { exceedsContext } from '../llm/context-overflow.js';
import { ResponseTooLargeError } from '../llm/http.js';
import {
  type ChatModel,
  ChatModelError,
  exclusiveOf,
  type GenerateRequest,
  type StreamEvent,
} from '../llm/types.js';
import { SteeringError } from '../steering/errors.js';
import type { SteeringPolicy } from '../steering/policy.js';
import type { ProfileInput } from '../steering/profile.js';
import type { AccessLog } from './access-log.js';
import { createKeyChecker } from './auth.js';
import { BackgroundFolder } from './background-folder.js';
import { BackgroundResponses, ServerShutdown } from './background-responses.js';
import {
  chatCompletionRequestSchema,
  checkChatRequestShape,
  type ReasoningMode,
  readMessages,
  readSettings,
  type TurnSettings,
} from './chat-request.js';
import type { ConversationFolder } from './conversation-folder.js';
import { ConversationStore, type Conversations } from './conversation-store.js';
import { CONVERSATIONS_PATH, conversationRoutesHandler, createConversationHandler } from './conversations.js';
import { onEngineTaken } from './engine-wait.js';
import {
  badRequest,
  HttpError,
  internalError,
  serverShuttingDown,
  upstreamFailed,
  upstreamRateLimited,
  upstreamTimeout,
  waitedTooLong,
} from './errors.js';
import {
  createHandler,
  metricsRoute,
  type RequestContext,
  readJsonBody,
  sendJson,
  validate,
} from './http.js';
import { type ListenOptions, listen, type RunningServer } from './listen.js';
import { createMetricsRegistry, type MetricsRegistry } from './metrics.js';
import { openEventStream } from './response-events.js';
import type { ResponseFolder } from './response-folder.js';
import { ResponseKeeper } from './response-keeper.js';
import { createResponseLookupHandler, RESPONSE_PATH_PREFIX } from './response-lookup.js';
import { DEFAULT_STORED_RESPONSES, ResponseStore } from './response-store.js';
import { createResponsesHandler } from './responses.js';

export interface ProxyLimits {
  /** Largest request body in bytes (default 1 MiB). */
  maxBodyBytes?: number;
  /** Most messages in one request (default 256). */
  maxMessages?: number;
  /** Responses kept for `previous_response_id` on /v1/responses (default 1000; 0 keeps none). */
  maxStoredResponses?: number;
  /** `background: true` responses running at once (default 64); one more is a 429. */
  maxBackgroundResponses?: number;
  /**
   * Turns in progress at once, waiting ones included (default: no limit); one more is a 429. A backend that
   * runs one turn at a time (the embedded engine) makes the others wait, each on its own deadline: past a
   * few, a quick 429 serves a client better than a 504 after the whole timeout. A background response,
   * already answered `queued`, waits for a turn instead, on its own deadline.
   */
  maxActiveTurns?: number;
}

export interface ProxyOptions {
  model: ChatModel;
  /** The model name shown by `/v1/models` and in responses (default `gtalign:<model.id>`). */
  modelName?: string;
  /** The default policy (default: no edits). Requests may choose another. */
  policy?: SteeringPolicy;
  profile?: ProfileInput;
  analysis?: 'model' | 'solver';
  continuation?: 'continue' | 'reask' | 'auto';
  rule?: SelectionRuleName;
  /** What a reply carries of the reasoning when its request does not say (default `none`; chat-request.ts). */
  reasoning?: ReasoningMode;
  constrain?: boolean;
  grammar?: TurnOptions['grammar'];
  /** Stage 1's prompt profile (default gtalign's wording; `trained` sends a checkpoint's own layout). */
  prompt?: TurnOptions['prompt'];
  /** Token limit of each stage; a request's `max_tokens` may lower it, never raise it (default 1024). */
  maxTokens?: number;
  temperature?: number;
  seed?: number;
  /** Bearer keys; none means no authentication (fine on loopback only). */
  apiKeys?: readonly string[];
  limits?: ProxyLimits;
  /**
   * A folder where `/v1/responses` also keeps finished responses, so they outlive the process and are
   * shared with every process using it (open it with `ResponseFolder.open`).
   */
  responseFolder?: ResponseFolder;
  /** A folder where conversation objects are kept instead of memory (open it with `ConversationFolder.open`). */
  conversationFolder?: ConversationFolder;
  /** Longest time one turn (both stages) may take before the upstream request is aborted (default 300 s). */
  upstreamTimeoutMs?: number;
  metrics?: MetricsRegistry;
  log?: (line: string) => void;
  /** One JSON line per request (access-log.ts). */
  accessLog?: AccessLog;
}

export interface ProxyApp {
  readonly handler: ReturnType<typeof createHandler>;
  readonly metrics: MetricsRegistry;
  /** Turns running now (upstream work in progress). */
  readonly activeTurns: number;
  /** The `background: true` responses (cancel them all before closing). */
  readonly background: BackgroundResponses;
  /**
   * Stops every running turn: each request answers `server_shutdown` (a 503, or an error event in a stream
   * already under way) instead of having its connection cut without a word.
   */
  stopTurns(): void;
}

/** One request's turn, as a route reads it from its body (chat messages or Responses input). */
export interface ProxiedTurnRequest {
  question: string;
  history: ConversationTurn[];
  settings: TurnSettings;
  /** The request's token limit: lowers the server's, never raises it. */
  maxTokens?: number | undefined;
  /** The body field that gave `maxTokens`, named when it is too low for the turn. */
  maxTokensField?: string | undefined;
  temperature?: number | undefined;
  seed?: number | undefined;
}

/** What a streaming route hooks into the turn. */
export interface ProxiedTurnHooks {
  onSteered?: TurnOptions['onSteered'];
  onResponseText?: TurnOptions['onResponseText'];
  onReasoningText?: TurnOptions['onReasoningText'];
  /** Wraps the model for this turn (the chat route's full-reasoning tap). */
  wrapModel?: (model: ChatModel) => ChatModel;
  /**
   * Wait for a turn to end when `maxActiveTurns` are running, instead of a 429: a background response was
   * answered `queued` and holds no connection (the wait counts towards its deadline).
   */
  waitForTurn?: boolean;
}

/**
 * Runs a request's GTAlign turn with the server's configuration, the upstream deadline, the in-flight
 * count and the metrics. Resolves with the result, or undefined when the client has gone; rejects with
 * the client's `HttpError` (400 bad policy, 502 upstream, 504 timeout), or an unexpected error (a 500).
 */
export type ProxiedTurn = (
  /**
   * The client, and the access log's note when there is a request (a background response passes a
   * stand-in client that leaves when it is cancelled, and no note).
   */
  ctx: Pick<RequestContext, 'client'> & Partial<Pick<RequestContext, 'annotate'>>,
  request: ProxiedTurnRequest,
  hooks?: ProxiedTurnHooks,
) => Promise<TurnResult | undefined>;

const DEFAULT_MAX_BODY = 1 << 20;
const DEFAULT_MAX_MESSAGES = 256;
const DEFAULT_TIMEOUT_MS = 300_000;
const DEFAULT_BACKGROUND_RESPONSES = 64;

/** What the stages of a turn that answered so far cost, as the access log notes it. */
function spentNote(policy: SteeringPolicy, stages: readonly StageTrace[]): Record<string, unknown> {
  const tokens = { prompt: 0, cached_prompt: 0, completion: 0 };
  for (const s of stages) {
    tokens.prompt += s.promptTokens;
    tokens.cached_prompt += s.cachedPromptTokens;
    tokens.completion += s.completionTokens;
  }
  return { policy: policy.name ?? policy.kind, stages: stages.length, tokens };
}

/** A turn as the access log notes it: what was chosen, under which policy, and the tokens it took. */
function turnNote(result: TurnResult, policy: SteeringPolicy): Record<string, unknown> {
  return { action: result.action, cell: result.cell, ...spentNote(policy, result.trace.stages) };
}
const DEFAULT_MAX_TOKENS = 1024;
/** Weight of the latest turn in the moving average of turn model time. */
const TURN_MS_WEIGHT = 0.3;

/** A view of the model that reports the assistant prefix and raw text of streamed (stage-2) calls. */
function tapped(model: ChatModel, onRaw: (text: string) => void): ChatModel {
  return {
    id: model.id,
    capabilities: model.capabilities,
    ...exclusiveOf(model),
    generate: (request: GenerateRequest) => model.generate(request),
    async *stream(request: GenerateRequest): AsyncIterable<StreamEvent> {
      if (request.assistantPrefix !== undefined) onRaw(request.assistantPrefix);
      for await (const event of model.stream(request)) {
        if (event.type === 'text' && request.assistantPrefix !== undefined) onRaw(event.text);
        yield event;
      }
    },
    close: () => Promise.resolve(),
  };
}

/**
 * The assistant message of a turn: its `<response>` text, or the whole chain (`full`); with `separate` the
 * reasoning under both names clients read it by (`reasoning`: vLLM since 0.9 and OpenAI's guidance;
 * `reasoning_content`: DeepSeek's, llama.cpp's and the AI SDK's).
 */
function replyMessage(result: TurnResult, mode: ReasoningMode): Record<string, unknown> {
  if (mode === 'full') return { role: 'assistant', content: result.output };
  if (mode === 'none') return { role: 'assistant', content: result.response };
  const reasoning = reasoningOf(result.output);
  return { role: 'assistant', content: result.response, reasoning_content: reasoning, reasoning };
}

function finishReason(result: TurnResult): 'stop' | 'length' {
  const last = result.trace.stages.at(-1);
  return last?.finishReason === 'length' ? 'length' : 'stop';
}

export function createProxyApp(options: ProxyOptions): ProxyApp {
  const metrics = options.metrics ?? createMetricsRegistry();
  const modelName = options.modelName ?? `gtalign:${options.model.id}`;
  const maxBody = options.limits?.maxBodyBytes ?? DEFAULT_MAX_BODY;
  const maxMessages = options.limits?.maxMessages ?? DEFAULT_MAX_MESSAGES;
  const timeoutMs = options.upstreamTimeoutMs ?? DEFAULT_TIMEOUT_MS;
  const maxTokens = options.maxTokens ?? DEFAULT_MAX_TOKENS;
  const defaults: TurnSettings = {
    reasoning: options.reasoning ?? 'none',
    policy: options.policy ?? { kind: 'none', name: 'none' },
    analysis: options.analysis ?? 'model',
    continuation: options.continuation ?? 'auto',
    rule: options.rule ?? 'sum',
  };
  const created = Math.floor(Date.now() / 1000);

  const tokensTotal = metrics.counter(
    'gtalign_tokens_total',
    'Tokens by turn stage and kind, counted as each stage answers (a turn that fails later paid for them).',
    ['stage', 'kind'],
  );
  const actions = metrics.counter('gtalign_actions_total', 'Turns by the action carried out and its cell.', [
    'action',
    'cell',
  ]);
  const upstreamErrors = metrics.counter(
    'gtalign_upstream_errors_total',
    'Turns that failed upstream: http (an error status), network, timeout, bad_output (no valid matrix or response).',
    ['kind'],
  );
  const constraintIgnored = metrics.counter(
    'gtalign_constraint_ignored_total',
    'Stages whose upstream ignored the grammar/regex constraint but whose output validated, so the turn went on.',
    ['stage'],
  );
  let activeTurns = 0;
  const turnsGauge = metrics.gauge('gtalign_turns_in_flight', 'GTAlign turns running now.');
  metrics.onCollect(() => turnsGauge.set(activeTurns));
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));

  /** Maps a failed turn to the client's error (undefined when the client is gone). */
  /**
   * A stage that ended at the request's own token limit, lower than the server's, before what it had to
   * write: the request's to raise (a 400 naming its field, never retried), not the model's failure.
   */
  function limitTooLow(err: TurnError, request: ProxiedTurnRequest): HttpError | undefined {
    const asked = request.maxTokens;
    if (err.details.cutAt !== 'tokens' || asked === undefined || asked >= maxTokens) return undefined;
    const field = request.maxTokensField ?? 'max_tokens';
    const where =
      err.kind === 'payoff'
        ? 'stage 1 (the reasoning and payoff matrix, which the reply does not show) reached it before its matrix'
        : 'stage 2 reached it before the <response> block';
    return badRequest(
      `${field} ${asked} is too low for the GTAlign turn: ${where}; raise it or leave it out (this server allows ${maxTokens} tokens a stage)`,
      field,
      'token_limit_too_low',
    );
  }

  function turnError(
    err: unknown,
    timedOut: boolean,
    stopped: boolean,
    clientGone: boolean,
    request: ProxiedTurnRequest,
    /** A stage had answered: a client's retry would pay for it again. */
    paid: boolean,
  ): HttpError | undefined {
    if (clientGone) return undefined;
    if (stopped) return serverShuttingDown();
    if (timedOut) {
      upstreamErrors.inc({ kind: 'timeout' });
      return upstreamTimeout(`the upstream model did not finish the turn within ${timeoutMs} ms`);
    }
    if (err instanceof HttpError) return err;
    if (err instanceof SteeringError) return badRequest(err.message, 'gtalign.policy', 'invalid_policy');
    if (err instanceof TurnError) {
      if (err.kind === 'options') return badRequest(err.message);
      const tooLow = limitTooLow(err, request);
      if (tooLow !== undefined) return tooLow;
      // The conversation fits the context but leaves the turn too little of it: as with one that does not
      // fit, the client's to shorten (OpenAI counts the answer's room the same way). A lone question that
      // leaves too little is the server's context size, a 502 below that says to raise it.
      if (err.details.cutAt === 'context' && request.history.length > 0) {
        return badRequest(
          `the conversation leaves the GTAlign turn too little of the model's context: ${err.message}; shorten the conversation`,
          undefined,
          'context_length_exceeded',
        );
      }
      upstreamErrors.inc({ kind: 'bad_output' });
      return upstreamFailed(
        `the model's output could not be used: ${err.message}`,
        'upstream_bad_output',
        false,
      );
    }
    if (err instanceof ChatModelError) {
      // The request's conversation is longer than the model's context: the client's to shorten (a 400
      // with OpenAI's code, which clients use to trim history), not an upstream failure.
      if (exceedsContext(err)) return badRequest(err.message, undefined, 'context_length_exceeded');
      if (/timed out/.test(err.message)) {
        upstreamErrors.inc({ kind: 'timeout' });
        return upstreamTimeout(err.message);
      }
      // A body over the backend's limit came from a server that answered: its output is the problem.
      const tooLarge = err.details.cause instanceof ResponseTooLargeError;
      upstreamErrors.inc({
        kind: tooLarge ? 'bad_output' : err.details.status === undefined ? 'network' : 'http',
      });
      // Worth the client's retry only when the upstream may answer next time (a 4xx will not, and the
      // server has retried what might pass) and no stage was paid for yet.
      const retry = err.retryable && !tooLarge && !paid;
      if (err.details.status === 429)
        return upstreamRateLimited(err.message, err.details.retryAfterMs, retry);
      return upstreamFailed(`upstream error: ${err.message}`, 'upstream_error', retry);
    }
    return undefined;
  }

  function record(result: TurnResult): void {
    actions.inc({ action: result.action, cell: result.cell });
    for (const c of result.trace.constraintIgnored ?? []) constraintIgnored.inc({ stage: c.stage });
  }

  /** Counts a stage's tokens once it has answered, whether or not its turn ends well (it paid for them). */
  function recordStage(s: StageTrace): void {
    tokensTotal.inc({ stage: s.name, kind: 'prompt' }, s.promptTokens);
    tokensTotal.inc({ stage: s.name, kind: 'cached_prompt' }, s.cachedPromptTokens);
    tokensTotal.inc({ stage: s.name, kind: 'completion' }, s.completionTokens);
  }

  const maxActiveTurns = options.limits?.maxActiveTurns ?? Number.POSITIVE_INFINITY;
  /** The model time of recent turns (their stages' durations, a moving average), for Retry-After. */
  let turnModelMs: number | undefined;
  const retryAfterSeconds = (): number => Math.max(1, Math.ceil((turnModelMs ?? 0) / 1000));
  /** Turns waiting for one to end (`waitForTurn`), told when one does. */
  const turnWaiters = new Set<() => void>();
  /** Each running or waiting turn's abort, for {@link ProxyApp.stopTurns}. */
  const liveTurns = new Set<AbortController>();
  /** Resolves when a running turn ends; rejects with the signal's reason when it aborts first. */
  const turnEnded = (signal: AbortSignal): Promise<void> =>
    new Promise((resolve, reject) => {
      const done = (): void => {
        turnWaiters.delete(done);
        signal.removeEventListener('abort', done);
        if (signal.aborted) reject(signal.reason);
        else resolve();
      };
      turnWaiters.add(done);
      signal.addEventListener('abort', done);
    });
  const runProxiedTurn: ProxiedTurn = async (ctx, request, hooks = {}) => {
    if (activeTurns >= maxActiveTurns && hooks.waitForTurn !== true) {
      // A place frees when a running turn ends: about one turn's model time from now. The official
      // clients wait what Retry-After says; without it they retried within a second, and gave up.
      const retryAfter = retryAfterSeconds();
      throw new HttpError(
        429,
        `gtalign serve runs at most ${maxActiveTurns} turns at once (waiting ones included; --max-turns); retry when one has ended`,
        'rate_limit_error',
        'too_many_turns',
        null,
        { 'retry-after': String(retryAfter) },
      );
    }
    // One signal for the client's leaving and the deadline (each AbortSignal made costs microseconds).
    const turnAbort = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      turnAbort.abort(new Error('upstream timeout'));
    }, timeoutMs);
    const clientGone: AbortWatcher = { aborted: (reason) => turnAbort.abort(reason) };
    if (ctx.client.gone) turnAbort.abort(ctx.client.reason);
    else ctx.client.watch(clientGone);
    const signal = turnAbort.signal;
    liveTurns.add(turnAbort);
    const temperature = request.temperature ?? options.temperature;
    const seed = request.seed ?? options.seed;
    const { settings } = request;
    // Set field by field: an object literal of conditional spreads is slow to build.
    // A turn that never got the model (queued behind others on a one-sequence engine) ran nothing.
    let started = options.model.exclusive === undefined;
    const model = onEngineTaken(options.model, () => {
      started = true;
    });
    const turn: TurnOptions = {
      model: hooks.wrapModel === undefined ? model : hooks.wrapModel(model),
      question: request.question,
      history: request.history,
      policy: settings.policy,
      analysis: settings.analysis,
      continuation: settings.continuation,
      rule: settings.rule,
      maxTokens: Math.min(maxTokens, request.maxTokens ?? maxTokens),
      signal,
    };
    if (options.profile !== undefined) turn.profile = options.profile;
    if (options.constrain !== undefined) turn.constrain = options.constrain;
    if (options.grammar !== undefined) turn.grammar = options.grammar;
    if (options.prompt !== undefined) turn.prompt = options.prompt;
    if (temperature !== undefined) turn.temperature = temperature;
    if (seed !== undefined) turn.seed = seed;
    // Each stage's tokens are counted, and noted for the access log, as it answers: a turn that fails or
    // whose client leaves later has paid for them.
    const spent: StageTrace[] = [];
    const { annotate } = ctx;
    turn.onStage = (stage) => {
      spent.push(stage);
      recordStage(stage);
      annotate?.({ turn: spentNote(settings.policy, spent) });
    };
    if (hooks.onSteered !== undefined) turn.onSteered = hooks.onSteered;
    if (hooks.onResponseText !== undefined) turn.onResponseText = hooks.onResponseText;
    if (hooks.onReasoningText !== undefined) turn.onReasoningText = hooks.onReasoningText;
    let counted = false;
    try {
      while (activeTurns >= maxActiveTurns) {
        signal.throwIfAborted();
        await turnEnded(signal);
      }
      activeTurns++;
      counted = true;
      const result = await runTurn(turn);
      // Counted once the promise chain that answers the client has run (the response is written
      // first), and before any further I/O, so a scrape never misses a turn that was answered.
      process.nextTick(record, result);
      ctx.annotate?.({ turn: turnNote(result, settings.policy) });
      return result;
    } catch (err) {
      const stopped = signal.reason instanceof ServerShutdown;
      if (timedOut && !(counted && started) && !stopped && !ctx.client.gone)
        throw waitedTooLong(timeoutMs, retryAfterSeconds());
      const mapped = turnError(err, timedOut, stopped, ctx.client.gone, request, spent.length > 0);
      if (mapped === undefined && ctx.client.gone) return undefined;
      throw mapped ?? err;
    } finally {
      clearTimeout(timer);
      liveTurns.delete(turnAbort);
      ctx.client.unwatch(clientGone);
      if (spent.length > 0) {
        let ms = 0;
        for (const s of spent) ms += s.durationMs;
        turnModelMs =
          turnModelMs === undefined ? ms : TURN_MS_WEIGHT * ms + (1 - TURN_MS_WEIGHT) * turnModelMs;
      }
      if (counted) {
        activeTurns--;
        for (const wake of [...turnWaiters]) wake();
      }
    }
  };

  async function completions(ctx: RequestContext): Promise<void> {
    const raw = await readJsonBody(ctx, maxBody);
    checkChatRequestShape(raw, maxMessages);
    const body = validate(chatCompletionRequestSchema, raw);
    const turn = readMessages(body, maxMessages);
    const settings = readSettings(body, ctx.req.headers, defaults);
    const request: ProxiedTurnRequest = {
      question: turn.question,
      history: turn.history,
      settings,
      maxTokens: body.max_completion_tokens ?? body.max_tokens ?? undefined,
      maxTokensField: body.max_completion_tokens != null ? 'max_completion_tokens' : 'max_tokens',
      temperature: body.temperature ?? undefined,
      seed: body.seed ?? undefined,
    };
    const id = `chatcmpl-gtalign-${randomUUID()}`;
    if (body.stream === true) {
      await streamTurn(ctx, request, {
        notes: turn.notes,
        id,
        includeUsage: body.stream_options?.include_usage === true,
      });
      return;
    }
    const result = await runProxiedTurn(ctx, request);
    if (result === undefined) return;
    const g = gtalignObject(result);
    g.notes = [...turn.notes, ...g.notes];
    sendJson(ctx.res, 200, {
      id,
      object: 'chat.completion',
      created: Math.floor(Date.now() / 1000),
      model: modelName,
      choices: [
        {
          index: 0,
          message: replyMessage(result, settings.reasoning),
          finish_reason: finishReason(result),
          logprobs: null,
        },
      ],
      usage: usageOf(result),
      gtalign: g,
    });
  }

  async function streamTurn(
    ctx: RequestContext,
    request: ProxiedTurnRequest,
    stream: { notes: string[]; id: string; includeUsage: boolean },
  ): Promise<void> {
    const { settings } = request;
    const { res } = ctx;
    const { notes, id, includeUsage } = stream;
    // One timestamp for every chunk of the stream, as OpenAI's (a turn may stream across many seconds).
    const streamCreated = Math.floor(Date.now() / 1000);
    const chunk = (delta: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
      id,
      object: 'chat.completion.chunk',
      created: streamCreated,
      model: modelName,
      choices: [{ index: 0, delta, finish_reason: null, logprobs: null }],
      ...extra,
    });
    const write = (payload: unknown): void => {
      if (!res.destroyed) res.write(`data: ${JSON.stringify(payload)}\n\n`);
    };
    const open = (): void => {
      if (res.headersSent) return;
      openEventStream(res);
      write(chunk({ role: 'assistant', content: '' }));
    };
    const sendText = (text: string): void => {
      open();
      write(chunk({ content: text }));
    };
    // `separate`: the reasoning goes out as the model writes it, before the stream's content.
    let reasoningSent = '';
    const sendReasoning = (text: string): void => {
      open();
      reasoningSent += text;
      write(chunk({ reasoning_content: text, reasoning: text }));
    };

    let result: TurnResult | undefined;
    let streamed = '';
    try {
      if (settings.reasoning === 'full') {
        // The whole chain: the stage-2 prefix (the steered stage 1) and then the raw stage-2 text.
        const wrapModel = (model: ChatModel) =>
          tapped(model, (text) => {
            streamed += text;
            sendText(text);
          });
        result = await runProxiedTurn(ctx, request, { wrapModel, onSteered: open, onResponseText: () => {} });
      } else {
        const emitter = createTrimmedEmitter(sendText);
        result = await runProxiedTurn(ctx, request, {
          onSteered: open,
          onResponseText: (t) => emitter.push(t),
          ...(settings.reasoning === 'separate' ? { onReasoningText: sendReasoning } : {}),
        });
        streamed = emitter.sent;
      }
    } catch (err) {
      if (ctx.client.gone) return;
      if (!res.headersSent) throw err;
      // The status line is out: the error goes in the stream, where the official clients raise it.
      if (!(err instanceof HttpError)) {
        log(
          `gtalign serve: ${id} failed mid-stream: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`,
        );
      }
      const failure = err instanceof HttpError ? err : internalError();
      // The log line's status is the 200 sent before the failure: the error says the turn did not end well.
      ctx.annotate({ error: failure.code ?? failure.type });
      write(failure.body());
      res.end();
      return;
    }
    if (result === undefined) return;
    open();
    if (settings.reasoning === 'separate' && streamed === '') {
      // What the reasoning stream did not deliver, while no content went out yet (the reasoning comes
      // first); after a retried stage 1 it streamed both attempts.
      const reasoning = reasoningOf(result.output);
      if (reasoning.startsWith(reasoningSent) && reasoning.length > reasoningSent.length)
        sendReasoning(reasoning.slice(reasoningSent.length));
    }
    // Whatever the stream did not deliver (a backend that did not stream, a re-asked turn, a closing tag).
    const full = settings.reasoning === 'full' ? result.output : result.response;
    if (full.startsWith(streamed) && full.length > streamed.length) sendText(full.slice(streamed.length));
    const g = gtalignObject(result);
    g.notes = [...notes, ...g.notes];
    write({
      ...chunk({}),
      choices: [{ index: 0, delta: {}, finish_reason: finishReason(result), logprobs: null }],
      gtalign: g,
    });
    if (includeUsage) write({ ...chunk({}), choices: [], usage: usageOf(result) });
    res.end('data: [DONE]\n\n');
  }

  const responseStore = new ResponseKeeper(
    new ResponseStore(options.limits?.maxStoredResponses ?? DEFAULT_STORED_RESPONSES),
    options.responseFolder,
    log,
    // A background run ends by its turn's deadline; a minute more covers storing its answer.
    timeoutMs + 60_000,
  );
  const backgroundEnded = metrics.counter(
    'gtalign_background_responses_total',
    'Background responses (background: true) that ended, by how: completed (kept, incomplete included), failed, cancelled.',
    ['status'],
  );
  const background = new BackgroundResponses(
    options.limits?.maxBackgroundResponses ?? DEFAULT_BACKGROUND_RESPONSES,
    (status) => backgroundEnded.inc({ status }),
    options.responseFolder === undefined ? undefined : new BackgroundFolder(options.responseFolder, log),
  );
  const backgroundGauge = metrics.gauge(
    'gtalign_background_responses_running',
    'Background responses running now.',
  );
  metrics.onCollect(() => backgroundGauge.set(background.active));
  const lookup = createResponseLookupHandler(responseStore, background);
  const conversations: Conversations = options.conversationFolder ?? new ConversationStore();
  const conversationRoutes = conversationRoutesHandler(conversations, maxBody);
  const handler = createHandler({
    keys: createKeyChecker(options.apiKeys),
    metrics,
    log: options.log,
    accessLog: options.accessLog,
    routes: [
      { method: 'POST', path: '/v1/chat/completions', handle: completions },
      {
        method: 'POST',
        path: '/v1/responses',
        handle: createResponsesHandler({
          turn: runProxiedTurn,
          modelName,
          maxBody,
          maxMessages,
          defaults,
          log,
          store: responseStore,
          conversations,
          background,
          accessLog: options.accessLog,
        }),
      },
      { method: 'POST', path: CONVERSATIONS_PATH, handle: createConversationHandler(conversations, maxBody) },
      { method: 'GET', path: `${CONVERSATIONS_PATH}/`, prefix: true, handle: conversationRoutes },
      { method: 'POST', path: `${CONVERSATIONS_PATH}/`, prefix: true, handle: conversationRoutes },
      { method: 'DELETE', path: `${CONVERSATIONS_PATH}/`, prefix: true, handle: conversationRoutes },
      { method: 'GET', path: RESPONSE_PATH_PREFIX, prefix: true, handle: lookup },
      { method: 'DELETE', path: RESPONSE_PATH_PREFIX, prefix: true, handle: lookup },
      { method: 'POST', path: RESPONSE_PATH_PREFIX, prefix: true, handle: lookup },
      {
        method: 'GET',
        path: '/v1/models',
        handle: (ctx) =>
          sendJson(ctx.res, 200, {
            object: 'list',
            data: [{ id: modelName, object: 'model', created, owned_by: 'gtalign' }],
          }),
      },
      {
        method: 'GET',
        path: '/healthz',
        auth: false,
        handle: (ctx) =>
          sendJson(ctx.res, 200, { status: 'ok', model: modelName, active_turns: activeTurns }),
      },
      metricsRoute(metrics),
    ],
  });
  return {
    handler,
    metrics,
    background,
    get activeTurns() {
      return activeTurns;
    },
    stopTurns() {
      for (const turn of liveTurns) turn.abort(new ServerShutdown());
    },
  };
}

/** Creates the proxy and listens (127.0.0.1 and a free port unless told otherwise). */
export async function startProxyServer(
  options: ProxyOptions & ListenOptions,
): Promise<RunningServer & { app: ProxyApp }> {
  const app = createProxyApp(options);
  const running = await listen(app.handler, options);
  const close = running.close.bind(running);
  // Background responses hold no connection: they get the grace open requests get (the listener stops at
  // once, so no new one starts), then end failed with server_shutdown.
  running.close = async (graceMs = 5_000) => {
    const closing = close(graceMs, () => app.stopTurns());
    await app.background.shutdown(graceMs);
    await closing;
  };
  return Object.assign(running, { app });
}
