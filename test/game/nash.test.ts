import { describe, expect, it } from 'vitest';
import {
  analyzeGame,
  GameTooLargeError,
  llmBestResponses,
  MAX_SUPPORT_PAIRS,
  nashEquilibria,
  type PayoffMatrix,
  pureNash,
  userBestResponses,
} from '../../src/game/index.js';
import { PRISONERS_DILEMMA, twoByTwo } from './helpers.js';

describe('best responses', () => {
  it('to pure strategies, exactly', () => {
    expect(userBestResponses(PRISONERS_DILEMMA, 'AQ')).toEqual(['VQ']);
    expect(userBestResponses(PRISONERS_DILEMMA, 'CQ')).toEqual(['DQ']);
    expect(llmBestResponses(PRISONERS_DILEMMA, 'DQ')).toEqual(['AQ']);
    expect(llmBestResponses(PRISONERS_DILEMMA, 'VQ')).toEqual(['DA']);
  });

  it('to mixed strategies, ties within the tolerance, in spec order', () => {
    // Against DQ 1/3: DA pays 1, CQ 1/3, AQ 3·1/3 = 1.
    expect(llmBestResponses(PRISONERS_DILEMMA, { DQ: 1 / 3, VQ: 2 / 3 })).toEqual(['DA', 'AQ']);
    expect(llmBestResponses(PRISONERS_DILEMMA, { DQ: 0.3, VQ: 0.7 })).toEqual(['DA']);
    // Against CQ 1/2, AQ 1/2 the user gets 2.5 from both rows.
    expect(userBestResponses(PRISONERS_DILEMMA, { CQ: 0.5, AQ: 0.5 })).toEqual(['DQ', 'VQ']);
  });

  it('reject unknown strategies and probabilities that are not a distribution', () => {
    expect(() => userBestResponses(PRISONERS_DILEMMA, 'XX')).toThrow(/unknown assistant strategy "XX"/);
    expect(() => llmBestResponses(PRISONERS_DILEMMA, { DQ: 0.5, XX: 0.5 })).toThrow(
      /unknown user strategy "XX"/,
    );
    expect(() => llmBestResponses(PRISONERS_DILEMMA, { DQ: 0.5 })).toThrow(/sum to 1/);
    expect(() => llmBestResponses(PRISONERS_DILEMMA, { DQ: 1.5, VQ: -0.5 })).toThrow(/≥ 0/);
  });
});

describe('pure equilibria', () => {
  it('count ties as best responses', () => {
    const { spec, matrix } = twoByTwo([
      [1, 1],
      [1, 1],
      [1, 1],
      [1, 1],
    ]);
    expect(pureNash(matrix, spec)).toEqual(['B_L', 'B_R', 'T_L', 'T_R']);
  });

  it('may not exist', () => {
    const { spec, matrix } = twoByTwo([
      [1, -1],
      [-1, 1],
      [-1, 1],
      [1, -1],
    ]);
    expect(pureNash(matrix, spec)).toEqual([]);
  });
});

describe('mixed equilibria', () => {
  it('matching pennies: the unique equilibrium is 50/50', () => {
    const { spec, matrix } = twoByTwo([
      [1, -1],
      [-1, 1],
      [-1, 1],
      [1, -1],
    ]);
    expect(nashEquilibria(matrix, spec)).toEqual({
      equilibria: [{ user: { T: 0.5, B: 0.5 }, llm: { L: 0.5, R: 0.5 }, payoff: { user: 0, LLM: 0 } }],
      degenerate: false,
    });
  });

  it('battle of the sexes: two pure equilibria and one mixed (2/3, 1/3)', () => {
    const { spec, matrix } = twoByTwo([
      [2, 1],
      [0, 0],
      [0, 0],
      [1, 2],
    ]);
    const { equilibria, degenerate } = nashEquilibria(matrix, spec);
    expect(degenerate).toBe(false);
    expect(equilibria.slice(0, 2)).toEqual([
      { user: { T: 1, B: 0 }, llm: { L: 1, R: 0 }, payoff: { user: 2, LLM: 1 } },
      { user: { T: 0, B: 1 }, llm: { L: 0, R: 1 }, payoff: { user: 1, LLM: 2 } },
    ]);
    const mixed = equilibria[2]!;
    expect(equilibria).toHaveLength(3);
    expect(mixed.user.T).toBeCloseTo(2 / 3, 12);
    expect(mixed.llm.L).toBeCloseTo(1 / 3, 12);
    expect(mixed.payoff.user).toBeCloseTo(2 / 3, 12);
    expect(mixed.payoff.LLM).toBeCloseTo(2 / 3, 12);
  });

  it('rock-paper-scissors (3×3, zero-sum): uniform play is the only equilibrium', () => {
    const spec = { rows: ['R', 'P', 'S'], columns: ['R', 'P', 'S'] };
    const win = [
      [0, -1, 1],
      [1, 0, -1],
      [-1, 1, 0],
    ];
    const matrix: PayoffMatrix = {};
    spec.rows.forEach((r, i) => {
      spec.columns.forEach((c, j) => {
        matrix[`${r}_${c}`] = { user: win[i]![j]!, LLM: -win[i]![j]! };
      });
    });
    const { equilibria, degenerate } = nashEquilibria(matrix, spec);
    expect(degenerate).toBe(false);
    expect(equilibria).toHaveLength(1);
    for (const p of [...Object.values(equilibria[0]!.user), ...Object.values(equilibria[0]!.llm)]) {
      expect(p).toBeCloseTo(1 / 3, 12);
    }
  });
});

