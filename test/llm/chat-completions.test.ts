import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { readCompletion, readCompletionBySchema, tokenUsage } from '../../src/llm/chat-completions.js';

/** A field's value: mostly what the schema takes, sometimes what it refuses. */
const anyValue = fc.oneof(
  fc.constant(undefined),
  fc.constant(null),
  fc.string({ maxLength: 8 }),
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant([]),
  fc.constant({}),
);
const numberish = fc.oneof(
  { weight: 4, arbitrary: fc.oneof(fc.constant(undefined), fc.constant(null), fc.nat()) },
  { weight: 1, arbitrary: anyValue },
);
const stringish = fc.oneof(
  { weight: 4, arbitrary: fc.oneof(fc.constant(undefined), fc.constant(null), fc.string({ maxLength: 12 })) },
  { weight: 1, arbitrary: anyValue },
);
/** An object of the given fields, a field left out when undefined; sometimes something else entirely. */
const objectOf = (fields: Record<string, fc.Arbitrary<unknown>>) =>
  fc.oneof(
    { weight: 6, arbitrary: fc.record(fields, { requiredKeys: [] }) },
    { weight: 1, arbitrary: anyValue },
  );
const choice = objectOf({
  index: fc.nat(),
  message: objectOf({ role: fc.constant('assistant'), content: stringish }),
  finish_reason: stringish,
  stop_reason: fc.oneof(stringish, numberish),
  matched_stop: fc.oneof(stringish, numberish),
});
const completion = objectOf({
  id: fc.string(),
  choices: fc.oneof(
    { weight: 6, arbitrary: fc.array(choice, { maxLength: 3 }) },
    { weight: 1, arbitrary: anyValue },
  ),
  usage: objectOf({
    prompt_tokens: numberish,
    completion_tokens: numberish,
    total_tokens: numberish,
    prompt_tokens_details: objectOf({ cached_tokens: numberish }),
  }),
  timings: objectOf({ cache_n: numberish, prompt_n: numberish, predicted_n: numberish }),
});

describe('readCompletion', () => {
  it('reads every body exactly as the schema does (the fast check never accepts what the schema refuses)', () => {
    fc.assert(
      fc.property(completion, (payload) => {
        const fast = readCompletion(payload);
        const bySchema = readCompletionBySchema(payload);
        expect(fast.ok).toBe(bySchema.ok);
        if (fast.ok && bySchema.ok) {
          const { usage, timings, ...rest } = fast.value;
          const { usage: schemaUsage, timings: schemaTimings, ...schemaRest } = bySchema.value;
          expect(rest).toEqual(schemaRest);
          // The schema drops fields it does not know; what is read from them is the same.
          expect(tokenUsage(usage, timings)).toEqual(tokenUsage(schemaUsage, schemaTimings));
        } else expect(fast).toEqual(bySchema);
      }),
      { numRuns: 3000 },
    );
  });

  it('refuses an infinite token count as the schema does (JSON.parse reads 1e999 as Infinity)', () => {
    const body = JSON.parse(
      '{"choices":[{"message":{"content":"x"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1e999}}',
    ) as unknown;
    expect(readCompletion(body).ok).toBe(false);
  });
});
