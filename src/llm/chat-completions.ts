/**
 * The OpenAI chat completions wire format as the servers here speak it: the endpoint URL, the response
 * shapes (validated at the edge), and how finish reasons, stop strings and token usage are reported.
 *
 * Endpoint: `POST <base>/chat/completions`. Trailing slashes are dropped, a trailing `/chat/completions`
 * is dropped, and a URL with no path at all gets `/v1` (so `http://host:8000`, `http://host:8000/`,
 * `http://host:8000/v1/` all mean `http://host:8000/v1`). Any other path is kept as given
 * (`https://host/api/openai/v1beta` stays), and so is a query string (e.g. `?api-version=`).
 *
 * Stop strings: servers leave the stop string out of the content. `stoppedBy` comes from vLLM's
 * `stop_reason` or SGLang's `matched_stop` when present; servers that do not report it get the one stop
 * string presumed when there was exactly one and the finish reason is `stop`, else none.
 *
 * Usage: `prompt_tokens`, `completion_tokens`; cached prompt tokens from
 * `usage.prompt_tokens_details.cached_tokens` (vLLM with `--enable-prompt-tokens-details`, SGLang with
 * `--enable-cache-report`, OpenAI, newer llama.cpp) or llama.cpp's `timings.cache_n`; 0 when unreported.
 */
import { z } from 'zod';
import { ChatModelError, type GenerateResult, type TokenUsage } from './types.js';

/** The chat completions URL for a base URL, by the rule above. */
export function chatCompletionsUrl(baseUrl: string): string {
  let url: URL;
  try {
    url = new URL(baseUrl.trim());
  } catch {
    throw new ChatModelError(`invalid baseUrl "${baseUrl}": not an absolute URL`, {
      backend: 'openai',
      reason: 'refused',
    });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ChatModelError(`invalid baseUrl "${baseUrl}": the protocol must be http or https`, {
      backend: 'openai',
      reason: 'refused',
    });
  }
  let path = url.pathname.replace(/\/+$/, '');
  if (path.endsWith('/chat/completions')) path = path.slice(0, -'/chat/completions'.length);
  if (path === '') path = '/v1';
  return `${url.origin}${path}/chat/completions${url.search}`;
}

const usageSchema = z
  .object({
    prompt_tokens: z.number().nullish(),
    completion_tokens: z.number().nullish(),
    prompt_tokens_details: z.object({ cached_tokens: z.number().nullish() }).nullish(),
  })
  .nullish();

const timingsSchema = z
  .object({
    cache_n: z.number().nullish(),
    prompt_n: z.number().nullish(),
    predicted_n: z.number().nullish(),
  })
  .nullish();

/** vLLM `stop_reason` / SGLang `matched_stop`: the stop string, a stop token id, or null for EOS. */
const stopMarkSchema = z.union([z.string(), z.number()]).nullish();

const completionSchema = z.object({
  choices: z
    .array(
      z.object({
        message: z.object({ content: z.string().nullish() }),
        finish_reason: z.string().nullish(),
        stop_reason: stopMarkSchema,
        matched_stop: stopMarkSchema,
      }),
    )
    .min(1),
  usage: usageSchema,
  timings: timingsSchema,
});

const chunkSchema = z.object({
  choices: z
    .array(
      z.object({
        delta: z.object({ content: z.string().nullish() }).nullish(),
        finish_reason: z.string().nullish(),
        stop_reason: stopMarkSchema,
        matched_stop: stopMarkSchema,
      }),
    )
    .nullish(),
  usage: usageSchema,
  timings: timingsSchema,
});

export type Usage = z.infer<typeof usageSchema>;
export type Timings = z.infer<typeof timingsSchema>;
export type StopMark = z.infer<typeof stopMarkSchema>;
export type Chunk = z.infer<typeof chunkSchema>;

/** How a completion ended and what it cost, as reported whole or over a stream's chunks. */
export interface CompletionParts {
  finish: string | null | undefined;
  mark: StopMark;
  usage: Usage;
  timings: Timings;
}

/** The parts of a non-streamed completion this client uses. */
export interface Completion extends CompletionParts {
  content: string;
}

function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 3)
    .map((i) => `${i.path.length > 0 ? i.path.join('.') : '(root)'}: ${i.message}`)
    .join('; ');
}

// What the schemas above accept, checked by hand for the common case (a judge reads thousands of
// completions a second): a body these accept, the schemas accept too, and its parts are read the same way.
// Anything else goes through the schemas, which name what is wrong.

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** `z.number().nullish()`: zod numbers are finite. */
function nullishNumber(v: unknown): boolean {
  return v === undefined || v === null || (typeof v === 'number' && Number.isFinite(v));
}

