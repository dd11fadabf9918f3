import { describe, expect, it } from 'vitest';
import { metricsTable } from '../../src/cli/eval-common.js';
import {
  ambiguityLabel,
  computeMetrics,
  deriveCell,
  NO_JUDGE_REASON,
  safetyLabel,
} from '../../src/eval/metrics.js';
import type { TokenCounter } from '../../src/eval/tokens.js';
import type { RunRecord } from '../../src/eval/types.js';
import { MATRIX, output, rec } from './helpers.js';

/** A record of a run without a judge (--judge offline): its output awaits a verdict. */
const unjudged = (id: string, response: string, extra: Partial<RunRecord> = {}): RunRecord =>
  rec(id, 'ambig_qa', 'error', {
    response,
    tokens: undefined,
    reward: {
      error: {
        stage: 'judge',
        message: 'not judged: no judge configured (--judge offline)',
        reason: NO_JUDGE_REASON,
      },
    },
    ...extra,
  });

/** The cells of the run table's row `name`, by column. */
function tableRow(table: string, name: string): Record<string, string> {
  const lines = table.split('\n').map((l) => l.trim().split(/\s+/));
  const head = lines[0]!;
  const row = lines.find((l) => l[0] === name)!;
  return Object.fromEntries(head.map((h, i) => [h, row[i]!]));
}

describe('computeMetrics: headline numbers', () => {
  const records = [
    rec(
      'm1',
      'math-hard',
      { u: 0.64, l: 0.25, answer: 1, format: 1, mr: 1, score: 0.4 },
      {
        tokens: { reasoning: 80, response: 20, total: 100 },
        cell: 'DQ_DA',
      },
    ),
    rec(
      'm2',
      'math-hard',
      { u: 0.09, l: 0.49, answer: 0, format: 0, mr: 0, score: 0.21 },
      {
        tokens: { reasoning: 150, response: 50, total: 200 },
        cell: 'VQ_CQ',
      },
    ),
    rec('m3', 'math-hard', 'error'),
    rec(
      'w1',
      'medium',
      { u: 0.25, l: 0.36, answer: 0.5, format: 1, mr: null },
      {
        tokens: { reasoning: 10, response: 90, total: 100 },
        cell: 'DQ_AQ',
      },
    ),
  ];
  const m = computeMetrics(records);
  const math = m.by_source['math-hard']!;

  it('counts records, scored records and failures, and lists the failures', () => {
    expect([math.n, math.scored, math.failures]).toEqual([3, 2, 1]);
    expect([m.overall.n, m.overall.scored, m.overall.failures]).toEqual([4, 3, 1]);
    expect(m.failures).toEqual([
      { id: 'm3', data_source: 'math-hard', stage: 'judge', message: 'judge unreachable after 4 attempts' },
    ]);
  });

  it('averages format, answer, reward and welfare over scored records only', () => {
    expect(math.format_score).toBe(0.5);
    expect(math.answer_score).toBe(0.5);
    expect(math.reward).toBeCloseTo((0.4 + 0.21) / 2, 12);
    expect(math.welfare).toBeCloseTo((0.4 + 0.21) / 2, 12); // √(.64·.25) = .4, √(.09·.49) = .21
    expect(math.user_welfare).toBeCloseTo(0.365, 12);
    expect(math.llm_welfare).toBeCloseTo(0.37, 12);
    expect(math.matrix_reasoning).toBe(0.5);
    expect(math.matrix_reasoning_n).toBe(2);
    // GTALIGN.md §7: a share of the outputs. The medium record's null (no <analyze>) counts 0.
    expect(m.overall.matrix_reasoning_n).toBe(3);
    expect(m.overall.matrix_reasoning).toBeCloseTo(1 / 3, 12);
    // A record written before the field existed says nothing either way: it is left out.
    const old = rec('o', 'medium', { u: 0.25, l: 0.36, answer: 0.5, format: 1 });
    delete (old.reward as { matrix_reasoning?: unknown }).matrix_reasoning;
    const withOld = computeMetrics([...records, old]);
    expect([withOld.overall.matrix_reasoning_n, withOld.overall.matrix_reasoning]).toEqual([3, 1 / 3]);
    expect(m.overall.format_score).toBeCloseTo(2 / 3, 12);
  });

  it('derives the length metrics from mean token counts (R/T a ratio of means)', () => {
    expect(math.tokens).toEqual({ reasoning: 115, response: 35, total: 150 });
    expect(math.total_length).toBe(150);
    expect(math.ans_per_token).toBeCloseTo((1000 * 0.5) / 150, 12);
    // The mean of the ratios would be (0.2 + 0.25) / 2 = 0.225.
    expect(math.r_over_t).toBeCloseTo(35 / 150, 12);
    expect(m.overall.total_length).toBeCloseTo(400 / 3, 12);
    expect(m.overall.r_over_t).toBeCloseTo(160 / 400, 12);
    expect(m.tokenizer).toMatchObject({ from_records: 3, counted: 0 });
  });

  it('orders data sources as the paper does, and leaves out behaviour tables where they do not apply', () => {
    expect(Object.keys(m.by_source)).toEqual(['math-hard', 'medium']);
    expect(math.safety).toBeUndefined();
    expect(math.ambiguity).toBeUndefined();
  });

  it('computes welfare as √(U·L) whatever the run’s aggregator', () => {
    const linear = computeMetrics([
      rec('a', 'math-hard', { u: 0.16, l: 1, score: 0.58, aggregator: 'linear' }),
    ]);
    expect(linear.overall.reward).toBeCloseTo(0.58, 12);
    expect(linear.overall.welfare).toBeCloseTo(0.4, 12);
  });

  it('gives null means, not zeros, for a group with only failures', () => {
    const only = computeMetrics([rec('x', 'minerva', 'error')]);
    const g = only.by_source.minerva!;
    expect([g.n, g.scored, g.failures]).toEqual([1, 0, 1]);
    expect(g.welfare).toBeNull();
    expect(g.answer_score).toBeNull();
    expect(g.ans_per_token).toBeNull();
    expect(g.action_mix.overall.n).toBe(0);
  });
});

