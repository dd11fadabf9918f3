/**
 * One payoff key order: the prompt, the GBNF and regex constraints and the edited matrix of stage 2 list
 * the cell keys in the spec's payoff key order (the paper's listing order for the default spec, a
 * `keyOrder` of the spec otherwise), while the lenient parser reads any order.
 */
import { describe, expect, it } from 'vitest';
import { runTurn } from '../../src/assistant/turn.js';
import { buildFormatRegExp, buildGbnf, buildRegex } from '../../src/chain/grammar.js';
import { parsePayoff } from '../../src/chain/payoff.js';
import { quantizeMatrix, renderMatrix } from '../../src/chain/payoff-edit.js';
import { buildInstructionPrompt } from '../../src/chain/prompt.js';
import { DINOSAUR_MATRIX } from '../../src/game/paper-example.js';
import {
  cellKeys,
  DEFAULT_SPEC,
  type GameSpec,
  type PayoffMatrix,
  payoffKeyOrder,
  specProblems,
} from '../../src/game/spec.js';
import type { ChatModel, GenerateRequest, GenerateResult } from '../../src/llm/types.js';
import { PRESETS } from '../../src/steering/presets.js';

const PAPER_ORDER = ['DQ_AQ', 'DQ_CQ', 'DQ_DA', 'VQ_AQ', 'VQ_CQ', 'VQ_DA'];

/** The paper's worked example (GTALIGN.md §5), in the paper's key order. */
const DINO = DINOSAUR_MATRIX;

/** The payoff block text of a matrix, keys in `order`, on one line. */
function payoffJson(matrix: PayoffMatrix, order: readonly string[]): string {
  return `{${order.map((k) => `"${k}": {"LLM": ${matrix[k]!.LLM.toFixed(1)}, "user": ${matrix[k]!.user.toFixed(1)}}`).join(', ')}}`;
}

const chain = (json: string) =>
  `<thinking>Clear enough.</thinking>\n<payoff>${json}</payoff>\n<analyze>VQ_CQ</analyze>\n<response>Which one?</response>`;

