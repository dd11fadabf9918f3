/**
 * One chat-model interface for every backend (OpenAI-compatible HTTP servers, the embedded local engine).
 * Backends declare what they support; callers check `capabilities` instead of guessing.
 */

import { GtalignError } from '../errors.js';
export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

/**
 * A decoding constraint. A backend that cannot apply a kind says so in its capabilities.
 *
 * `check` guards against servers that silently ignore a constraint: after a generation that finished
 * with `stop`, the backend tests `check` (as given: anchor it) against the text, alone or followed by one
 * of the request's stop strings (servers cut the stop string from the text), and throws a
 * `ChatModelError` when none matches (or, with `onConstraintViolation: 'report'`, returns the output with
 * `constraintViolation` set, for a caller that validates the output itself). For `regex` the default check is the pattern itself, anchored at
 * both ends; `gbnf` is checked only when `check` is given (e.g. `buildFormatRegExp` for a grammar from
 * `buildGbnf`). Truncated (`length`) outputs are not checked.
 */
export type Constraint =
  | { kind: 'gbnf'; grammar: string; check?: RegExp }
  | { kind: 'regex'; pattern: string; check?: RegExp };

export interface GenerateRequest {
  messages: ChatMessage[];
  /**
   * A partial assistant message to extend in the same turn (prefill / continue_final_message / same local
   * context). The result's `text` is only what comes after it.
   */
  assistantPrefix?: string;
  /** Generation stops before any of these strings; the stop string is not part of `text`. */
  stop?: string[];
  maxTokens?: number;
  temperature?: number;
  seed?: number;
  constraint?: Constraint;
  /**
   * What an output that breaks the constraint's check does: `throw` a `ChatModelError` with reason
   * `constraint` (default), or `report` it on the result's `constraintViolation` and return the output,
   * for a caller whose own validation is the judge (a constraint is a means, not the point).
   */
  onConstraintViolation?: 'throw' | 'report';
  signal?: AbortSignal;
}

export interface TokenUsage {
  /** Tokens of the prompt (messages + prefix) as the backend saw them. */
  promptTokens: number;
  /** Prompt tokens the backend reused from its cache instead of evaluating (0 when unknown). */
  cachedPromptTokens: number;
  /** Tokens generated. */
  completionTokens: number;
}

export interface GenerateResult {
  /** The generated text only (after `assistantPrefix`, without the stop string). */
  text: string;
  finishReason: 'stop' | 'length' | 'other';
  /**
   * With `finishReason` 'length': set when the model's context, not `maxTokens`, ended the output (the
   * embedded engine knows; a server does not say), so a message can name the setting that would help.
   */
  limitedBy?: 'context';
  /** The stop string that ended generation, when one did. */
  stoppedBy?: string;
  usage: TokenUsage;
  /** Wall time of the call in milliseconds. */
  durationMs: number;
  /**
   * With `onConstraintViolation: 'report'`: how the output breaks the request's constraint (the server
   * ignored it). Absent when it satisfies it, or when there was nothing to check.
   */
  constraintViolation?: string;
}

export type StreamEvent = { type: 'text'; text: string } | { type: 'done'; result: GenerateResult };

export interface ChatModelCapabilities {
  /** Can extend a partial assistant message in the same turn (`assistantPrefix`). */
  continuation: boolean;
  /** Accepts `{kind: 'gbnf'}` constraints. */
  gbnf: boolean;
  /** Accepts `{kind: 'regex'}` constraints. */
  regex: boolean;
  /** Honours `seed`. */
  seed: boolean;
  /** Reports `cachedPromptTokens` truthfully (prefix-cache reuse is visible). */
  cacheReport: boolean;
}

export interface ChatModel {
  /** A human-readable name: backend and model. */
  readonly id: string;
  readonly capabilities: ChatModelCapabilities;
  /** How the backend kind was chosen, for traces (e.g. a server detection's verdict and why). */
  readonly about?: string;
  /** Set by a model whose weights are random (the offline model): its text means nothing. */
  readonly randomWeights?: true;
  generate(request: GenerateRequest): Promise<GenerateResult>;
  stream(request: GenerateRequest): AsyncIterable<StreamEvent>;
  /**
   * Runs `work` with the model to itself: its calls (made from within `work`) run one after another,
   * and other callers' calls wait until it ends. A backend with one sequence (the embedded engine) has
   * it, so that a turn's two stages are not split by another turn's stage, which would replace the
   * sequence's cache and make stage 2 evaluate its prompt again from text. Servers do not need it.
   * A `signal` that aborts while `work` still waits for its turn rejects at once with the signal's reason
   * (a client that left, a server that stops), without running `work`.
   */
  exclusive?<T>(work: () => Promise<T>, signal?: AbortSignal): Promise<T>;
  /** Frees owned resources (a loaded model, sockets). */
  close(): Promise<void>;
}

/** `model`'s `exclusive`, for a view that wraps the model (spread into it), or nothing when it has none. */
export function exclusiveOf(model: ChatModel): Pick<ChatModel, 'exclusive'> {
  const { exclusive } = model;
  return exclusive === undefined
    ? {}
    : {
        exclusive: <T>(work: () => Promise<T>, signal?: AbortSignal) =>
          exclusive.call(model, work, signal) as Promise<T>,
      };
}

/**
 * What went wrong, in the terms a caller decides on. Retrying can help for `network`, `timeout`,
 * `malformed`, `incomplete`, `upstream` and an `http_status` of 408, 429 or 5xx; never for the rest.
 */
export type ChatModelFailure =
  /** The server could not be reached, or the connection broke. */
  | 'network'
  /** No complete answer within the attempt's time. */
  | 'timeout'
  /** The server answered with an error status (`details.status`). */
  | 'http_status'
  /** The server answered something that is not a chat completion. */
  | 'malformed'
  /** A body or stream event over the client's limit. */
  | 'too_large'
  /** A stream ended before the completion finished. */
  | 'incomplete'
  /** The server reported an error inside a stream. */
  | 'upstream'
  /** The output breaks the request's constraint (the server ignored it). */
  | 'constraint'
  /** The request cannot be made as given: an option the backend lacks, a closed model, a bad URL. */
  | 'refused'
  /** The caller aborted. */
  | 'aborted'
  /** The embedded engine failed. */
  | 'engine';

const RETRYABLE_FAILURES: ReadonlySet<ChatModelFailure> = new Set([
  'network',
  'timeout',
  'malformed',
  'incomplete',
  'upstream',
]);

export interface ChatModelErrorDetails {
  backend: string;
  /** What went wrong; absent on errors made without one (treated as "no answer at all"). */
  reason?: ChatModelFailure;
  status?: number;
  body?: string;
  /** A server's `Retry-After`, in ms. */
  retryAfterMs?: number;
  /** Set when the prompt does not fit the model's context: the request's input is too long, not a fault. */
  contextLength?: { promptTokens: number; contextTokens: number };
  cause?: unknown;
}

/** A backend failure with the information a user needs (which server, what status, what body). */
export class ChatModelError extends GtalignError {
  readonly code = 'backend';
  /** A server error or no answer at all may pass; a 4xx, a refusal or a broken constraint will not by itself. */
  override get retryable(): boolean {
    const { status, reason } = this.details;
    if (status !== undefined) return status === 408 || status === 429 || status >= 500;
    return reason === undefined || RETRYABLE_FAILURES.has(reason);
  }
  constructor(
    message: string,
    readonly details: ChatModelErrorDetails = { backend: 'unknown' },
  ) {
    super(message, details.cause === undefined ? {} : { cause: details.cause });
    this.name = 'ChatModelError';
  }
}
