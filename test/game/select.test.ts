import { describe, expect, it } from 'vitest';
import {
  argmaxProduct,
  DEFAULT_CES_RHO,
  isSelectionRuleName,
  type PayoffMatrix,
  SELECTION_RULES,
  selectCell,
  selectedCell,
} from '../../src/game/index.js';
import { PRISONERS_DILEMMA } from './helpers.js';

/** A default-spec matrix: the listed cells, every other cell at (−5, −5). */
function withCells(cells: Partial<PayoffMatrix>): PayoffMatrix {
  const m: PayoffMatrix = {};
  for (const k of ['DQ_DA', 'DQ_CQ', 'DQ_AQ', 'VQ_DA', 'VQ_CQ', 'VQ_AQ'])
    m[k] = cells[k] ?? { LLM: -5, user: -5 };
  return m;
}

describe('sum rule (default)', () => {
  it('picks the highest LLM + user and says so with numbers', () => {
    const s = selectCell(PRISONERS_DILEMMA);
    expect(s.rule).toBe('sum');
    expect(s.selected).toEqual(['DQ_AQ']);
    expect(s.reason).toBe('DQ_AQ has the highest LLM + user = 6 (LLM 3, user 3); next best VQ_AQ with 4');
    expect(s.scores).toEqual({ DQ_DA: 1, DQ_CQ: 3, DQ_AQ: 6, VQ_DA: 2, VQ_CQ: 1, VQ_AQ: 4 });
    expect(selectedCell(PRISONERS_DILEMMA)).toBe('DQ_AQ');
  });

  it('breaks a sum tie by the higher user payoff', () => {
    const m = withCells({ DQ_DA: { LLM: 2, user: 1 }, VQ_CQ: { LLM: 1, user: 2 } });
    const s = selectCell(m);
    expect(s.selected).toEqual(['VQ_CQ']);
    expect(s.reason).toBe(
      'DQ_DA, VQ_CQ tie on LLM + user = 3; VQ_CQ has the highest user payoff among them (2)',
    );
  });

  it('breaks a remaining tie by the higher LLM payoff (sums that round to the same double)', () => {
    // 1 + 0.1 and 1 + 0.10000000000000002 are the same double, so only the LLM tie-break separates them.
    const m = withCells({ DQ_DA: { LLM: 0.1, user: 1 }, DQ_CQ: { LLM: 0.10000000000000002, user: 1 } });
    const s = selectCell(m);
    expect(s.selected).toEqual(['DQ_CQ']);
    expect(s.reason).toBe(
      'DQ_CQ, DQ_DA tie on LLM + user = 1.1; DQ_CQ, DQ_DA also tie on user = 1; ' +
        'DQ_CQ has the highest LLM payoff among them (0.10000000000000002)',
    );
  });

  it('returns every cell of a tie on sum, user and LLM, sorted; the first is the pick', () => {
    const m = withCells({ VQ_AQ: { LLM: 2, user: 2 }, DQ_CQ: { LLM: 2, user: 2 } });
    const s = selectCell(m);
    expect(s.selected).toEqual(['DQ_CQ', 'VQ_AQ']);
    expect(s.reason).toContain('all are returned and DQ_CQ (first in key order) is the pick');
    expect(selectedCell(m)).toBe('DQ_CQ');
  });

  it('adds the payoffs as the decimals they are: 0.2 + 0.1 ties with 0 + 0.3, and the user tie-break decides', () => {
    // In doubles 0.2 + 0.1 = 0.30000000000000004 > 0.3, which would skip the tie-break and pick VQ_DA.
    const m = withCells({ DQ_DA: { LLM: 0, user: 0.3 }, VQ_DA: { LLM: 0.2, user: 0.1 } });
    const s = selectCell(m);
    expect(s.selected).toEqual(['DQ_DA']);
    expect(s.reason).toBe(
      'DQ_DA, VQ_DA tie on LLM + user = 0.3; DQ_DA has the highest user payoff among them (0.3)',
    );
    expect(s.scores?.VQ_DA).toBe(0.3);
    // A strict decimal difference still wins without a tie-break, however small.
    const n = withCells({ DQ_DA: { LLM: 0.7, user: 0.1 }, VQ_DA: { LLM: 0, user: 0.799 } });
    expect(selectCell(n).selected).toEqual(['DQ_DA']);
  });

  it('falls back to double arithmetic for payoffs that are not short decimals', () => {
    const m = withCells({ DQ_DA: { LLM: 1e-7, user: 0 }, VQ_DA: { LLM: 0, user: 5e-8 } });
    expect(selectCell(m).selected).toEqual(['DQ_DA']);
    const big = withCells({ DQ_DA: { LLM: 2 ** 60, user: 0 }, VQ_DA: { LLM: 0, user: 2 ** 60 } });
    expect(selectCell(big).selected).toEqual(['VQ_DA']);
  });
});