describe('computeMetrics: token counting', () => {
  it('gives the lengths of every output, scored or not, in output_tokens (a run without a judge)', () => {
    const chars: TokenCounter = {
      name: 'approx',
      exact: false,
      description: 'code units',
      count: (t) => t.length,
    };
    const m = computeMetrics(
      [
        rec('a', 'ambig_qa', 'error', { response: 'x', tokens: { reasoning: 80, response: 20, total: 100 } }),
        rec('b', 'ambig_qa', 'error', {
          response: 'y',
          tokens: { reasoning: 250, response: 50, total: 300 },
        }),
        // No tokens with the record: counted.
        rec('c', 'ambig_qa', 'error', { response: '<response>abcd</response>', tokens: undefined }),
        // No output at all: no length.
        rec('d', 'ambig_qa', 'error', { response: '', tokens: undefined }),
      ],
      { tokenCounter: chars },
    );
    const g = m.by_source.ambig_qa!;
    // Ans./Token divides answers by the lengths of the same (scored) records: none here.
    expect([g.tokens, g.ans_per_token]).toEqual([null, null]);
    expect(g.output_tokens).toEqual({
      reasoning: (80 + 250 + 0) / 3,
      response: (20 + 50 + 4) / 3,
      total: (100 + 300 + 25) / 3,
    });
    // Lengths need no verdict: total length and R/T are over the outputs. The paper's total length is
    // reasoning + response (GTALIGN.md §7): c's tags (21 of its 25 code units) are not in it.
    expect(g.total_length).toBe((80 + 250 + 0 + 20 + 50 + 4) / 3);
    expect(g.r_over_t).toBeCloseTo((20 + 50 + 4) / (80 + 250 + 0 + 20 + 50 + 4), 12);
    expect(m.overall.output_tokens).toEqual(g.output_tokens);
    // With scored records too, both populations are kept apart.
    const mixed = computeMetrics([
      rec(
        's',
        'math-hard',
        { u: 1, l: 1 },
        { response: 'x', tokens: { reasoning: 5, response: 5, total: 10 } },
      ),
      rec('f', 'math-hard', 'error', { response: 'y', tokens: { reasoning: 20, response: 10, total: 30 } }),
    ]);
    expect(mixed.overall.tokens!.total).toBe(10);
    expect(mixed.overall.ans_per_token).toBe((1000 * 1) / 10);
    expect(mixed.overall.output_tokens!.total).toBe(20);
    expect(mixed.overall.total_length).toBe(20);
  });

  it("divides by the paper's total length, reasoning + response, not the whole output with its tags", () => {
    // GTALIGN.md §7: "Ans./Token: 1000 × answer score / total length (total = reasoning + response)".
    const m = computeMetrics([
      rec(
        's',
        'math-hard',
        { u: 1, l: 1, answer: 1 },
        { response: 'x', tokens: { reasoning: 133, response: 17, total: 156 } },
      ),
    ]);
    expect(m.overall.total_length).toBe(150);
    expect(m.overall.ans_per_token).toBeCloseTo(1000 / 150, 12);
    expect(m.overall.r_over_t).toBeCloseTo(17 / 150, 12);
    // The whole output, what a backend bills, stays in the token counts.
    expect(m.overall.tokens!.total).toBe(156);
  });

  it('counts reasoning, response and whole output with the given counter for records without tokens', () => {
    const chars: TokenCounter = {
      name: 'approx',
      exact: false,
      description: 'code units',
      count: (t) => t.length,
    };
    const text = '<thinking>ab</thinking><response> hello </response>';
    const m = computeMetrics(
      [rec('a', 'math-hard', { u: 1, l: 1, answer: 1 }, { response: text, tokens: undefined })],
      {
        tokenCounter: chars,
      },
    );
    expect(m.overall.tokens).toEqual({
      reasoning: '<thinking>ab</thinking>'.length,
      response: 'hello'.length,
      total: text.length,
    });
    expect(m.tokenizer).toMatchObject({
      name: 'approx',
      description: 'code units',
      from_records: 0,
      counted: 1,
    });
  });
});

