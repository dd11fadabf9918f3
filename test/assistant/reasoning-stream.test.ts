/**
 * The reasoning stream of a turn (`onReasoningText`): the thinking as stage 1 writes it, then the analysis,
 * exactly `reasoningOf` of the turn's output however the text is cut; with an in-process scripted model.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createReasoningStream, reasoningOf } from '../../src/assistant/reasoning-stream.js';
import { runTurn } from '../../src/assistant/turn.js';
import type { ChatModel, GenerateRequest, GenerateResult, StreamEvent } from '../../src/llm/types.js';
import { scriptedResult } from '../support/scripted-result.js';

const MATRIX =
  '{"DQ_DA": {"LLM": 1.6, "user": 2.8}, "DQ_CQ": {"LLM": 1.3, "user": 2.7}, "DQ_AQ": {"LLM": 1.0, "user": 2.5}, ' +
  '"VQ_DA": {"LLM": 1.9, "user": 2.4}, "VQ_CQ": {"LLM": 1.7, "user": 2.9}, "VQ_AQ": {"LLM": 1.4, "user": 2.3}}';
const THINKING = 'The user asks when dinosaurs first appeared.\nA direct answer is cheap.';
const STAGE1 = `<thinking>\n  ${THINKING}  \n</thinking>\n<payoff>${MATRIX}</payoff>`;
const ANALYZE = 'VQ_CQ has the largest sum, so I ask.';
const STAGE2 = `\n<analyze> ${ANALYZE}\n</analyze>\n<response>Which dinosaurs do you mean?</response>`;

/** Cuts `text` at the given fractions of its length (sorted, deduplicated). */
function cut(text: string, at: readonly number[]): string[] {
  const points = [...new Set(at.map((f) => Math.floor(f * text.length)))].sort((a, b) => a - b);
  const pieces: string[] = [];
  let from = 0;
  for (const p of points) {
    pieces.push(text.slice(from, p));
    from = p;
  }
  pieces.push(text.slice(from));
  return pieces;
}

/**
 * A model that streams each scripted reply in `size`-character pieces, cutting at the stop strings, and
 * logs every request and every piece it sends (so a test can see what arrived before which request).
 */
function streaming(replies: (request: GenerateRequest, call: number) => string, size = 5) {
  const log: string[] = [];
  const requests: GenerateRequest[] = [];
  const reply = (request: GenerateRequest): GenerateResult => {
    requests.push(request);
    log.push(`request ${requests.length}`);
    return scriptedResult(request, replies(request, requests.length - 1));
  };
  const model: ChatModel = {
    id: 'streaming',
    capabilities: { continuation: true, gbnf: true, regex: false, seed: true, cacheReport: false },
    generate: async (request) => reply(request),
    async *stream(request): AsyncIterable<StreamEvent> {
      const result = reply(request);
      for (let i = 0; i < result.text.length; i += size) {
        log.push(`piece ${requests.length}`);
        yield { type: 'text', text: result.text.slice(i, i + size) };
      }
      yield { type: 'done', result };
    },
    close: async () => {},
  };
  return { model, log, requests };
}