describe('scale', () => {
  it('finds the same equilibria when every payoff is multiplied by a constant, however large or small', () => {
    // The paper's motivating matrix (its prisoner's dilemma): one pure equilibrium, VQ_DA.
    const paper = PRISONERS_DILEMMA;
    const strategies = (m: PayoffMatrix) =>
      nashEquilibria(m).equilibria.map(({ user, llm }) => ({ user, llm }));
    const atOne = strategies(paper);
    expect(atOne).toHaveLength(1);
    for (const factor of [1e3, 1e6, 1e9, 1e12, 1e-6]) {
      const scaled = Object.fromEntries(
        Object.entries(paper).map(([k, p]) => [k, { user: p.user * factor, LLM: p.LLM * factor }]),
      );
      expect(strategies(scaled), `× ${factor}`).toEqual(atOne);
      expect(analyzeGame(scaled).pure_nash, `× ${factor}`).toEqual(['VQ_DA']);
    }
  });

  it('keeps the tolerance relative below 1: tiny payoffs are not all equal', () => {
    // Matching pennies has one equilibrium, 50/50, at any scale; with payoffs of 1e-10 the tolerance
    // (1e-9 absolute below 1) made every profile a best response and listed pure ones.
    const { spec, matrix } = twoByTwo([
      [1, -1],
      [-1, 1],
      [-1, 1],
      [1, -1],
    ]);
    for (const factor of [1e-10, 1e-12, 1e-300]) {
      const scaled = Object.fromEntries(
        Object.entries(matrix).map(([k, p]) => [k, { user: p.user * factor, LLM: p.LLM * factor }]),
      );
      const { equilibria, degenerate } = nashEquilibria(scaled, spec);
      expect(degenerate, `× ${factor}`).toBe(false);
      expect(
        equilibria.map((e) => [e.user, e.llm]),
        `× ${factor}`,
      ).toEqual([
        [
          { T: 0.5, B: 0.5 },
          { L: 0.5, R: 0.5 },
        ],
      ]);
    }
  });
});

describe('degenerate games', () => {
  it('a constant game: every profile is an equilibrium; the pure ones are the extreme points', () => {
    const zero: PayoffMatrix = {};
    for (const k of ['DQ_DA', 'DQ_CQ', 'DQ_AQ', 'VQ_DA', 'VQ_CQ', 'VQ_AQ']) zero[k] = { LLM: 0, user: 0 };
    const result = nashEquilibria(zero);
    expect(result.degenerate).toBe(true);
    expect(result.note).toMatch(/continuum.*may be incomplete/);
    expect(result.equilibria).toHaveLength(6);
    expect(result.equilibria.every((e) => Object.values(e.user).includes(1))).toBe(true);
  });

  it('reports the extreme points of a continuum, supports of unequal size included', () => {
    // The assistant is indifferent after T; the user keeps T while the assistant plays L with prob ≥ 1/2.
    // Equilibria: (B, R) and the segment T × {L ≥ 1/2}, whose ends are (T, L) and (T, ½L + ½R).
    const { spec, matrix } = twoByTwo([
      [1, 1],
      [0, 1],
      [0, 0],
      [1, 1],
    ]);
    const result = nashEquilibria(matrix, spec);
    expect(result.degenerate).toBe(true);
    expect(result.equilibria).toEqual([
      { user: { T: 1, B: 0 }, llm: { L: 1, R: 0 }, payoff: { user: 1, LLM: 1 } },
      { user: { T: 0, B: 1 }, llm: { L: 0, R: 1 }, payoff: { user: 1, LLM: 1 } },
      { user: { T: 1, B: 0 }, llm: { L: 0.5, R: 0.5 }, payoff: { user: 0.5, LLM: 1 } },
    ]);
    expect(analyzeGame(matrix, { spec }).note).toBe(result.note);
  });

  it('identical columns for the assistant do not make a game degenerate when they are never best', () => {
    // CQ and AQ pay the assistant the same everywhere (a singular system), but DA beats both.
    const m: PayoffMatrix = {
      DQ_DA: { LLM: 3, user: 1 },
      DQ_CQ: { LLM: 0, user: 2 },
      DQ_AQ: { LLM: 0, user: 0 },
      VQ_DA: { LLM: 3, user: 0 },
      VQ_CQ: { LLM: 1, user: 0.5 },
      VQ_AQ: { LLM: 1, user: 3 },
    };
    const result = nashEquilibria(m);
    expect(result.degenerate).toBe(false);
    expect(result.equilibria.map((e) => [e.user.DQ, e.llm.DA])).toEqual([[1, 1]]);
  });
});