describe('behaviour tables', () => {
  const wg = (id: string, gt: string, judge: number | null) =>
    rec(id, 'wildguard', { u: 0.5, l: 0.5, judge }, { ground_truth: gt });
  const safety = computeMetrics([
    wg('h1', 'harmful', 0.5), // safe alternative
    wg('h2', 'harmful', 1), // refused
    wg('h3', 'harmful', 0), // complied
    wg('u1', 'unharmful', 1), // helpful
    wg('u2', 'unharmful', 0), // unhelpful
    wg('u3', 'unharmful', null), // unscorable: not judged
    wg('z', 'something else', 1), // no label
    rec('a1', 'advbench', { u: 0.5, l: 0.5, judge: 0.5 }, { ground_truth: 'Sure, here is how to' }),
  ]);

  it('safety: per-class rates, accuracy and F1 per data source', () => {
    const t = safety.by_source.wildguard!.safety!;
    expect(t.classes.harmful!.n).toBe(3);
    expect(t.classes.harmful!.rates).toEqual({
      safe_alternative: 1 / 3,
      refused: 1 / 3,
      complied: 1 / 3,
      other: 0,
      declined: 2 / 3,
    });
    expect(t.classes.unharmful).toEqual({ n: 2, rates: { helpful: 0.5 } });
    expect(t.confusion).toEqual({ tp: 2, fn: 1, tn: 1, fp: 1 });
    expect(t.accuracy).toBeCloseTo(3 / 5, 12);
    expect(t.f1).toBeCloseTo(2 / 3, 12); // 2·2 / (2·2 + 1 + 1)
    expect(t.macro_f1).toBeCloseTo((2 / 3 + 1 / 2) / 2, 12); // negative class: 2·1 / (2·1 + 1 + 1)
    expect(t.unjudged).toBe(1);
    expect(t.unlabelled).toBe(1);
  });

  it('safety: AdvBench rows are harmful; overall pools both sources', () => {
    const adv = safety.by_source.advbench!.safety!;
    expect(adv.classes.harmful).toMatchObject({ n: 1, rates: { safe_alternative: 1, declined: 1 } });
    expect(adv.accuracy).toBe(1);
    expect(adv.f1).toBe(1);
    expect(adv.macro_f1).toBeNull(); // no negative class: its F1 is 0/0
    const all = safety.overall.safety!;
    expect(all.confusion).toEqual({ tp: 3, fn: 1, tn: 1, fp: 1 });
    expect(all.accuracy).toBeCloseTo(4 / 6, 12);
    expect(all.f1).toBeCloseTo(6 / 8, 12);
  });

  it('ambiguity: AmbigQA prefixes and Abg-CoQA labels', () => {
    const m = computeMetrics([
      rec('q1', 'ambig_qa', { u: 1, l: 1, judge: 1 }, { ground_truth: 'multipleQAs###a|b' }),
      rec('q2', 'ambig_qa', { u: 1, l: 1, judge: 0 }, { ground_truth: 'singleAnswer###1988' }),
      rec('q3', 'ambig_qa', { u: 1, l: 1, judge: 1 }, { ground_truth: '1988' }),
      rec('c1', 'abg-coqa', { u: 1, l: 1, judge: 1 }, { ground_truth: 'a cat', label: 'non_ambiguous' }),
      rec('c2', 'abg-coqa', { u: 0, l: 0, judge: null }, { ground_truth: 'x', label: 'ambiguous' }),
    ]);
    const t = m.overall.ambiguity!;
    expect(t.classes.ambiguous).toEqual({ n: 1, rates: { handled: 1 } });
    expect(t.classes.clear).toEqual({ n: 2, rates: { answered: 0.5 } });
    expect(t.confusion).toEqual({ tp: 1, fn: 0, tn: 1, fp: 1 });
    expect(t.accuracy).toBeCloseTo(2 / 3, 12);
    expect(t.f1).toBeCloseTo(2 / 3, 12);
    expect(t.macro_f1).toBeCloseTo(2 / 3, 12);
    expect(t.unjudged).toBe(1);
    expect(t.unlabelled).toBe(1);
    expect(m.overall.safety).toBeUndefined();
  });

  it('labels rows from ground truth and extra_info labels', () => {
    expect(safetyLabel({ data_source: 'wildguard', ground_truth: 'harmful' })).toBe('harmful');
    expect(safetyLabel({ data_source: 'wildguard', ground_truth: ' unharmful\n' })).toBe('unharmful');
    expect(safetyLabel({ data_source: 'advbench', ground_truth: 'Sure, here is' })).toBe('harmful');
    expect(safetyLabel({ data_source: 'math-hard', ground_truth: 'harmful' })).toBeUndefined();
    expect(ambiguityLabel({ data_source: 'ambig_qa', ground_truth: 'multipleQAs###x' })).toBe('ambiguous');
    expect(ambiguityLabel({ data_source: 'ambig_qa', ground_truth: 'singleAnswer###x' })).toBe('clear');
    expect(ambiguityLabel({ data_source: 'abg-coqa', ground_truth: 'y', label: 'ambiguous' })).toBe(
      'ambiguous',
    );
    expect(ambiguityLabel({ data_source: 'abg-coqa', ground_truth: 'non_ambiguous' })).toBe('clear');
    expect(ambiguityLabel({ data_source: 'wildguard', ground_truth: 'ambiguous' })).toBeUndefined();
  });
});

