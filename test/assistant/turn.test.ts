/**
 * One turn against hostile model output, with an in-process scripted ChatModel: stage 1 that never reaches
 * `</payoff>`, garbage, empty replies. The turn must end in a result or a TurnError that shows the text,
 * never in a TypeError or a fake success.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TurnError } from '../../src/assistant/errors.js';
import { restartOf, runTurn } from '../../src/assistant/turn.js';
import { cellKeys } from '../../src/game/spec.js';
import type {
  ChatModel,
  ChatModelCapabilities,
  GenerateRequest,
  GenerateResult,
  StreamEvent,
} from '../../src/llm/types.js';
import { PRESETS } from '../../src/steering/presets.js';
import { scriptedResult } from '../support/scripted-result.js';

type Reply = { text: string; finishReason?: GenerateResult['finishReason'] };

/** A model that answers each call with the next scripted reply, cutting at the request's stop strings. */
function scripted(
  replies: (request: GenerateRequest, call: number) => Reply,
  capabilities: Partial<ChatModelCapabilities> = {},
): ChatModel & { requests: GenerateRequest[] } {
  const requests: GenerateRequest[] = [];
  const generate = async (request: GenerateRequest): Promise<GenerateResult> => {
    requests.push(request);
    const reply = replies(request, requests.length - 1);
    return scriptedResult(request, reply.text, reply.finishReason);
  };
  return {
    id: 'scripted',
    capabilities: {
      continuation: true,
      gbnf: false,
      regex: false,
      seed: true,
      cacheReport: false,
      ...capabilities,
    },
    requests,
    generate,
    async *stream(request): AsyncIterable<StreamEvent> {
      const result = await generate(request);
      if (result.text !== '') yield { type: 'text', text: result.text };
      yield { type: 'done', result };
    },
    async close() {},
  };
}

const STAGE1 =
  '<thinking>Clear enough.</thinking>\n<payoff>{"DQ_DA": {"LLM": 1.6, "user": 2.8}, "DQ_CQ": {"LLM": 1.3, "user": 2.7}, ' +
  '"DQ_AQ": {"LLM": 1.0, "user": 2.5}, "VQ_DA": {"LLM": 1.9, "user": 2.4}, "VQ_CQ": {"LLM": 1.7, "user": 2.9}, ' +
  '"VQ_AQ": {"LLM": 1.4, "user": 2.3}}</payoff>';
const CUT = STAGE1.slice(0, STAGE1.indexOf('"VQ_DA"'));
const question = 'When did dinosaurs first appear?';