describe('createReasoningStream', () => {
  it('streams exactly the trimmed thinking and analysis, however the stages are cut', () => {
    const whitespace = fc.constantFrom('', ' ', '\n', '\n\n  ', '\t');
    fc.assert(
      fc.property(
        whitespace,
        whitespace,
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 12 }),
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 12 }),
        (before, after, cuts1, cuts2) => {
          const stage1 = `<thinking>${before}${THINKING}${after}</thinking>\n<payoff>${MATRIX}</payoff>`;
          const stage2 = `\n<analyze>${after}${ANALYZE}${before}</analyze>\n<response>Hi.</response>`;
          let streamed = '';
          const reasoning = createReasoningStream((t) => {
            streamed += t;
          });
          const one = reasoning.stage(['thinking'], 'payoff');
          for (const piece of cut(stage1, cuts1)) one.push(piece);
          one.end();
          const two = reasoning.stage(['analyze']);
          for (const piece of cut(stage2, cuts2)) two.push(piece);
          two.end();
          expect(streamed).toBe(reasoningOf(stage1 + stage2));
          expect(streamed).toBe(`${THINKING}\n\n${ANALYZE}`);
        },
      ),
      { seed: 42, numRuns: 300 },
    );
  });

  it('sends nothing of stage 1 after </payoff>, even when the server ignored the stop', () => {
    let streamed = '';
    const reasoning = createReasoningStream((t) => {
      streamed += t;
    });
    const one = reasoning.stage(['thinking', 'analyze'], 'payoff');
    one.push(`${STAGE1}<analyze>not this</analyze><thinking>nor this</thinking>`);
    one.end();
    expect(streamed).toBe(THINKING);
  });
});

describe('a turn with onReasoningText', () => {
  it('streams the thinking during stage 1, before stage 2 is asked for, then the model’s analysis', async () => {
    const { model, log, requests } = streaming((_, call) => (call === 0 ? STAGE1 : STAGE2));
    const result = await runTurn({
      model,
      question: 'When did dinosaurs first appear?',
      analysis: 'model',
      onReasoningText: (t) => log.push(`reasoning ${t}`),
    });
    const reasoning = log.filter((l) => l.startsWith('reasoning ')).map((l) => l.slice(10));
    expect(reasoning.join('')).toBe(reasoningOf(result.output));
    expect(reasoning.join('')).toBe(`${THINKING}\n\n${ANALYZE}`);
    // The thinking went out while stage 1 streamed: some of it before stage 1's last piece, all of it
    // before the second request.
    expect(log.findIndex((l) => l.startsWith('reasoning '))).toBeLessThan(log.lastIndexOf('piece 1'));
    const second = log.indexOf('request 2');
    const thinkingSent = log
      .slice(0, second)
      .filter((l) => l.startsWith('reasoning '))
      .map((l) => l.slice(10))
      .join('');
    expect(thinkingSent).toBe(THINKING);
    expect(reasoning.length).toBeGreaterThan(3);
    // Stage 1 went upstream as a streaming request only because the reasoning is streamed.
    expect(requests).toHaveLength(2);
  });

  it("streams gtalign's own analysis when the solver writes it", async () => {
    const { model } = streaming((_, call) =>
      call === 0 ? STAGE1 : '\n<response>Which dinosaurs do you mean?</response>',
    );
    let streamed = '';
    const result = await runTurn({
      model,
      question: 'When did dinosaurs first appear?',
      analysis: 'solver',
      onReasoningText: (t) => {
        streamed += t;
      },
    });
    expect(result.trace.analysisMode).toBe('solver');
    expect(streamed).toBe(reasoningOf(result.output));
    expect(streamed.startsWith(`${THINKING}\n\n`)).toBe(true);
    expect(streamed.length).toBeGreaterThan(THINKING.length + 10);
  });

  it('streams a retried stage 1’s thinking as a block of its own: the client saw the first attempt', async () => {
    const broken = '<thinking>First attempt.</thinking>\n<payoff>{"DQ_DA": oops}</payoff>';
    const { model } = streaming((_, call) => (call === 0 ? broken : call === 1 ? STAGE1 : STAGE2));
    let streamed = '';
    const result = await runTurn({
      model,
      question: 'When did dinosaurs first appear?',
      analysis: 'model',
      onReasoningText: (t) => {
        streamed += t;
      },
    });
    expect(result.trace.stages.map((s) => s.name)).toEqual(['stage1', 'stage1-retry', 'stage2']);
    expect(streamed).toBe(`First attempt.\n\n${THINKING}\n\n${ANALYZE}`);
    expect(reasoningOf(result.output)).toBe(`${THINKING}\n\n${ANALYZE}`);
  });
});
