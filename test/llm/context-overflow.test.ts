/** Telling a backend's "the conversation does not fit the context" apart from its other failures. */
import { describe, expect, it } from 'vitest';
import { exceedsContext } from '../../src/llm/context-overflow.js';
import { ChatModelError, type ChatModelErrorDetails } from '../../src/llm/types.js';

const failure = (details: Omit<ChatModelErrorDetails, 'backend'>) =>
  new ChatModelError('refused', { backend: 'vllm:m', ...details });

describe('exceedsContext', () => {
  it('reads a refusal (4xx) whose body says the context is exceeded, in any of the servers’ words', () => {
    const body = (message: string) => JSON.stringify({ error: { message } });
    expect(
      exceedsContext(
        failure({ status: 400, body: body("This model's maximum context length is 4096 tokens.") }),
      ),
    ).toBe(true);
    expect(
      exceedsContext(failure({ status: 413, body: '{"error":{"code":"context_length_exceeded"}}' })),
    ).toBe(true);
    expect(
      exceedsContext(
        failure({
          status: 400,
          body: body("the prompt is longer than the model's context length (4096 tokens)"),
        }),
      ),
    ).toBe(true);
    expect(exceedsContext(failure({ contextLength: { promptTokens: 900, contextTokens: 512 } }))).toBe(true);
  });

  it('leaves other failures alone: another refusal, a server fault that mentions a context, no body', () => {
    expect(
      exceedsContext(failure({ status: 400, body: '{"error":{"message":"unknown field: seed"}}' })),
    ).toBe(false);
    expect(exceedsContext(failure({ status: 500, body: 'maximum context length is 4096 tokens' }))).toBe(
      false,
    );
    expect(exceedsContext(failure({ status: 400 }))).toBe(false);
    expect(exceedsContext(failure({ reason: 'network' }))).toBe(false);
  });
});
