/**
 * The embedded local backend: a GGUF model run in-process by node-llama-cpp (an optional peer dependency,
 * imported lazily so the rest of the library never needs it).
 *
 * One model, one context, one sequence; calls are serialized. The sequence's KV cache is kept between calls:
 * each prompt is laid out as `template(messages, assistant turn opened) + assistant tokens`, and only the
 * tokens after the longest common prefix with what the sequence already holds are evaluated.
 *
 * Continuation without re-tokenization drift: the backend remembers the assistant part of the last call as
 * chunks of (tokens, text) — the tokenized prefix and every generated token. When the next call renders the
 * same template tokens and its `assistantPrefix` starts with the text of some of those chunks, their exact
 * tokens are reused and only the rest of the prefix is tokenized. Tokenizing the whole prefix again could
 * split it differently from how the model generated it (`"<" "/p"` vs `"</" "p"`) and miss the cache.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { access, stat } from 'node:fs/promises';
import type {
  ChatHistoryItem,
  ChatWrapper,
  Llama,
  LlamaContext,
  LlamaContextSequence,
  LlamaGrammar,
  LlamaModel,
  Token,
} from 'node-llama-cpp';
import { ggufFileProblem } from './gguf-check.js';
import {
  type ChatMessage,
  type ChatModel,
  type ChatModelCapabilities,
  ChatModelError,
  type ChatModelFailure,
  type GenerateRequest,
  type GenerateResult,
  type StreamEvent,
} from './types.js';
import { BETWEEN, insideCharacter, Utf8Guard } from './utf8-guard.js';

export interface LocalModelOptions {
  /** Path of a GGUF model file. */
  modelPath: string;
  /** CPU threads for evaluation (default 1). */
  threads?: number;
  /** `false` (default) runs on the CPU; `'auto'` lets node-llama-cpp pick a GPU backend it has a prebuilt binary for. */
  gpu?: false | 'auto';
  /**
   * Context size in tokens (default: the model's training context, as far as free memory allows; node-llama-cpp
   * measures it).
   */
  contextSize?: number;
  /** Default sampling seed when a request gives none. */
  seed?: number;
}

const BACKEND = 'local';
const DEFAULT_TEMPERATURE = 0.8;
const GRAMMAR_CACHE_SIZE = 16;
/** Tokens of left context given to the detokenizer. */
const LOOKBACK = 4;
/** A UTF-8 character spans at most 4 byte tokens. */
const MAX_CHAR_TOKENS = 4;

type NodeLlamaCpp = typeof import('node-llama-cpp');

/** A run of tokens whose text is complete (a multi-byte character split over tokens stays in one chunk). */
interface Chunk {
  tokens: Token[];
  text: string;
}

/** What the sequence was last asked to hold after the template: used to match the next prefix. */
interface AssistantHistory {
  templateTokens: Token[];
  chunks: Chunk[];
}

/** A failure of the engine, unless a reason says otherwise (a request it cannot run, an unmet check). */
/** Most uncached prompt tokens evaluated between two checks of the abort signal. */
const PROMPT_PIECE = 512;

