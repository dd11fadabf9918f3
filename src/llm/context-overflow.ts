/**
 * Whether a backend's refusal says the request does not fit the model's context. The embedded engine sets
 * `details.contextLength`; a server says it in its error body, each in its own words: OpenAI's code
 * `context_length_exceeded`, llama.cpp's type `exceed_context_size_error` ("request (N tokens) exceeds the
 * available context size"), vLLM's "maximum context length is N tokens" (also when the prompt plus
 * `max_tokens` is what overflows), SGLang's "exceeds the maximum allowed length" or "longer than the
 * model's context length". A caller tells its user to shorten the conversation instead of reporting a
 * broken backend.
 */
import type { ChatModelError } from './types.js';

const OVERFLOW_WORDING =
  /context_length_exceeded|exceed_context_size_error|exceeds the available context size|maximum context length|exceeds the maximum allowed length|longer than the model's context length/i;

export function exceedsContext(err: ChatModelError): boolean {
  if (err.details.contextLength !== undefined) return true;
  const { status, body } = err.details;
  // Only a refusal of the request (4xx) says so: a 5xx whose text mentions a context is a server fault.
  if (status === undefined || status < 400 || status > 499 || body === undefined) return false;
  return OVERFLOW_WORDING.test(body);
}