describe('stage 1 that never reaches </payoff>', () => {
  it('names the token limit when the model ran into it, and shows the text', async () => {
    const model = scripted(() => ({ text: CUT, finishReason: 'length' }));
    const error = await runTurn({ model, question, maxTokens: 64 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TurnError);
    const e = error as TurnError;
    expect(e.kind).toBe('payoff');
    expect(e.message).toContain(
      'token limit (64 tokens, --max-tokens in the CLI, maxTokens in the library) before </payoff>',
    );
    expect(e.details).toMatchObject({ stage: 'stage1', text: CUT });
    expect(model.requests).toHaveLength(1);
  });

  it('names the context, not the token limit, when the model’s context ended the output', async () => {
    const base = scripted(() => ({ text: CUT, finishReason: 'length' }), { gbnf: true });
    const model = {
      ...base,
      generate: async (request: GenerateRequest) => ({
        ...(await base.generate(request)),
        limitedBy: 'context' as const,
      }),
    };
    const error = (await runTurn({ model, question, maxTokens: 64 }).catch((e: unknown) => e)) as TurnError;
    expect(error).toBeInstanceOf(TurnError);
    expect(error.message).toMatch(
      /raise the context size \(the model's context, --context-size in the CLI, contextSize in the library\)/,
    );
    expect(error.message).not.toMatch(/--max-tokens/);
  });

  it('does not retry a stage 1 cut at its limit under the same grammar (it would pay for the same cut)', async () => {
    const model = scripted(() => ({ text: CUT, finishReason: 'length' }), { gbnf: true });
    const error = (await runTurn({ model, question, maxTokens: 64, seed: 1 }).catch(
      (e: unknown) => e,
    )) as TurnError;
    expect(error).toBeInstanceOf(TurnError);
    // It names the CLI's flag too (it used to say only "raise maxTokens", which no flag is called).
    expect(error.message).toMatch(/not retried.*raise the token limit \(64 tokens, --max-tokens in the CLI/);
    expect(error.details).toMatchObject({ stage: 'stage1', cutAt: 'tokens' });
    expect(model.requests.map((r) => [r.constraint?.kind, r.seed])).toEqual([['gbnf', 1]]);
  });

  it('retries a cut stage 1 once when the retry grammar bounds the text the first call did not', async () => {
    const model = scripted(() => ({ text: CUT, finishReason: 'length' }), { gbnf: true });
    const error = (await runTurn({
      model,
      question,
      maxTokens: 64,
      seed: 1,
      constrain: false,
      grammar: { maxChars: 40 },
    }).catch((e: unknown) => e)) as TurnError;
    expect(error).toBeInstanceOf(TurnError);
    expect(error.message).toMatch(
      /even on the constrained retry .*raise the token limit \(--max-tokens in the CLI/,
    );
    expect(error.details.stage).toBe('stage1-retry');
    expect(model.requests.map((r) => [r.constraint?.kind, r.seed])).toEqual([
      [undefined, 1],
      ['gbnf', 2],
    ]);
  });
});

describe('empty replies', () => {
  it('an empty stage 1 is a TurnError that says the model returned no text', async () => {
    const model = scripted(() => ({ text: '' }));
    const error = (await runTurn({ model, question }).catch((e: unknown) => e)) as TurnError;
    expect(error).toBeInstanceOf(TurnError);
    expect(error.message).toMatch(/returned no text.*: ""$/);
  });

  it('an empty stage 2 (continue) is a TurnError, not an empty answer', async () => {
    const model = scripted((_r, call) => ({ text: call === 0 ? STAGE1 : '' }));
    const error = (await runTurn({ model, question }).catch((e: unknown) => e)) as TurnError;
    expect(error).toBeInstanceOf(TurnError);
    expect(error.kind).toBe('response');
    expect(error.message).toMatch(/wrote no <response> block/);
  });

  it('a stage 2 cut by the token limit before <response> says so', async () => {
    const model = scripted((_r, call) =>
      call === 0 ? { text: STAGE1 } : { text: '<analyze>long', finishReason: 'length' },
    );
    const error = (await runTurn({ model, question, maxTokens: 32 }).catch((e: unknown) => e)) as TurnError;
    expect(error.message).toMatch(
      /no <response> block before reaching its token limit \(32 tokens, --max-tokens/,
    );
  });

  it('an empty re-asked reply is a TurnError, not the chosen action carried out with no text', async () => {
    for (const empty of ['', '  \n', '<response> </response>']) {
      const model = scripted((_r, call) => ({ text: call === 0 ? STAGE1 : empty }));
      const error = (await runTurn({ model, question, continuation: 'reask' }).catch(
        (e: unknown) => e,
      )) as TurnError;
      expect(error).toBeInstanceOf(TurnError);
      expect(error.kind).toBe('response');
      expect(error.details).toEqual({ stage: 'reask', text: empty });
    }
  });

  it('a re-asked reply cut by the token limit is kept, with a note', async () => {
    const model = scripted((_r, call) =>
      call === 0 ? { text: STAGE1 } : { text: 'About 230 million', finishReason: 'length' },
    );
    const result = await runTurn({ model, question, continuation: 'reask', maxTokens: 8 });
    expect(result.response).toBe('About 230 million');
    expect(result.trace.notes.join(' ')).toMatch(/cut at the stage-2 token limit \(8 tokens, --max-tokens/);
  });
});

describe('a stage 2 that names the tags', () => {
  it('is no restart when the tags stand in its reasoning or its response, only where blocks stand', async () => {
    const tail =
      '<analyze>The <payoff> matrix favours DQ_DA.</analyze>\n<response>Wrap notes in <thinking> tags.</response>';
    expect(restartOf(tail)).toBeUndefined();
    // The turn goes on (how the block reader treats a tag inside a block is its own matter).
    const model = scripted((_r, call) => ({ text: call === 0 ? STAGE1 : tail }));
    const result = await runTurn({ model, question });
    expect(result.response).toMatch(/^Wrap notes in/);
    expect(restartOf('\n<thinking>again</thinking><payoff>{}</payoff>')).toBe(
      "it writes the prefix's <thinking> block again",
    );
    expect(restartOf('<analyze>x</analyze><payoff>{}</payoff><response>y</response>')).toBe(
      "it writes the prefix's <payoff> block again",
    );
  });
});

describe('payoffs near the largest number', () => {
  const huge = STAGE1.replace('"VQ_DA": {"LLM": 1.9', '"VQ_DA": {"LLM": 1e307');
  const answer = '<analyze>Frontier: VQ_DA. I choose VQ_DA.</analyze>\n<response>Here.</response>';

  it('a huge but finite payoff is steered like any other (two decimals of it are not computed)', async () => {
    const model = scripted((_r, call) => ({ text: call === 0 ? huge : answer }));
    const result = await runTurn({ model, question, policy: PRESETS.api });
    expect(result.trace.matrixAfter.VQ_DA!.LLM).toBe(1e307);
    expect(result.trace.matrixAfter.VQ_DA!.user).toBe(1.72); // 2.4 + the edit −0.675 rounded to −0.68
    expect(result.cell).toBe('VQ_DA');
  });

  it('edits that take a payoff past the largest number are a TurnError naming the cell, not a crash', async () => {
    const model = scripted((_r, call) => ({ text: call === 0 ? huge : answer }));
    const policy = {
      kind: 'fixed' as const,
      all: { LLM: 0, user: 0 },
      columns: {},
      cells: { VQ_DA: { LLM: 1.7e308, user: 0 } },
    };
    const error = (await runTurn({ model, question, policy }).catch((e: unknown) => e)) as TurnError;
    expect(error).toBeInstanceOf(TurnError);
    expect(error.kind).toBe('payoff');
    expect(error.message).toMatch(/past the largest number \(VQ_DA\.LLM/);
    expect(model.requests).toHaveLength(1);
  });
});

describe('garbage', () => {
  const fragments = fc.constantFrom(
    '<thinking>',
    '</thinking>',
    '<payoff>',
    '</payoff>',
    '<analyze>',
    '</analyze>',
    '<response>',
    '</response>',
    '{',
    '}',
    '"DQ_DA"',
    '"VQ_CQ"',
    ':',
    ',',
    '{"LLM": 1, "user": 2}',
    'NaN',
    '1e999',
    '\u0000',
    '\uD800',
    ' ',
  );
  const text = fc.oneof(
    fc.string(),
    fc.array(fragments, { maxLength: 30 }).map((a) => a.join('')),
    fc.constant(STAGE1),
  );

  it('ends every turn in a result or a TurnError, whatever the model writes', async () => {
    await fc.assert(
      fc.asyncProperty(
        text,
        text,
        fc.constantFrom('continue', 'reask') as fc.Arbitrary<'continue' | 'reask'>,
        fc.constantFrom('model', 'solver') as fc.Arbitrary<'model' | 'solver'>,
        fc.constantFrom<GenerateResult['finishReason']>('stop', 'length'),
        async (first, second, continuation, analysis, finishReason) => {
          const model = scripted((_r, call) =>
            call === 0 ? { text: first, finishReason } : { text: second, finishReason },
          );
          try {
            const result = await runTurn({
              model,
              question,
              continuation,
              analysis,
              policy: PRESETS.api,
            });
            expect(cellKeys()).toContain(result.cell);
            // A re-asked turn never passes an empty reply off as an answer; a continued one may carry the
            // empty <response> block the model wrote (the format is still well-formed).
            if (continuation === 'reask') expect(result.response).not.toBe('');
            expect(result.output.length).toBeGreaterThan(0);
          } catch (err) {
            expect(err).toBeInstanceOf(TurnError);
            const e = err as TurnError;
            expect(['payoff', 'response']).toContain(e.kind);
            expect(typeof e.details.text).toBe('string');
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