/** The keys of the `matrix` rule of a GBNF grammar, in the order the rule lists them. */
function gbnfKeys(gbnf: string): string[] {
  const rule = gbnf.split('\n').find((l) => l.startsWith('matrix ::='));
  expect(rule).toBeDefined();
  return [...rule!.matchAll(/"\\"((?:[^"\\]|\\\\.)*)\\""/g)]
    .map((m) => m[1]!)
    .filter((k) => k !== 'LLM' && k !== 'user');
}

/** The positions of `keys` in `text` (each must occur). */
function positions(text: string, keys: readonly string[]): number[] {
  return keys.map((k) => {
    const at = text.indexOf(k);
    expect(at, k).toBeGreaterThanOrEqual(0);
    return at;
  });
}

describe('the default payoff key order', () => {
  it("is the paper's listing order, not the spec's row-major order", () => {
    expect(payoffKeyOrder()).toEqual(PAPER_ORDER);
    expect(payoffKeyOrder(DEFAULT_SPEC)).toEqual(PAPER_ORDER);
    // A spec written out with the default strategies (e.g. from a config file) gets the same order.
    expect(payoffKeyOrder({ rows: ['DQ', 'VQ'], columns: ['DA', 'CQ', 'AQ'] })).toEqual(PAPER_ORDER);
    expect(cellKeys()).not.toEqual(PAPER_ORDER);
  });

  it('is the order the prompt lists the keys in', () => {
    const prompt = buildInstructionPrompt({ question: 'When did dinosaurs first appear?' });
    expect(prompt).toContain(`   ${PAPER_ORDER.join(', ')}\n`);
    const section = prompt.slice(prompt.indexOf('2. <payoff>'), prompt.indexOf('3. <analyze>'));
    const at = positions(section, PAPER_ORDER);
    expect(at).toEqual([...at].sort((a, b) => a - b));
  });

  it('is forced by the GBNF grammar and the regex, for stage 1 and for the whole chain', () => {
    expect(gbnfKeys(buildGbnf())).toEqual(PAPER_ORDER);
    expect(gbnfKeys(buildGbnf(DEFAULT_SPEC, { endAt: 'payoff' }))).toEqual(PAPER_ORDER);
    const re = buildFormatRegExp();
    expect(re.test(chain(payoffJson(DINO, PAPER_ORDER)))).toBe(true);
    expect(re.test(chain(payoffJson(DINO, cellKeys())))).toBe(false);
    expect(re.test(chain(payoffJson(DINO, [...PAPER_ORDER].reverse())))).toBe(false);
    const stage1 = buildFormatRegExp(DEFAULT_SPEC, { endAt: 'payoff' });
    const s1 = (order: readonly string[]) =>
      `<thinking>t</thinking>\n<payoff>${payoffJson(DINO, order)}</payoff>`;
    expect(stage1.test(s1(PAPER_ORDER))).toBe(true);
    expect(stage1.test(s1(cellKeys()))).toBe(false);
    // The regex source sent to vLLM/SGLang names the keys in that order.
    const src = buildRegex(DEFAULT_SPEC, { endAt: 'payoff' });
    const at = positions(
      src,
      PAPER_ORDER.map((k) => `"${k}"`),
    );
    expect(at).toEqual([...at].sort((a, b) => a - b));
  });

  it('is the order of the rewritten matrix and of the quantized one', () => {
    const json = renderMatrix(DINO);
    expect(Object.keys(JSON.parse(json))).toEqual(PAPER_ORDER);
    expect(Object.keys(quantizeMatrix(DINO))).toEqual(PAPER_ORDER);
  });

  it('does not constrain the lenient parser: any order reads', () => {
    for (const order of [PAPER_ORDER, cellKeys(), [...PAPER_ORDER].reverse()]) {
      const parsed = parsePayoff(payoffJson(DINO, order));
      expect(parsed.ok && parsed.matrix).toEqual(DINO);
    }
    const py = parsePayoff(payoffJson(DINO, [...cellKeys()].reverse()).replaceAll('"', "'"));
    expect(py.ok && py.matrix).toEqual(DINO);
  });
});

describe('a custom key order on the game spec', () => {
  const CUSTOM: GameSpec = {
    rows: ['DQ', 'VQ'],
    columns: ['DA', 'CQ', 'AQ'],
    keyOrder: ['VQ_CQ', 'DQ_DA', 'VQ_AQ', 'DQ_CQ', 'VQ_DA', 'DQ_AQ'],
  };
  const ORDER = CUSTOM.keyOrder!;

  it('is validated as a permutation of the cells', () => {
    expect(specProblems(CUSTOM)).toEqual([]);
    expect(specProblems({ ...CUSTOM, keyOrder: ORDER.slice(1) })).toEqual([
      `key order leaves out ${ORDER[0]}`,
    ]);
    expect(specProblems({ ...CUSTOM, keyOrder: [...ORDER.slice(1), 'XQ_DA'] }).join('; ')).toMatch(
      /"XQ_DA", which is not a cell/,
    );
    expect(specProblems({ ...CUSTOM, keyOrder: [...ORDER, 'DQ_DA'] })).toEqual([
      'key order names "DQ_DA" twice',
    ]);
    expect(() => buildGbnf({ ...CUSTOM, keyOrder: ORDER.slice(1) })).toThrow(/invalid game spec/);
    expect(() => buildInstructionPrompt({ question: 'q', spec: { ...CUSTOM, keyOrder: [] } })).toThrow(
      /invalid game spec/,
    );
  });

  it('is honoured by the prompt, both grammars, and the rewritten matrix', () => {
    expect(payoffKeyOrder(CUSTOM)).toEqual(ORDER);
    expect(buildInstructionPrompt({ question: 'q', spec: CUSTOM })).toContain(`   ${ORDER.join(', ')}\n`);
    expect(gbnfKeys(buildGbnf(CUSTOM))).toEqual(ORDER);
    const re = buildFormatRegExp(CUSTOM);
    expect(re.test(chain(payoffJson(DINO, ORDER)))).toBe(true);
    expect(re.test(chain(payoffJson(DINO, PAPER_ORDER)))).toBe(false);
    expect(Object.keys(JSON.parse(renderMatrix(DINO, CUSTOM)))).toEqual(ORDER);
    expect(Object.keys(quantizeMatrix(DINO, CUSTOM))).toEqual(ORDER);
  });

  it('works for other strategy sets, where the default is the keys sorted', () => {
    const spec: GameSpec = { rows: ['NOVICE', 'EXPERT'], columns: ['REFUSE', 'ANSWER'] };
    expect(payoffKeyOrder(spec)).toEqual([
      'EXPERT_ANSWER',
      'EXPERT_REFUSE',
      'NOVICE_ANSWER',
      'NOVICE_REFUSE',
    ]);
    const custom = { ...spec, keyOrder: cellKeys(spec) };
    expect(gbnfKeys(buildGbnf(custom))).toEqual([
      'NOVICE_REFUSE',
      'NOVICE_ANSWER',
      'EXPERT_REFUSE',
      'EXPERT_ANSWER',
    ]);
  });
});

/** A model that writes `stage1` for stage 1 and a short tail for stage 2, recording every request. */
function recordingModel(stage1: string, capabilities: { gbnf?: boolean; regex?: boolean }) {
  const requests: GenerateRequest[] = [];
  const result = (text: string, stoppedBy?: string): GenerateResult => ({
    text,
    finishReason: 'stop',
    ...(stoppedBy === undefined ? {} : { stoppedBy }),
    usage: { promptTokens: 10, cachedPromptTokens: 0, completionTokens: 5 },
    durationMs: 1,
  });
  const model: ChatModel = {
    id: 'recording',
    capabilities: {
      continuation: true,
      gbnf: capabilities.gbnf ?? false,
      regex: capabilities.regex ?? false,
      seed: true,
      cacheReport: false,
    },
    async generate(request) {
      requests.push(request);
      if (request.assistantPrefix === undefined) return result(stage1, '</payoff>');
      return result('\n<analyze>Done.</analyze>\n<response>About 230 million years ago.', '</response>');
    },
    async *stream(request) {
      yield { type: 'done', result: await model.generate(request) };
    },
    async close() {},
  };
  return { model, requests };
}

describe('a steered turn', () => {
  // The model wrote its keys row-major (another order than the grammar's: an unconstrained server).
  const STAGE1 = `<thinking>Fairly clear.</thinking>\n<payoff>\n${payoffJson(DINO, cellKeys())}\n`;

  it("rewrites the edited matrix of stage 2 in the paper's order, and constrains stage 1 to it", async () => {
    const { model, requests } = recordingModel(STAGE1, { regex: true });
    const result = await runTurn({
      model,
      question: 'When did dinosaurs first appear?',
      policy: PRESETS['paper-api'],
    });
    expect(result.cell).toBe('DQ_DA');
    const stage1 = requests[0]!;
    expect(stage1.constraint).toEqual({
      kind: 'regex',
      pattern: buildRegex(DEFAULT_SPEC, { endAt: 'payoff' }),
    });
    const prefix = requests[1]!.assistantPrefix!;
    const block = prefix.slice(prefix.indexOf('<payoff>') + '<payoff>'.length, prefix.indexOf('</payoff>'));
    expect(Object.keys(JSON.parse(block))).toEqual(PAPER_ORDER);
    expect(block.trim()).toBe(renderMatrix(result.trace.matrixAfter));
    expect(result.trace.matrixAfter.DQ_DA).toEqual({ LLM: 2.6, user: 2.3 });
  });

  it("honours the spec's own order in the grammar sent and in the rewritten matrix", async () => {
    const spec: GameSpec = {
      ...DEFAULT_SPEC,
      keyOrder: ['VQ_DA', 'VQ_CQ', 'VQ_AQ', 'DQ_DA', 'DQ_CQ', 'DQ_AQ'],
    };
    const { model, requests } = recordingModel(STAGE1, { gbnf: true });
    const result = await runTurn({
      model,
      question: 'When did dinosaurs first appear?',
      spec,
      policy: PRESETS['paper-api'],
    });
    expect(result.cell).toBe('DQ_DA');
    const grammar = requests[0]!.constraint;
    expect(grammar?.kind).toBe('gbnf');
    expect(gbnfKeys(grammar?.kind === 'gbnf' ? grammar.grammar : '')).toEqual(spec.keyOrder);
    const prompt = requests[0]!.messages.at(-1)!.content;
    expect(prompt).toContain(`   ${spec.keyOrder!.join(', ')}\n`);
    const prefix = requests[1]!.assistantPrefix!;
    const block = prefix.slice(prefix.indexOf('<payoff>') + '<payoff>'.length, prefix.indexOf('</payoff>'));
    expect(Object.keys(JSON.parse(block))).toEqual(spec.keyOrder);
  });
});