describe('size limit', () => {
  it('refuses games past the support-pair limit with a typed error, unless raised', () => {
    const spec = {
      rows: Array.from({ length: 10 }, (_, i) => `r${i}`),
      columns: Array.from({ length: 11 }, (_, j) => `c${j}`),
    };
    const m: PayoffMatrix = {};
    spec.rows.forEach((r, i) => {
      spec.columns.forEach((c, j) => {
        m[`${r}_${c}`] = { LLM: (i * 7 + j * 3) % 11, user: (i * 5 + j * 2) % 13 };
      });
    });
    expect(MAX_SUPPORT_PAIRS).toBe(200_000);
    expect(() => nashEquilibria(m, spec)).toThrow(GameTooLargeError);
    expect(() => nashEquilibria(m, spec)).toThrow(/10×11 has 352715 support pairs, limit 200000/);
    const small = { rows: spec.rows.slice(0, 3), columns: spec.columns.slice(0, 3) };
    const sub: PayoffMatrix = {};
    for (const r of small.rows) for (const c of small.columns) sub[`${r}_${c}`] = m[`${r}_${c}`]!;
    expect(() => nashEquilibria(sub, small, { maxSupportPairs: 10 })).toThrow(GameTooLargeError);
    expect(nashEquilibria(sub, small, { maxSupportPairs: 19 }).equilibria.length).toBeGreaterThan(0);
  });
});

describe('listing bound', () => {
  /** n×n coordination: both get 1 when the user's row matches the assistant's column; 2^n − 1 equilibria. */
  function coordination(n: number): { matrix: PayoffMatrix; spec: { rows: string[]; columns: string[] } } {
    const spec = {
      rows: Array.from({ length: n }, (_, i) => `r${i}`),
      columns: Array.from({ length: n }, (_, j) => `c${j}`),
    };
    const matrix: PayoffMatrix = {};
    spec.rows.forEach((r, i) => {
      spec.columns.forEach((c, j) => {
        matrix[`${r}_${c}`] = i === j ? { LLM: 1, user: 1 } : { LLM: 0, user: 0 };
      });
    });
    return { matrix, spec };
  }

  it('lists the first maxEquilibria, pure ones first, and says how many there are', () => {
    const { matrix, spec } = coordination(6);
    const all = nashEquilibria(matrix, spec);
    expect(all.equilibria).toHaveLength(63);
    expect(all.total).toBeUndefined();
    const cut = nashEquilibria(matrix, spec, { maxEquilibria: 10 });
    expect(cut.equilibria).toEqual(all.equilibria.slice(0, 10));
    expect(cut.equilibria.slice(0, 6).every((e) => Object.values(e.user).includes(1))).toBe(true);
    expect(cut.total).toBe(63);
    expect(cut.note).toBe('the game has 63 equilibria; the first 10 are listed (pure ones first)');
    const analysis = analyzeGame(matrix, { spec, nash: { maxEquilibria: 10 } });
    expect(analysis.nash).toHaveLength(10);
    expect(analysis.nash_total).toBe(63);
    expect(() => nashEquilibria(matrix, spec, { maxEquilibria: 0 })).toThrow(RangeError);
  });
});