describe('product rule', () => {
  it('returns all maximizers of user · LLM, raw payoffs', () => {
    const m = withCells({
      DQ_DA: { LLM: 2, user: 3 },
      VQ_AQ: { LLM: 6, user: 1 },
      DQ_AQ: { LLM: 1, user: 5 },
    });
    // The (−5, −5) filler cells score 25: the reference's product rule prefers mutual disaster.
    expect(argmaxProduct(m)).toEqual(['DQ_CQ', 'VQ_CQ', 'VQ_DA']);
    const positive = withCells({
      DQ_DA: { LLM: 2, user: 3 },
      VQ_AQ: { LLM: 6, user: 1 },
      DQ_AQ: { LLM: 1, user: 5 },
      DQ_CQ: { LLM: 0, user: 0 },
      VQ_CQ: { LLM: 0, user: 0 },
      VQ_DA: { LLM: 0, user: 0 },
    });
    const s = selectCell(positive, 'product');
    expect(s.selected).toEqual(['DQ_DA', 'VQ_AQ']);
    expect(s.reason).toBe('DQ_DA, VQ_AQ tie, each maximizing user × LLM = 6');
  });

  it('multiplies the payoffs as decimals: 0.2 · 3 ties with 0.6 · 1', () => {
    // In doubles 0.2 * 3 = 0.6000000000000001 > 0.6, which would drop VQ_CQ from the set.
    const m = withCells({ DQ_DA: { LLM: 0.2, user: 3 }, VQ_CQ: { LLM: 0.6, user: 1 } });
    const positive = { ...m, DQ_CQ: { LLM: 0, user: 0 }, DQ_AQ: { LLM: 0, user: 0 } };
    const rest = { VQ_DA: { LLM: 0, user: 0 }, VQ_AQ: { LLM: 0, user: 0 } };
    const s = selectCell({ ...positive, ...rest }, 'product');
    expect(s.selected).toEqual(['DQ_DA', 'VQ_CQ']);
    expect(s.reason).toBe('DQ_DA, VQ_CQ tie, each maximizing user × LLM = 0.6');
  });
});

describe('pareto rule', () => {
  it('selects the frontier and names a dominator of every other cell', () => {
    const s = selectCell(PRISONERS_DILEMMA, 'pareto');
    expect(s.selected).toEqual(['DQ_AQ', 'VQ_AQ']);
    expect(s.scores).toBeUndefined();
    expect(s.reason).toContain('2 of 6 cells are Pareto-optimal');
    expect(s.reason).toContain('dominated: DQ_CQ by DQ_AQ, DQ_DA by DQ_CQ, VQ_CQ by DQ_CQ, VQ_DA by DQ_CQ');
  });

  it('takes a tolerance', () => {
    const m = withCells({ DQ_DA: { LLM: 2, user: 2 }, DQ_CQ: { LLM: 2.01, user: 1.99 } });
    expect(selectCell(m, { name: 'pareto' }).selected).toEqual(['DQ_CQ', 'DQ_DA']);
    const s = selectCell(m, { name: 'pareto', tolerance: 0.05 });
    expect(s.selected).toEqual(['DQ_CQ', 'DQ_DA']);
    expect(s.params).toEqual({ tolerance: 0.05 });
  });
});

describe('welfare rules', () => {
  const m = withCells({
    DQ_DA: { LLM: 4, user: -1 }, // sum 3, CD sqrt(10·5) ≈ 7.07, min −1
    DQ_CQ: { LLM: 1, user: 1.5 }, // sum 2.5, CD sqrt(7·7.5) ≈ 7.25, min 1
    VQ_AQ: { LLM: -4, user: 5 }, // sum 1, CD sqrt(2·11) ≈ 4.69, min −4
  });

  it('Cobb-Douglas prefers the balanced cell over the larger sum', () => {
    expect(selectCell(m).selected).toEqual(['DQ_DA']);
    const s = selectCell(m, 'cobb-douglas');
    expect(s.selected).toEqual(['DQ_CQ']);
    expect(s.params).toEqual({ alpha: 0.5, offset: 6 });
    expect(s.scores?.DQ_CQ).toBeCloseTo(Math.sqrt(7 * 7.5), 12);
    expect(s.reason).toMatch(/^DQ_CQ maximizes Cobb-Douglas \(user\+6\)\^0\.5·\(LLM\+6\)\^0\.5 = 7\.24/);
  });

  it('weights move the pick toward the favoured player', () => {
    expect(selectCell(m, { name: 'cobb-douglas', alpha: 0.9 }).selected).toEqual(['VQ_AQ']);
    expect(selectCell(m, { name: 'cobb-douglas', alpha: 0.1 }).selected).toEqual(['DQ_DA']);
    expect(selectCell(m, { name: 'weighted', alpha: 1 }).selected).toEqual(['VQ_AQ']);
    expect(selectCell(m, { name: 'weighted', alpha: 0 }).selected).toEqual(['DQ_DA']);
  });

  it('CES interpolates between the mean (ρ = 1) and min (ρ → −∞)', () => {
    expect(selectCell(m, 'ces').params).toEqual({ rho: DEFAULT_CES_RHO, alpha: 0.5, offset: 6 });
    expect(selectCell(m, { name: 'ces', rho: 1 }).selected).toEqual(['DQ_DA']);
    expect(selectCell(m, { name: 'ces', rho: 0 }).selected).toEqual(['DQ_CQ']);
    expect(selectCell(m, { name: 'ces', rho: -50 }).selected).toEqual(['DQ_CQ']);
    expect(selectCell(m, 'min').selected).toEqual(['DQ_CQ']);
  });

  it('min may select a Pareto-dominated cell among its ties', () => {
    const t = withCells({ DQ_DA: { LLM: 1, user: 1 }, DQ_CQ: { LLM: 1, user: 3 } });
    expect(selectCell(t, 'min').selected).toEqual(['DQ_CQ', 'DQ_DA']);
    expect(selectCell(t, 'pareto').selected).toEqual(['DQ_CQ']);
  });
});

