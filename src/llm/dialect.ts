/**
 * How each OpenAI-compatible server kind says what the standard chat completions body cannot: continuing
 * a partial assistant message, and constraining the output. Only request fields live here; the body's
 * common part is in chat-completions.ts.
 *
 * Continuing a partial assistant message (the prefix goes out as a trailing assistant message):
 * - vllm, sglang: with `continue_final_message: true, add_generation_prompt: false`.
 * - llamacpp: llama-server prefills a trailing assistant message by default (since mid-2025, unless started
 *   with `--no-prefill-assistant`). Old servers read `add_generation_prompt` and would drop the assistant
 *   header if it were false, so no flag is sent unless `llamacppContinueFlag` is set (newer servers then
 *   force the prefill path even with `--no-prefill-assistant`). Thinking models need thinking off for a
 *   prefill (llama-server refuses).
 * - ollama: continues a trailing assistant message when the model's template supports it (the official
 *   templates do).
 * - openai: no continuation.
 *
 * Thinking models (Qwen3-style chat templates): a template with thinking on opens a new `<think>` block
 * instead of continuing the prefix, or (older llama-server) refuses the prefill. So a request that continues
 * a prefix on vllm, sglang or llamacpp also sends `chat_template_kwargs: {enable_thinking: false}` (merged
 * over `chat_template_kwargs` of the caller's extra body), unless `keepThinking` is set. vLLM and SGLang pass
 * `chat_template_kwargs` to the template; llama-server merges it into its template arguments and reads
 * `enable_thinking` from it; templates without the variable ignore it.
 *
 * Constraints: vllm `regex` via `structured_outputs: {regex}` (vLLM >= 0.10.2; the legacy `guided_regex`,
 * removed in 0.12 and silently ignored since, with `vllmConstraintApi: 'guided'`); sglang `regex` via its
 * `regex` field; llamacpp `gbnf` via `grammar`. Ollama and generic OpenAI take neither.
 */
import type { ChatModelCapabilities, Constraint } from './types.js';

export type OpenAIVendor = 'vllm' | 'sglang' | 'llamacpp' | 'ollama' | 'openai';

export interface DialectOptions {
  /** vLLM only: `structured_outputs` (default, vLLM >= 0.10.2) or the legacy `guided_regex` field. */
  vllmConstraintApi?: 'structured_outputs' | 'guided' | undefined;
  /** llama.cpp only: also send `continue_final_message: true, add_generation_prompt: false`. */
  llamacppContinueFlag?: boolean | undefined;
  /** Do not send `chat_template_kwargs: {enable_thinking: false}` with a continued prefix (default false). */
  keepThinking?: boolean | undefined;
}

/** The vendors whose chat templates take `chat_template_kwargs` (and so the thinking switch). */
export const THINKING_SWITCH_VENDORS: readonly OpenAIVendor[] = ['vllm', 'sglang', 'llamacpp'];

export const VENDOR_CAPABILITIES: Readonly<Record<OpenAIVendor, Readonly<ChatModelCapabilities>>> = {
  vllm: { continuation: true, gbnf: false, regex: true, seed: true, cacheReport: true },
  sglang: { continuation: true, gbnf: false, regex: true, seed: true, cacheReport: true },
  llamacpp: { continuation: true, gbnf: true, regex: false, seed: true, cacheReport: true },
  ollama: { continuation: true, gbnf: false, regex: false, seed: true, cacheReport: false },
  // Hosted OpenAI treats `seed` as best effort and cannot prefill.
  openai: { continuation: false, gbnf: false, regex: false, seed: false, cacheReport: false },
};

export const VENDORS = Object.keys(VENDOR_CAPABILITIES) as OpenAIVendor[];

export function isVendor(name: string): name is OpenAIVendor {
  return (VENDORS as readonly string[]).includes(name);
}

/** Why `vendor` cannot send this request, or undefined when it can. */
export function unsupported(
  vendor: OpenAIVendor,
  request: { continues: boolean; constraint: Constraint | undefined },
): string | undefined {
  const can = VENDOR_CAPABILITIES[vendor];
  if (request.continues && !can.continuation) {
    return `the ${vendor} backend cannot continue a partial assistant message (assistantPrefix); use vendor vllm, sglang, llamacpp or ollama, or re-ask`;
  }
  const constraint = request.constraint;
  if (constraint !== undefined && !can[constraint.kind]) {
    const supported = (['regex', 'gbnf'] as const).filter((k) => can[k]);
    return `the ${vendor} backend cannot apply a ${constraint.kind} constraint (it supports ${supported.length > 0 ? supported.join(', ') : 'none'})`;
  }
  return undefined;
}

/** The vendor's fields for a request that continues a prefix and/or carries a constraint it supports. */
export function dialectFields(
  vendor: OpenAIVendor,
  request: { continues: boolean; constraint: Constraint | undefined },
  options: DialectOptions = {},
): Record<string, unknown> {
  const fields: Record<string, unknown> = {};
  if (request.continues && (vendor === 'vllm' || vendor === 'sglang' || options.llamacppContinueFlag)) {
    fields.continue_final_message = true;
    fields.add_generation_prompt = false;
  }
  if (request.continues && !options.keepThinking && THINKING_SWITCH_VENDORS.includes(vendor)) {
    fields.chat_template_kwargs = { enable_thinking: false };
  }
  const constraint = request.constraint;
  if (constraint?.kind === 'regex' && vendor === 'vllm') {
    if (options.vllmConstraintApi === 'guided') fields.guided_regex = constraint.pattern;
    else fields.structured_outputs = { regex: constraint.pattern };
  } else if (constraint?.kind === 'regex' && vendor === 'sglang') {
    fields.regex = constraint.pattern;
  } else if (constraint?.kind === 'gbnf' && vendor === 'llamacpp') {
    fields.grammar = constraint.grammar;
  }
  return fields;
}