function fail(message: string, cause?: unknown, reason: ChatModelFailure = 'engine'): ChatModelError {
  return new ChatModelError(message, { backend: BACKEND, reason, cause });
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** True when `error` (or one of its causes) says that the node-llama-cpp package itself cannot be found. */
function isPackageMissing(error: unknown): boolean {
  for (let e = error, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    const code = (e as { code?: unknown }).code;
    const missing = code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND';
    if (missing && /['"]node-llama-cpp['"]/.test(e.message)) return true;
  }
  return false;
}

async function importNodeLlamaCpp(): Promise<NodeLlamaCpp> {
  try {
    return await import('node-llama-cpp');
  } catch (error) {
    if (isPackageMissing(error)) {
      throw fail(
        'The local backend needs node-llama-cpp, an optional dependency of gtalign that is not installed ' +
          '(installed with --omit=optional, or its install failed on this platform). ' +
          'Install it next to gtalign: npm install node-llama-cpp',
        error,
      );
    }
    throw fail(`Could not load node-llama-cpp: ${errorText(error)}`, error);
  }
}

/**
 * node-llama-cpp's log lines, all to stderr. Its default logger writes info and debug lines (shown with
 * NODE_LLAMA_CPP_LOG_LEVEL=info) to stdout: the output of a command, and for `gtalign mcp` on stdio the
 * protocol stream, which a stray line corrupts. Progress dots continue their line, as the default does.
 */
function logToStderr(_level: unknown, message: string): void {
  process.stderr.write(/^\.+$/.test(message) ? message : `[node-llama-cpp] ${message}\n`);
}

/** One Llama binding per GPU mode, shared by every local model of the process (loading it costs ~0.5 s). */
const llamas = new Map<string, Promise<Llama>>();

function getSharedLlama(lib: NodeLlamaCpp, gpu: false | 'auto'): Promise<Llama> {
  const key = String(gpu);
  let llama = llamas.get(key);
  if (llama === undefined) {
    // build: 'never' uses the prebuilt binaries only: never start a surprise compilation from source.
    llama = lib.getLlama({ gpu, build: 'never', logger: logToStderr });
    llama.catch(() => llamas.delete(key));
    llamas.set(key, llama);
  }
  return llama;
}

/** Waits for `previous`; rejects with the signal's reason as soon as `signal` aborts. */
function untilAborted(previous: Promise<void>, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.reject(signal.reason);
  let onAbort!: () => void;
  const left = new Promise<never>((_, reject) => {
    onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
  });
  return Promise.race([previous, left]).finally(() => signal.removeEventListener('abort', onAbort));
}

function sameTokens(a: readonly Token[], b: readonly Token[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function toChatHistory(messages: readonly ChatMessage[]): ChatHistoryItem[] {
  const history: ChatHistoryItem[] = messages.map((m): ChatHistoryItem => {
    if (m.role === 'system') return { type: 'system', text: m.content };
    if (m.role === 'user') return { type: 'user', text: m.content };
    return { type: 'model', response: [m.content] };
  });
  // An empty model response renders the assistant turn opened and left open: the generation prompt.
  history.push({ type: 'model', response: [] });
  return history;
}

/** Length of the longest suffix of `text` that is a proper prefix of one of `stops`. */
function heldBack(text: string, stops: readonly string[]): number {
  let best = 0;
  for (const stop of stops) {
    for (let n = Math.min(stop.length - 1, text.length); n > best; n--) {
      if (text.endsWith(stop.slice(0, n))) {
        best = n;
        break;
      }
    }
  }
  return best;
}

/** The earliest stop string occurrence at or after `from` (the longest one on a tie). */
function findStop(
  text: string,
  stops: readonly string[],
  from: number,
): { at: number; stop: string } | undefined {
  let found: { at: number; stop: string } | undefined;
  for (const stop of stops) {
    const at = text.indexOf(stop, from);
    if (
      at !== -1 &&
      (found === undefined || at < found.at || (at === found.at && stop.length > found.stop.length))
    ) {
      found = { at, stop };
    }
  }
  return found;
}

class LocalChatModel implements ChatModel {
  readonly id: string;
  readonly capabilities: ChatModelCapabilities = {
    continuation: true,
    gbnf: true,
    regex: false,
    seed: true,
    cacheReport: true,
  };
  readonly randomWeights?: true;
  private history: AssistantHistory | undefined;
  /** Calls queue here, one after another (the single sequence). */
  private queue: Promise<void> = Promise.resolve();
  /** Inside `exclusive`: its calls queue here while `queue` waits for it to end. */
  private readonly lease = new AsyncLocalStorage<{ queue: Promise<void> }>();
  /** Aborts the generation that holds the sequence now. */
  private running: AbortController | undefined;
  private readonly grammars = new Map<string, Promise<LlamaGrammar>>();
  /**
   * Read from the vocabulary when the model loads (0.02–0.2 s for 32k–262k tokens, see utf8-guard.ts), not on
   * the first request, which a server would otherwise hold up.
   */
  private readonly utf8Guard: Utf8Guard;
  private closed = false;

  constructor(
    private readonly lib: NodeLlamaCpp,
    private readonly llama: Llama,
    private readonly model: LlamaModel,
    private readonly context: LlamaContext,
    private readonly sequence: LlamaContextSequence,
    private readonly wrapper: ChatWrapper,
    private readonly defaultSeed: number | undefined,
    modelPath: string,
  ) {
    this.id = `local:${modelPath}`;
    // The offline model (gtalign models tiny) marks itself: its text is noise, and callers say so.
    const flag = (model.fileInfo.metadata as { gtalign?: { random_weights?: unknown } }).gtalign
      ?.random_weights;
    if (flag === true) this.randomWeights = true;
    this.utf8Guard = Utf8Guard.for(lib, model, { insideCharacters: this.randomWeights === true });
  }

  async exclusive<T>(work: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    if (this.lease.getStore() !== undefined) return work(); // already held by this caller
    signal?.throwIfAborted();
    const previous = this.queue;
    let release!: () => void;
    this.queue = new Promise<void>((resolve) => {
      release = resolve;
    });
    // A caller that leaves while it waits gives its place back at once, but the calls queued behind it
    // still wait for the one before it: the sequence is free only when that one ends.
    let waiting = true;
    try {
      await (signal === undefined ? previous : untilAborted(previous, signal));
      waiting = false;
      return await this.lease.run({ queue: Promise.resolve() }, work);
    } finally {
      if (waiting) void previous.then(release);
      else release();
    }
  }

  async generate(request: GenerateRequest): Promise<GenerateResult> {
    for await (const event of this.stream(request)) {
      if (event.type === 'done') return event.result;
    }
    throw fail('generation ended without a result');
  }

  /**
   * Generation runs in a job of its own, queued behind the previous call, that fills a buffer the returned
   * iterator reads from. The job holds the single sequence only while it generates, and always ends (the
   * token limit, the context size, an abort or `close()`), so a consumer that stops pulling without
   * calling `return()` can never block the next call or `close()`. A consumer that leaves early (`break`,
   * `return()`) aborts the job and waits for it, so the sequence is free when `return()` resolves.
   */
  async *stream(request: GenerateRequest): AsyncIterable<StreamEvent> {
    if (this.closed) throw fail(`${this.id} is closed`, undefined, 'refused');
    const stop = new AbortController();
    const signal =
      request.signal === undefined ? stop.signal : AbortSignal.any([request.signal, stop.signal]);
    const buffer: StreamEvent[] = [];
    let failure: { error: unknown } | undefined;
    let ended = false;
    let wake: (() => void) | undefined;
    const notify = (): void => {
      const w = wake;
      wake = undefined;
      w?.();
    };
    // Within `exclusive`, behind its own earlier calls; else behind every call and lease before it.
    const lease = this.lease.getStore();
    const previous = lease === undefined ? this.queue : lease.queue;
    const job = (async () => {
      // A caller that leaves while it waits is answered at once (its work never runs).
      await untilAborted(previous, signal);
      if (this.closed) throw fail(`${this.id} is closed`, undefined, 'refused');
      this.running = stop;
      try {
        for await (const event of this.run({ ...request, signal })) {
          buffer.push(event);
          notify();
        }
      } finally {
        this.running = undefined;
      }
    })()
      .catch((error: unknown) => {
        failure = { error };
      })
      .finally(() => {
        ended = true;
        notify();
      });
    // The next call waits for this one and for the one before it: a job that left its place early
    // must not let the next start while the sequence is still busy.
    const slot = Promise.all([previous, job]).then(() => {});
    if (lease === undefined) this.queue = slot;
    else lease.queue = slot;
    try {
      for (;;) {
        const event = buffer.shift();
        if (event !== undefined) {
          yield event;
          continue;
        }
        if (ended) {
          if (failure !== undefined) throw failure.error;
          return;
        }
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
      }
    } finally {
      if (!ended) stop.abort(fail('the consumer stopped reading the stream', undefined, 'aborted'));
      await job;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // Stop the generation in progress instead of waiting for it to reach its token limit.
    this.running?.abort(fail(`${this.id} was closed during generation`, undefined, 'aborted'));
    await this.queue;
    this.history = undefined;
    await this.context.dispose();
    await this.model.dispose();
  }

  private grammar(source: string): Promise<LlamaGrammar> {
    let grammar = this.grammars.get(source);
    if (grammar === undefined) {
      grammar = this.llama.createGrammar({ grammar: source });
      grammar.catch(() => this.grammars.delete(source));
      if (this.grammars.size >= GRAMMAR_CACHE_SIZE) {
        const oldest = this.grammars.keys().next().value;
        if (oldest !== undefined) this.grammars.delete(oldest);
      }
      this.grammars.set(source, grammar);
    }
    return grammar;
  }

  /**
   * Splits tokens into chunks of complete text (a character split across tokens stays in one chunk). `before`
   * are the tokens that precede them, for detokenizers that look back (leading-space rules).
   */
  private chunksOf(tokens: readonly Token[], text: string, before: readonly Token[]): Chunk[] {
    const chunks: Chunk[] = [];
    const all = [...before.slice(-LOOKBACK), ...tokens];
    const offset = all.length - tokens.length;
    let start = 0;
    let joined = '';
    for (let i = 0; i < tokens.length; i++) {
      const piece = this.model.detokenize(
        tokens.slice(start, i + 1),
        false,
        all.slice(Math.max(0, offset + start - LOOKBACK), offset + start),
      );
      if (piece.endsWith('\uFFFD') && i - start + 1 < MAX_CHAR_TOKENS && i < tokens.length - 1) continue;
      chunks.push({ tokens: tokens.slice(start, i + 1), text: piece });
      joined += piece;
      start = i + 1;
    }
    // If per-token text does not add up (detokenizer heuristics), keep one chunk: still correct, less reusable.
    return joined === text ? chunks : [{ tokens: [...tokens], text }];
  }

  /** The assistant part of the prompt: reused chunks of the last call, then the rest of the prefix tokenized. */
  private assistantChunks(templateTokens: readonly Token[], prefix: string): Chunk[] {
    const reused: Chunk[] = [];
    let at = 0;
    if (this.history !== undefined && sameTokens(this.history.templateTokens, templateTokens)) {
      // Chunks with no text (special tokens, bytes a lookback detokenization folded into its neighbour) are
      // reused between matching chunks, never at the end of the run: nothing in the prefix asks for them there.
      let matched = 0;
      for (const [i, chunk] of this.history.chunks.entries()) {
        if (!prefix.startsWith(chunk.text, at)) break;
        at += chunk.text.length;
        if (chunk.text !== '') matched = i + 1;
      }
      reused.push(...this.history.chunks.slice(0, matched));
      at = reused.reduce((n, c) => n + c.text.length, 0);
    }
    const rest = prefix.slice(at);
    if (rest === '') return reused;
    const before = [...templateTokens, ...reused.flatMap((c) => c.tokens)];
    return [...reused, ...this.chunksOf(this.model.tokenize(rest, false), rest, before)];
  }

  /** Runs an engine call; a failure that is not the caller's abort becomes a ChatModelError. */
  private async engine<T>(signal: AbortSignal | undefined, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (error) {
      if (signal?.aborted || error instanceof ChatModelError) throw error;
      throw fail(`llama.cpp failed while generating with ${this.id}: ${errorText(error)}`, error);
    }
  }

  private async *run(request: GenerateRequest): AsyncGenerator<StreamEvent> {
    const started = performance.now();
    const { signal } = request;
    signal?.throwIfAborted();
    if (request.constraint?.kind === 'regex') {
      throw fail(
        'the local backend accepts GBNF constraints only, not regex (capabilities.regex is false)',
        undefined,
        'refused',
      );
    }
    const grammarSource = request.constraint?.kind === 'gbnf' ? request.constraint.grammar : undefined;
    let grammar: LlamaGrammar | undefined;
    if (grammarSource !== undefined) {
      try {
        grammar = await this.grammar(grammarSource);
      } catch (error) {
        throw fail(`invalid GBNF grammar: ${errorText(error)}`, error, 'refused');
      }
    }

    const model = this.model;
    const sequence = this.sequence;
    let templateTokens: Token[];
    try {
      const { contextText } = this.wrapper.generateContextState({
        chatHistory: toChatHistory(request.messages),
      });
      templateTokens = contextText.tokenize(model.tokenizer);
    } catch (error) {
      throw fail(`could not render the chat template: ${errorText(error)}`, error);
    }
    const prefix = request.assistantPrefix ?? '';
    const prefixChunks = this.assistantChunks(templateTokens, prefix);
    const prompt = [...templateTokens, ...prefixChunks.flatMap((c) => c.tokens)];
    if (prompt.length === 0)
      throw fail('empty prompt: the chat template rendered no tokens', undefined, 'refused');
    if (prompt.length >= this.context.contextSize) {
      const larger =
        this.context.contextSize < this.model.trainContextSize
          ? `; a larger --context-size may fit (the model was trained with ${this.model.trainContextSize})`
          : ', the most the model was trained with: shorten the conversation';
      throw new ChatModelError(
        `prompt of ${prompt.length} tokens does not fit the context of ${this.context.contextSize} tokens${larger}`,
        {
          backend: BACKEND,
          reason: 'refused',
          contextLength: { promptTokens: prompt.length, contextTokens: this.context.contextSize },
        },
      );
    }

    // Keep the longest common prefix of the KV cache, but always evaluate the last prompt token: its logits
    // give the first generated token.
    await this.engine(signal, () => sequence.adaptStateToTokens(prompt.slice(0, -1), false));
    const cachedPromptTokens = sequence.nextTokenIndex;
    const toEvaluate = prompt.slice(cachedPromptTokens);
    // From here on the sequence holds (a prefix of) this prompt, whatever happens below.
    const generated: Chunk[] = [];
    this.history = { templateTokens, chunks: [...prefixChunks] };

    const stops = [...new Set((request.stop ?? []).filter((s) => s !== ''))];
    const maxTokens = request.maxTokens ?? Number.POSITIVE_INFINITY;
    const temperature = request.temperature ?? DEFAULT_TEMPERATURE;
    const seed = request.seed ?? this.defaultSeed;
    const room = this.context.contextSize - 1 - prompt.length;

    let text = '';
    let emitted = 0;
    let completionTokens = 0;
    let finishReason: GenerateResult['finishReason'] = 'stop';
    let stoppedBy: string | undefined;
    let pending: Token[] = [];
    // The last few tokens before `pending`, for the detokenizer.
    let lookback = prompt.slice(-LOOKBACK);

    if (maxTokens > 0 && room > 0) {
      // A long uncached prompt is evaluated in pieces with the signal checked between them: evaluation
      // takes no signal, so in one piece an abort (ctrl-c, a client that left, a deadline) waited for the
      // whole prompt (3.4 s for 15k tokens on the tiny model; minutes on a real one on one thread).
      let from = 0;
      while (toEvaluate.length - from > PROMPT_PIECE) {
        signal?.throwIfAborted();
        const piece = toEvaluate.slice(from, from + PROMPT_PIECE);
        await this.engine(signal, () => sequence.evaluateWithoutGeneratingNewTokens(piece));
        from += PROMPT_PIECE;
      }
      signal?.throwIfAborted();
      const grammarEvaluationState = grammar && new this.lib.LlamaGrammarEvaluationState({ model, grammar });
      const guard = this.utf8Guard;
      let utf8 = BETWEEN;
      const tokens = sequence.evaluate(toEvaluate.slice(from), {
        temperature,
        ...(seed === undefined ? {} : { seed }),
        ...(grammarEvaluationState === undefined ? {} : { grammarEvaluationState }),
        // node-llama-cpp calls this before sampling each token: the bias follows the text's UTF-8 state.
        tokenBias: () => guard.bias(utf8),
      });
      let limit: 'length' | undefined;
      try {
        while (true) {
          const step = await this.engine(signal, () => tokens.next());
          if (step.done === true) break;
          const token = step.value;
          utf8 = guard.after(utf8, token);
          signal?.throwIfAborted();
          completionTokens++;
          pending.push(token);
          const piece = model.detokenize(pending, false, lookback);
          // Hold back a partial UTF-8 character until the token that completes it, however many that takes
          // (a control token in the middle writes nothing); when the guard lost track, at most 4 byte tokens.
          const partial =
            insideCharacter(utf8) ?? (piece.endsWith('\uFFFD') && pending.length < MAX_CHAR_TOKENS);
          if (!partial) {
            generated.push({ tokens: pending, text: piece });
            lookback = [...lookback, ...pending].slice(-LOOKBACK);
            pending = [];
            const from = Math.max(0, text.length - (Math.max(0, ...stops.map((s) => s.length)) - 1));
            text += piece;
            const hit = stops.length > 0 ? findStop(text, stops, from) : undefined;
            if (hit !== undefined) {
              stoppedBy = hit.stop;
              text = text.slice(0, hit.at);
              break;
            }
            const safe = text.length - heldBack(text, stops);
            if (safe > emitted) {
              yield { type: 'text', text: text.slice(emitted, safe) };
              emitted = safe;
            }
          }
          if (completionTokens >= maxTokens || completionTokens >= room) {
            limit = 'length';
            break;
          }
        }
      } finally {
        await tokens.return();
        if (pending.length > 0) {
          const piece = model.detokenize(pending, false, lookback);
          if (insideCharacter(utf8) === true && piece.endsWith('\uFFFD')) {
            // The output ended inside a character (an end-of-generation token, which a bias cannot ban, or the
            // token limit): bytes that never became one are left out, not shown as U+FFFD. The chunk is not
            // kept for reuse, as its tokens write more than its text.
            if (stoppedBy === undefined) text += piece.slice(0, -1);
          } else {
            generated.push({ tokens: pending, text: piece });
            if (stoppedBy === undefined) text += piece;
          }
        }
        this.history.chunks.push(...generated);
      }
      if (limit !== undefined && stoppedBy === undefined) finishReason = limit;
    } else {
      finishReason = 'length';
    }

    if (text.length > emitted) yield { type: 'text', text: text.slice(emitted) };
    const check = request.constraint?.check;
    if (check !== undefined && finishReason === 'stop') {
      // llama.cpp enforces the grammar, so this only fails when `check` and the grammar disagree: say so.
      const ok = [text, ...(stoppedBy === undefined ? [] : [text + stoppedBy])].some((candidate) => {
        check.lastIndex = 0;
        return check.test(candidate);
      });
      if (!ok) {
        throw fail(
          `the output does not match constraint.check ${String(check).slice(0, 120)}: ${JSON.stringify(text.slice(0, 80))}`,
          undefined,
          'constraint',
        );
      }
    }
    const result: GenerateResult = {
      text,
      finishReason,
      usage: { promptTokens: prompt.length, cachedPromptTokens, completionTokens },
      durationMs: performance.now() - started,
    };
    if (stoppedBy !== undefined) result.stoppedBy = stoppedBy;
    // The context ran out before the token limit did: raising the limit would change nothing.
    if (finishReason === 'length' && completionTokens < maxTokens && completionTokens >= room)
      result.limitedBy = 'context';
    yield { type: 'done', result };
  }
}

/**
 * Loads a GGUF model with node-llama-cpp and returns a ChatModel that renders prompts with the file's chat
 * template, supports `assistantPrefix` continuation in the same KV cache, GBNF constraints, stop strings and
 * seeds, and reports how many prompt tokens were reused from the cache.
 */
export async function createLocalModel(options: LocalModelOptions): Promise<ChatModel> {
  const { modelPath } = options;
  const threads = options.threads ?? 1;
  if (!Number.isSafeInteger(threads) || threads < 1)
    throw fail(`threads must be an integer >= 1, got ${threads}`, undefined, 'refused');
  if (
    options.contextSize !== undefined &&
    (!Number.isSafeInteger(options.contextSize) || options.contextSize < 16)
  ) {
    throw fail(`contextSize must be an integer >= 16, got ${options.contextSize}`, undefined, 'refused');
  }
  try {
    await access(modelPath);
    // llama.cpp's own message for a directory is a bare EISDIR from its read.
    if ((await stat(modelPath)).isDirectory())
      throw fail(`the model path is a directory, not a GGUF file: ${modelPath}`, undefined, 'refused');
  } catch (error) {
    if (error instanceof ChatModelError) throw error;
    throw fail(`model file not found: ${modelPath}`, error, 'refused');
  }
  // llama.cpp's own errors for a short or damaged file say "Failed to load model" or worse.
  let problem: string | undefined;
  try {
    problem = await ggufFileProblem(modelPath);
  } catch (error) {
    throw fail(`cannot read the model file ${modelPath}: ${errorText(error)}`, error, 'refused');
  }
  if (problem !== undefined)
    throw fail(`${modelPath} is not a usable GGUF model: ${problem}`, undefined, 'refused');
  const lib = await importNodeLlamaCpp();
  let llama: Llama;
  try {
    llama = await getSharedLlama(lib, options.gpu ?? false);
  } catch (error) {
    throw fail(
      `could not start llama.cpp (gpu: ${String(options.gpu ?? false)}): ${errorText(error)}`,
      error,
    );
  }
  let model: LlamaModel;
  try {
    model = await llama.loadModel({ modelPath });
  } catch (error) {
    throw fail(`could not load the model ${modelPath}: ${errorText(error)}`, error);
  }
  try {
    const contextSize = options.contextSize ?? 'auto';
    const context = await model.createContext({ contextSize, threads, sequences: 1 });
    const sequence = context.getSequence();
    return new LocalChatModel(
      lib,
      llama,
      model,
      context,
      sequence,
      chatWrapperFor(lib, model),
      options.seed,
      modelPath,
    );
  } catch (error) {
    await model.dispose();
    throw fail(`could not create a context for ${modelPath}: ${errorText(error)}`, error);
  }
}

/**
 * The file's own Jinja chat template, rendered as written; when the file has none (or the Jinja engine rejects
 * it), node-llama-cpp's best match for the model.
 */
function chatWrapperFor(lib: NodeLlamaCpp, model: LlamaModel): ChatWrapper {
  const template = model.fileInfo.metadata.tokenizer?.chat_template;
  if (typeof template === 'string' && template !== '') {
    try {
      // Not joining adjacent messages: a trailing assistant message stays a closed turn, and a new one opens.
      return new lib.JinjaTemplateChatWrapper({
        template,
        tokenizer: model.tokenizer,
        joinAdjacentMessagesOfTheSameType: false,
      });
    } catch {
      // fall through to the resolver, which knows the common templates
    }
  }
  return lib.resolveChatWrapper(model);
}