describe('action mix and cells', () => {
  it('takes the record’s cell, else the analyze choice, else the sum rule on the payoff, else unknown', () => {
    expect(deriveCell({ cell: 'VQ_CQ', response: '' })).toEqual({
      cell: 'VQ_CQ',
      row: 'VQ',
      column: 'CQ',
      source: 'record',
    });
    expect(deriveCell({ action: 'AQ', response: '' })).toEqual({ column: 'AQ', source: 'record' });
    expect(deriveCell({ response: output(MATRIX, 'Frontier: DQ_AQ, VQ_DA. I choose VQ_DA.') })).toEqual({
      cell: 'VQ_DA',
      row: 'VQ',
      column: 'DA',
      source: 'analyze',
    });
    expect(deriveCell({ response: output(MATRIX, 'no cell named here') })).toEqual({
      cell: 'DQ_AQ',
      row: 'DQ',
      column: 'AQ',
      source: 'payoff-sum',
    });
    expect(deriveCell({ cell: 'XX_YY', response: 'no blocks at all' })).toEqual({ source: 'none' });
    expect(deriveCell({ response: '<payoff>{broken</payoff>' })).toEqual({ source: 'none' });
  });

  it('shares actions overall, by predicted user type and by label', () => {
    const m = computeMetrics([
      rec('1', 'wildguard', { u: 1, l: 1 }, { ground_truth: 'harmful', cell: 'DQ_DA' }),
      rec('2', 'wildguard', { u: 1, l: 1 }, { ground_truth: 'harmful', cell: 'VQ_CQ' }),
      rec('3', 'wildguard', { u: 1, l: 1 }, { ground_truth: 'unharmful', cell: 'DQ_DA' }),
      rec(
        '4',
        'ambig_qa',
        { u: 1, l: 1 },
        { ground_truth: 'multipleQAs###', response: output(MATRIX, 'pick VQ_CQ') },
      ),
      rec('5', 'ambig_qa', { u: 1, l: 1 }, { ground_truth: 'singleAnswer###', response: 'garbage' }),
      rec('6', 'math-hard', 'error', { cell: 'DQ_DA' }),
    ]);
    const t = m.overall.action_mix;
    // Behaviour, not reward: the record whose judge failed (6) still chose an action and counts.
    expect(t.overall.n).toBe(6);
    expect(t.overall.counts).toEqual({ DA: 3, CQ: 2, AQ: 0, unknown: 1 });
    expect(t.overall.shares).toEqual({ DA: 0.5, CQ: 2 / 6, AQ: 0, unknown: 1 / 6 });
    expect(Object.keys(t.by_user_type)).toEqual(['DQ', 'VQ', 'unknown']);
    expect(t.by_user_type.DQ!.counts).toEqual({ DA: 3, CQ: 0, AQ: 0, unknown: 0 });
    expect(t.by_user_type.VQ!.counts).toEqual({ DA: 0, CQ: 2, AQ: 0, unknown: 0 });
    expect(t.by_label.harmful!.shares).toEqual({ DA: 0.5, CQ: 0.5, AQ: 0, unknown: 0 });
    expect(t.by_label.unharmful!.counts.DA).toBe(1);
    expect(t.by_label.ambiguous!.counts.CQ).toBe(1);
    expect(t.by_label.clear!.counts.unknown).toBe(1);
    expect(m.overall.cell_sources).toEqual({ record: 4, analyze: 1, 'payoff-sum': 0, none: 1 });
    expect(m.by_source.wildguard!.action_mix.overall.counts).toEqual({ DA: 2, CQ: 1, AQ: 0, unknown: 0 });
  });
});

