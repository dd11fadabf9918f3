/**
 * The whole turn on the embedded backend, with a generated tiny GGUF model (random weights: its text is noise,
 * but under the grammar always well-formed). Checks that every output parses and that stage 2 reuses stage 1's
 * KV cache, evaluating only the tokens that steering changed.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSession } from '../../src/assistant/session.js';
import { runTurn, type TurnOptions, type TurnResult } from '../../src/assistant/turn.js';
import { solverAnalysis } from '../../src/chain/analyze-write.js';
import { extractBlocks, isWellFormed } from '../../src/chain/blocks.js';
import { parsePayoff } from '../../src/chain/payoff.js';
import { writeTinyLlamaGguf } from '../../src/llm/gguf-writer.js';
import { createLocalModel } from '../../src/llm/local.js';
import type { ChatModel } from '../../src/llm/types.js';
import { PRESETS } from '../../src/steering/presets.js';

let dir: string;
let model: ChatModel;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gtalign-assistant-'));
  const modelPath = join(dir, 'tiny.gguf');
  await writeTinyLlamaGguf(modelPath, { seed: 1 });
  model = await createLocalModel({ modelPath, seed: 5 });
});

afterAll(async () => {
  await model?.close();
  await rm(dir, { recursive: true, force: true });
});

const QUESTION = 'When did dinosaurs first appear?';
// Short blocks keep each stage around a hundred generated tokens.
const SMALL: Partial<TurnOptions> = {
  grammar: { maxChars: 12, maxWhitespace: 2, integerDigits: 1 },
  maxTokens: 400,
  temperature: 1,
};

function turn(extra: Partial<TurnOptions>): Promise<TurnResult> {
  return runTurn({ model, question: QUESTION, ...SMALL, ...extra });
}

const utf8 = (s: string) => Buffer.byteLength(s, 'utf8');

/** The stage-2 prefix as far as the payoff block: the stage-1 text with the edited matrix. */
function steeredStage1(result: TurnResult): string {
  return result.output.slice(0, result.output.indexOf('</payoff>') + '</payoff>'.length);
}

describe('a steered turn on the local backend', () => {
  it('writes a well-formed chain whose payoff is the steered matrix, for every seed', async () => {
    for (const seed of [1, 2, 3, 4]) {
      const result = await turn({ seed, policy: PRESETS.api, analysis: 'model', continuation: 'continue' });
      const extraction = extractBlocks(result.output);
      expect(isWellFormed(extraction), `${JSON.stringify(extraction.problems)} in ${result.output}`).toBe(
        true,
      );
      expect(result.trace.formatProblems).toEqual([]);
      const payoff = parsePayoff(extraction.blocks.payoff!.content);
      expect(payoff.ok && payoff.matrix).toEqual(result.trace.matrixAfter);
      expect(result.response).toBe(extraction.blocks.response!.content.trim());
      expect(result.trace.continuation).toBe('continue');
      expect(result.trace.stages.map((s) => [s.name, s.constraint, s.finishReason])).toEqual([
        ['stage1', 'gbnf', 'stop'],
        ['stage2', 'gbnf', 'stop'],
      ]);
      // The api policy changes every cell, and the trace says by how much.
      for (const d of result.trace.diff) expect(d.delta.user).toBeLessThan(0);
    }
  });

  it('stage 2 reuses stage 1’s context: only the edited tail of the matrix is evaluated again', async () => {
    const result = await turn({ seed: 6, policy: PRESETS['paper-api'], continuation: 'continue' });
    const [stage1, stage2] = result.trace.stages;
    const original = result.trace.stage1Text;
    const steered = steeredStage1(result);
    let firstDiff = 0;
    while (firstDiff < original.length && steered[firstDiff] === original[firstDiff]) firstDiff++;
    const evaluated = stage2!.promptTokens - stage2!.cachedPromptTokens;
    // The prompt and stage 1's tokens up to the first edit come from the KV cache ...
    expect(stage2!.cachedPromptTokens).toBeGreaterThanOrEqual(stage1!.promptTokens);
    // ... and only the rewritten payoff (at most one token per byte) is evaluated, far less than stage 1 did.
    expect(evaluated).toBeGreaterThan(0);
    expect(evaluated).toBeLessThanOrEqual(utf8(steered.slice(firstDiff)) + 1);
    expect(evaluated).toBeLessThan((stage1!.promptTokens + stage1!.completionTokens) / 10);
  });

  it('with no edits continues the model’s own tokens: one prompt token evaluated in stage 2', async () => {
    const result = await turn({ seed: 7, policy: PRESETS.none, continuation: 'continue' });
    const [stage1, stage2] = result.trace.stages;
    expect(steeredStage1(result)).toBe(result.trace.stage1Text);
    expect(stage2!.promptTokens).toBe(stage1!.promptTokens + stage1!.completionTokens);
    expect(stage2!.promptTokens - stage2!.cachedPromptTokens).toBe(1);
  });

  it('keeps each turn’s two stages together when turns run at once: stage 2 still continues its own stage 1', async () => {
    // Without the turn holding the engine, the second turn's stage 1 ran between the first turn's stages
    // and replaced the sequence: stage 2 then evaluated its whole prompt again, from re-tokenized text.
    const [a, b] = await Promise.all([
      turn({ seed: 8, policy: PRESETS.none, continuation: 'continue', question: 'What is 2 + 2?' }),
      turn({ seed: 9, policy: PRESETS.none, continuation: 'continue', question: 'Name a colour.' }),
    ]);
    for (const result of [a, b]) {
      const [stage1, stage2] = result.trace.stages;
      expect(stage2!.promptTokens).toBe(stage1!.promptTokens + stage1!.completionTokens);
      expect(stage2!.promptTokens - stage2!.cachedPromptTokens).toBe(1);
    }
  });

  it('in solver mode writes gtalign’s analysis and lets the model write only the response', async () => {
    const result = await turn({ seed: 8, policy: PRESETS['paper-subscription'], analysis: 'solver' });
    const extraction = extractBlocks(result.output);
    expect(isWellFormed(extraction)).toBe(true);
    expect(extraction.blocks.analyze!.content).toBe(
      solverAnalysis(result.trace.matrixAfter, result.trace.selection),
    );
    expect(result.cell).toBe(result.trace.selection.selected[0]);
    expect(result.trace.stages[1]!.constraint).toBe('gbnf');
  });

  it('in reask mode sends a short fresh prompt instead of continuing', async () => {
    const result = await turn({
      seed: 9,
      policy: PRESETS.api,
      continuation: 'reask',
      maxTokens: { stage2: 16 },
    });
    const [stage1, reask] = result.trace.stages;
    expect(reask!.name).toBe('reask');
    expect(reask!.constraint).toBeUndefined();
    // Nothing of stage 1's reasoning is in the re-asked prompt.
    expect(reask!.promptTokens).toBeLessThan(stage1!.promptTokens / 10);
    expect(result.trace.analysisMode).toBe('solver');
  });

  it('keeps a conversation across turns', async () => {
    const session = createSession({ model, ...SMALL, seed: 10, policy: PRESETS.subscription });
    const first = await session.ask(QUESTION);
    const second = await session.ask('The very first true dinosaurs.');
    expect(session.history.map((t) => t.role)).toEqual(['user', 'assistant', 'user', 'assistant']);
    expect(session.history[1]!.content).toBe(first.response);
    // The second prompt holds the first exchange, so it is longer.
    expect(second.trace.stages[0]!.promptTokens).toBeGreaterThan(first.trace.stages[0]!.promptTokens);
  });
});
