/**
 * A judge behind an OpenAI-compatible endpoint, as `createJudge({ baseUrl, model, … })` describes it: the
 * chat model it talks to (createOpenAIModel over the shared transport, with no retries of its own: the
 * judge retries) and the identity its replies are cached under.
 */
import type { OpenAIVendor } from '../llm/dialect.js';
import { resolveApiKey as resolveKey } from '../llm/http.js';
import { createOpenAIModel } from '../llm/openai.js';
import type { ChatModel } from '../llm/types.js';

export const DEFAULT_API_KEY_ENV = 'GTALIGN_JUDGE_API_KEY';

/** The connection settings of a judge served over HTTP. */
export interface JudgeEndpointOptions {
  /** Base URL of the OpenAI-compatible API, e.g. `http://localhost:8000/v1` (see `chatCompletionsUrl`). */
  baseUrl: string;
  /** The served model's name. */
  model: string;
  /** Explicit API key; wins over the environment. */
  apiKey?: string | undefined;
  /**
   * Environment variable holding the key (default `GTALIGN_JUDGE_API_KEY`). Only when this is left at
   * its default does the client fall back to `OPENAI_API_KEY`, so a key meant for OpenAI is never sent
   * to an endpoint the user configured with a key variable of its own. No key → no Authorization header.
   */
  apiKeyEnv?: string | undefined;
  /** Environment to read the key from (default `process.env`). */
  env?: Readonly<Record<string, string | undefined>> | undefined;
  /**
   * Server kind (default `openai`): matters only for `constraints`, which need a vendor that applies
   * them (vllm and sglang take regex, llamacpp gbnf). The CLI's `--judge-vendor auto` (its default) finds
   * it out with `detectVendorOnce` (src/llm/detect.ts) before the judge is made.
   */
  vendor?: OpenAIVendor | undefined;
  /**
   * Extra request-body fields, part of the cache key, e.g. `{ chat_template_kwargs: { enable_thinking: false } }`
   * for Qwen3 on vLLM. A `temperature` or `max_tokens` here wins over the options of the same meaning.
   */
  extraBody?: Readonly<Record<string, unknown>> | undefined;
  /** Extra HTTP headers (not part of the cache key). */
  headers?: Readonly<Record<string, string>> | undefined;
  /** Replaces the keep-alive node:http client, e.g. for tests. */
  fetch?: typeof fetch | undefined;
}

export function resolveApiKey(
  options: Pick<JudgeEndpointOptions, 'apiKey' | 'apiKeyEnv' | 'env'>,
): string | undefined {
  return resolveKey(options, DEFAULT_API_KEY_ENV);
}

/** Sampling settings as the judge asks for them; `params` is what the cache key holds. */
export interface JudgeSampling {
  temperature: number | undefined;
  maxTokens: number | undefined;
  params: Record<string, unknown>;
}

export interface JudgeEndpoint {
  model: ChatModel;
  /** The cache key's `endpoint`: as judges before the shared transport wrote it, so their entries stay valid. */
  cacheEndpoint: string;
  sampling: JudgeSampling;
}

/**
 * The chat model and cache identity of an HTTP judge. `temperature` and `maxTokens` are the judge's
 * options; the body sent is the one judges always sent: `{model, messages, temperature, max_tokens,
 * ...extraBody}` (plus `stream: false`, which changes no reply).
 */
export function judgeEndpoint(
  options: JudgeEndpointOptions,
  settings: { temperature: number; maxTokens: number; timeoutMs: number; concurrency: number },
): JudgeEndpoint {
  if (options.baseUrl.trim() === '') throw new RangeError('judge: baseUrl is empty');
  if (options.model.trim() === '') throw new RangeError('judge: model is empty');
  const params: Record<string, unknown> = {
    temperature: settings.temperature,
    max_tokens: settings.maxTokens,
    ...options.extraBody,
  };
  // The sampling fields go through the model's own options when they are numbers (as they should be).
  const extraBody: Record<string, unknown> = { ...options.extraBody };
  const temperature = typeof params.temperature === 'number' ? params.temperature : undefined;
  const maxTokens = typeof params.max_tokens === 'number' ? params.max_tokens : undefined;
  if (temperature !== undefined) delete extraBody.temperature;
  if (maxTokens !== undefined) delete extraBody.max_tokens;
  const apiKey = resolveApiKey(options);
  const model = createOpenAIModel({
    baseUrl: options.baseUrl,
    model: options.model,
    vendor: options.vendor ?? 'openai',
    // The judge's key (or none): the model must not look up its own default variables.
    ...(apiKey === undefined ? {} : { apiKey }),
    env: {},
    extraBody,
    headers: { ...options.headers },
    timeoutMs: settings.timeoutMs,
    maxRetries: 0,
    maxSockets: Math.max(16, settings.concurrency),
    ...(options.fetch === undefined ? {} : { fetch: options.fetch }),
  });
  return {
    model,
    cacheEndpoint: `${options.baseUrl.replace(/\/+$/, '')}/chat/completions`,
    sampling: { temperature, maxTokens, params },
  };
}