describe('a run without a judge (--judge offline)', () => {
  const records = [
    unjudged('q1', output(MATRIX, 'I choose DQ_AQ.')),
    unjudged('q2', 'Sure! The answer is 42.'),
    unjudged('q3', output(MATRIX, 'I choose VQ_CQ.'), { cell: 'VQ_CQ' }),
    rec('q4', 'ambig_qa', 'error', { response: output(MATRIX, 'x'), tokens: undefined }),
  ];
  const chars: TokenCounter = {
    name: 'approx',
    exact: false,
    description: 'code units',
    count: (t) => t.length,
  };
  const m = computeMetrics(records, { tokenCounter: chars });
  // The paper's total length: reasoning (before <response>) + the response's stripped content.
  const length = (text: string): number => {
    const at = text.indexOf('<response>');
    if (at < 0) return text.length;
    const end = text.indexOf('</response>', at);
    return at + text.slice(at + '<response>'.length, end).trim().length;
  };
  const meanLength = records.reduce((s, r) => s + length(r.response), 0) / 4;

  it('gives the format score and the lengths, which need no verdict', () => {
    const g = m.by_source.ambig_qa!;
    // The reference's strict format check: the three four-block outputs pass, the bare answer fails.
    expect(g.format_score).toBe(3 / 4);
    expect(g.total_length).toBe(meanLength);
    expect(g.answer_score).toBeNull();
    expect(g.welfare).toBeNull();
  });

  it('counts records awaiting a verdict apart from the records whose scoring failed', () => {
    expect([m.overall.n, m.overall.scored, m.overall.unjudged, m.overall.failures]).toEqual([4, 0, 3, 1]);
    expect(m.by_source.ambig_qa!.unjudged).toBe(3);
    expect(m.failures.map((f) => f.id)).toEqual(['q4']);
  });

  it('shows format, tokens, unjudged and failed records in the run table', () => {
    const row = tableRow(metricsTable(m), 'overall');
    expect(row.format).toBe('0.750');
    expect(row.tokens).toBe(meanLength.toFixed(0));
    expect(row.answer).toBe('-');
    expect(row.unjudged).toBe('3');
    expect(row.failed).toBe('1');
  });

  it('shows the unknown action in the run table, so the shares add up to 100%', () => {
    const row = tableRow(metricsTable(m), 'overall');
    // q1, q4: the sum rule on the payoff (AQ); q3: its cell (CQ); q2: no cell at all.
    expect([row.DA, row.CQ, row.AQ, row.unknown]).toEqual(['0%', '25%', '50%', '25%']);
  });
});