describe('rule names', () => {
  it('lists every rule and rejects unknown ones', () => {
    expect([...SELECTION_RULES]).toEqual([
      'sum',
      'product',
      'pareto',
      'cobb-douglas',
      'ces',
      'min',
      'weighted',
    ]);
    expect(isSelectionRuleName('ces')).toBe(true);
    expect(isSelectionRuleName('nash')).toBe(false);
    for (const rule of SELECTION_RULES) expect(selectCell(PRISONERS_DILEMMA, rule).rule).toBe(rule);
    expect(() => selectCell(PRISONERS_DILEMMA, 'geometric' as 'sum')).toThrow(
      /unknown selection rule "geometric"/,
    );
    expect(() => selectCell(PRISONERS_DILEMMA, { name: 'weighted', alpha: 2 })).toThrow(RangeError);
  });

  it('work on other specs', () => {
    const spec = { rows: ['a', 'b'], columns: ['x'] };
    const m = { a_x: { LLM: 1, user: 2 }, b_x: { LLM: 2, user: 0 } };
    expect(selectCell(m, 'sum', spec).selected).toEqual(['a_x']);
  });
});

describe('the sum rule near the largest double', () => {
  it('still picks the larger sum when both sums pass it', () => {
    const zero = { LLM: 0, user: 0 };
    const matrix = {
      DQ_DA: { LLM: 1.7e308, user: 1e308 },
      DQ_CQ: { LLM: 1e308, user: 1.5e308 },
      DQ_AQ: zero,
      VQ_DA: zero,
      VQ_CQ: zero,
      VQ_AQ: zero,
    };
    expect(selectCell(matrix, 'sum').selected).toEqual(['DQ_DA']);
    expect(selectCell({ ...matrix, DQ_CQ: { LLM: 1.7e308, user: 1.1e308 } }, 'sum').selected).toEqual([
      'DQ_CQ',
    ]);
  });
});

describe('the sum rule among subnormal payoffs', () => {
  it('sees an exact tie on LLM + user and breaks it by the user payoff', () => {
    const unit = Number.MIN_VALUE; // 2^-1074: halving it rounds, adding such payoffs does not
    const zero = { LLM: 0, user: 0 };
    const matrix = {
      DQ_DA: { LLM: 3 * unit, user: 0 },
      DQ_CQ: { LLM: unit, user: 2 * unit },
      DQ_AQ: zero,
      VQ_DA: zero,
      VQ_CQ: zero,
      VQ_AQ: zero,
    };
    const result = selectCell(matrix, 'sum');
    expect(result.selected).toEqual(['DQ_CQ']);
    expect(result.reason).toMatch(/^DQ_CQ, DQ_DA tie on LLM \+ user/);
  });
});

describe('the product rule past the largest double', () => {
  it('picks the larger product when products pass it, of either sign, instead of a tie at Infinity', () => {
    const one = { LLM: 1, user: 1 };
    const matrix = {
      DQ_AQ: { LLM: 1e200, user: 1e200 },
      DQ_CQ: { LLM: 1e300, user: 1e300 },
      DQ_DA: { LLM: -1e300, user: 1e300 },
      VQ_AQ: { LLM: -1e200, user: 1e200 },
      VQ_CQ: one,
      VQ_DA: one,
    };
    expect(selectCell(matrix, 'product').selected).toEqual(['DQ_CQ']);
    expect(argmaxProduct(matrix)).toEqual(['DQ_CQ']);
    // Every product past −Infinity: the one nearest zero is the largest.
    const big = (e: number) => ({ LLM: -(10 ** e), user: 10 ** e });
    const negative = {
      DQ_AQ: big(300),
      DQ_CQ: big(200),
      DQ_DA: big(250),
      VQ_AQ: big(300),
      VQ_CQ: big(280),
      VQ_DA: big(300),
    };
    expect(selectCell(negative, 'product').selected).toEqual(['DQ_CQ']);
  });
});