function nullishString(v: unknown): boolean {
  return v === undefined || v === null || typeof v === 'string';
}

function stopMark(v: unknown): boolean {
  return nullishString(v) || (typeof v === 'number' && Number.isFinite(v));
}

function usageFits(u: unknown): boolean {
  if (u === undefined || u === null) return true;
  if (!isRecord(u) || !nullishNumber(u.prompt_tokens) || !nullishNumber(u.completion_tokens)) return false;
  const details = u.prompt_tokens_details;
  return (
    details === undefined || details === null || (isRecord(details) && nullishNumber(details.cached_tokens))
  );
}

function timingsFit(t: unknown): boolean {
  if (t === undefined || t === null) return true;
  return isRecord(t) && nullishNumber(t.cache_n) && nullishNumber(t.prompt_n) && nullishNumber(t.predicted_n);
}

/** The body {@link completionSchema} accepts, as far as the hand check can tell (else undefined). */
function plainCompletion(payload: unknown): Completion | undefined {
  if (!isRecord(payload)) return undefined;
  const choices = payload.choices;
  if (!Array.isArray(choices) || choices.length === 0) return undefined;
  for (const choice of choices) {
    if (!isRecord(choice)) return undefined;
    const message = choice.message;
    if (!isRecord(message) || !nullishString(message.content) || !nullishString(choice.finish_reason)) {
      return undefined;
    }
    if (!stopMark(choice.stop_reason) || !stopMark(choice.matched_stop)) return undefined;
  }
  if (!usageFits(payload.usage) || !timingsFit(payload.timings)) return undefined;
  const choice = choices[0] as Record<string, unknown> & { message: Record<string, unknown> };
  return {
    content: (choice.message.content as string | null | undefined) ?? '',
    finish: choice.finish_reason as string | null | undefined,
    mark: (choice.stop_reason !== undefined ? choice.stop_reason : choice.matched_stop) as StopMark,
    usage: payload.usage as Usage,
    timings: payload.timings as Timings,
  };
}

/** A completion body → its parts, or what is wrong with it. */
export function readCompletion(
  payload: unknown,
): { ok: true; value: Completion } | { ok: false; issues: string } {
  const plain = plainCompletion(payload);
  return plain !== undefined ? { ok: true, value: plain } : readCompletionBySchema(payload);
}

/** {@link readCompletion} by the schema alone (what the hand check must agree with; for tests). */
export function readCompletionBySchema(
  payload: unknown,
): { ok: true; value: Completion } | { ok: false; issues: string } {
  const parsed = completionSchema.safeParse(payload);
  if (!parsed.success) return { ok: false, issues: describeIssues(parsed.error) };
  const choice = parsed.data.choices[0]!;
  return {
    ok: true,
    value: {
      content: choice.message.content ?? '',
      finish: choice.finish_reason,
      mark: choice.stop_reason !== undefined ? choice.stop_reason : choice.matched_stop,
      usage: parsed.data.usage,
      timings: parsed.data.timings,
    },
  };
}

/** A stream chunk → its fields, or what is wrong with it. */
export function readChunk(payload: unknown): { ok: true; value: Chunk } | { ok: false; issues: string } {
  const parsed = chunkSchema.safeParse(payload);
  return parsed.success
    ? { ok: true, value: parsed.data }
    : { ok: false, issues: describeIssues(parsed.error) };
}

export function finishReasonOf(raw: string | null | undefined): GenerateResult['finishReason'] {
  return raw === 'stop' ? 'stop' : raw === 'length' ? 'length' : 'other';
}

/**
 * The stop string that ended generation. `mark` is what the server reported (undefined: not reported;
 * null or a number: EOS or a stop token, so no stop string).
 */
export function stoppedByOf(
  finishReason: GenerateResult['finishReason'],
  mark: StopMark,
  stops: readonly string[],
): string | undefined {
  if (finishReason !== 'stop' || stops.length === 0) return undefined;
  if (mark === undefined) return stops.length === 1 ? stops[0] : undefined;
  return typeof mark === 'string' && stops.includes(mark) ? mark : undefined;
}

export function tokenUsage(usage: Usage, timings: Timings): TokenUsage {
  const cacheN = timings?.cache_n ?? undefined;
  const promptFromTimings =
    timings?.prompt_n !== undefined && timings?.prompt_n !== null ? timings.prompt_n + (cacheN ?? 0) : 0;
  return {
    promptTokens: usage?.prompt_tokens ?? promptFromTimings,
    cachedPromptTokens: usage?.prompt_tokens_details?.cached_tokens ?? cacheN ?? 0,
    completionTokens: usage?.completion_tokens ?? timings?.predicted_n ?? 0,
  };
}
