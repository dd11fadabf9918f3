import { describe, expect, it } from 'vitest';
import { type GameSpec, type PayoffMatrix, selectCell } from '../../src/game/index.js';
import { DINOSAUR_MATRIX } from '../../src/game/paper-example.js';
import {
  applyEdits,
  compilePolicy,
  PRESET_NAMES,
  PRESETS,
  resolvePolicy,
  SteeringError,
} from '../../src/steering/index.js';

/** The paper's worked example (GTALIGN.md §5), in the paper's key order. */
const DINOSAUR = DINOSAUR_MATRIX;

/** The paper's matrix after its API edit. */
const DINOSAUR_PAPER_API: PayoffMatrix = {
  DQ_AQ: { LLM: 1.5, user: 2.0 },
  DQ_CQ: { LLM: 1.3, user: 2.2 },
  DQ_DA: { LLM: 2.6, user: 2.3 },
  VQ_AQ: { LLM: 1.9, user: 1.8 },
  VQ_CQ: { LLM: 1.7, user: 2.4 },
  VQ_DA: { LLM: 2.9, user: 1.9 },
};

const steer = (matrix: PayoffMatrix, name: string, spec?: GameSpec) =>
  applyEdits(matrix, compilePolicy(resolvePolicy(name), undefined, spec), spec);

describe("the paper's canonical steering example", () => {
  it('none: the matrix is unchanged and the sum rule asks a clarifying question (VQ_CQ)', () => {
    const after = steer(DINOSAUR, 'none');
    expect(after).toEqual(DINOSAUR);
    expect(selectCell(after).selected).toEqual(['VQ_CQ']);
  });

  it("paper-api: the edited matrix is the paper's, and the pick moves to a direct answer (DQ_DA)", () => {
    const after = steer(DINOSAUR, 'paper-api');
    expect(Object.keys(after).sort()).toEqual(Object.keys(DINOSAUR_PAPER_API).sort());
    for (const [key, expected] of Object.entries(DINOSAUR_PAPER_API)) {
      expect(after[key]!.LLM).toBeCloseTo(expected.LLM, 9);
      expect(after[key]!.user).toBeCloseTo(expected.user, 9);
    }
    expect(selectCell(after).selected).toEqual(['DQ_DA']);
  });

  it('paper-api leaves the input matrix as it was', () => {
    const copy = structuredClone(DINOSAUR);
    steer(DINOSAUR, 'paper-api');
    expect(DINOSAUR).toEqual(copy);
  });
});

describe('paper-subscription', () => {
  it('takes 2 from the LLM everywhere and adds +1 (AQ), +0.5 (CQ), +0 (DA) for the user', () => {
    const e = compilePolicy(PRESETS['paper-subscription']);
    expect(e.cells.DQ_DA).toEqual({ LLM: -2, user: 0 });
    expect(e.cells.VQ_CQ).toEqual({ LLM: -2, user: 0.5 });
    expect(e.cells.VQ_AQ).toEqual({ LLM: -2, user: 1 });
    expect(e.explanation.VQ_AQ!.user).toBe('AQ: +1 for AQ (fixed edit)');
    expect(e.explanation.VQ_AQ!.LLM).toBe('AQ: -2 in every cell (fixed edit)');
  });

  it('refuses a spec whose actions it has no edit for, naming the action', () => {
    const spec: GameSpec = { rows: ['Q'], columns: ['DA', 'REFUSE'] };
    expect(() => compilePolicy(PRESETS['paper-subscription'], undefined, spec)).toThrowError(
      /columns\.REFUSE: the fixed edit names DA, CQ, AQ but not the spec's action "REFUSE"/,
    );
  });

  it('none works on any spec', () => {
    const spec: GameSpec = { rows: ['Q'], columns: ['X', 'Y'] };
    expect(compilePolicy(PRESETS.none, undefined, spec).cells).toEqual({
      Q_X: { LLM: 0, user: 0 },
      Q_Y: { LLM: 0, user: 0 },
    });
  });
});

describe('pricing presets', () => {
  it('api: the user pays $3/$15 per 1M tokens, the provider earns it net of compute (default profile)', () => {
    const e = compilePolicy(PRESETS.api);
    // DA: 1500 in + 600 out tokens; CQ: 3000 + 1000 (one extra turn); AQ: 2250 + 950 (half a turn).
    const expected = {
      DA: { user: -0.675, LLM: 0.675 - 0.27 },
      CQ: { user: -1.2, LLM: 1.2 - 0.48 },
      AQ: { user: -1.05, LLM: 1.05 - 0.42 },
    };
    for (const row of ['DQ', 'VQ']) {
      for (const [col, d] of Object.entries(expected)) {
        expect(e.cells[`${row}_${col}`]!.user).toBeCloseTo(d.user, 12);
        expect(e.cells[`${row}_${col}`]!.LLM).toBeCloseTo(d.LLM, 12);
      }
    }
    expect(e.explanation.DQ_CQ!.user).toBe(
      'CQ: pays 50/currency × 0.024 (3000 input + 1000 output tokens at 3/15 per 1M) = -1.2',
    );
    expect(e.label).toBe('api');
  });

  it('subscription: only the provider loses, by its compute cost; the user pays nothing per token', () => {
    const e = compilePolicy(PRESETS.subscription);
    expect(e.cells.DQ_DA!.user).toBe(0);
    expect(e.cells.VQ_CQ!.user).toBe(0);
    expect(e.cells.DQ_DA!.LLM).toBeCloseTo(-0.27, 12);
    expect(e.cells.DQ_CQ!.LLM).toBeCloseTo(-0.48, 12);
    expect(e.cells.DQ_AQ!.LLM).toBeCloseTo(-0.42, 12);
    expect(e.explanation.DQ_DA!.user).toBe('DA: 0 (no cost to this party under this policy)');
  });

  it('every preset keeps the edits well inside the [-5, 5] payoff scale', () => {
    for (const name of PRESET_NAMES) {
      for (const d of Object.values(compilePolicy(PRESETS[name]).cells)) {
        expect(Math.abs(d.LLM)).toBeLessThanOrEqual(2.5);
        expect(Math.abs(d.user)).toBeLessThanOrEqual(2.5);
      }
    }
  });
});

describe('resolvePolicy', () => {
  it('returns the preset for each name, and the presets cannot be changed by accident', () => {
    for (const name of PRESET_NAMES) {
      expect(resolvePolicy(name)).toBe(PRESETS[name]);
      expect(Object.isFrozen(PRESETS[name])).toBe(true);
    }
  });

  it('names the known presets when a name is unknown', () => {
    expect(() => resolvePolicy('apu')).toThrowError(
      'unknown steering preset: "apu"; known presets: none, subscription, api, paper-api, paper-subscription',
    );
    expect(() => resolvePolicy('apu')).toThrowError(SteeringError);
  });

  it('accepts a policy object and re-reads a preset object unchanged', () => {
    expect(resolvePolicy({ ...PRESETS.api })).toEqual(PRESETS.api);
    expect(resolvePolicy({ ...PRESETS['paper-api'] })).toEqual(PRESETS['paper-api']);
    const p = resolvePolicy({
      billing: 'per-token',
      pricePerMillionInput: 1,
      pricePerMillionOutput: 2,
      utilityPerCurrency: 10,
    });
    expect(p).toMatchObject({ kind: 'pricing', payer: 'user', computeCostPerMillion: 0 });
  });
});

describe('the pricing presets on the paper’s example (the claims of docs/steering.md)', () => {
  it('api picks DQ_DA under sum, product, min and a user-weighted rule', () => {
    const after = steer(DINOSAUR, 'api');
    for (const rule of [
      { name: 'sum' },
      { name: 'product' },
      { name: 'min' },
      { name: 'weighted', alpha: 0.8 },
    ] as const) {
      expect(selectCell(after, rule).selected, rule.name).toEqual(['DQ_DA']);
    }
  });

  it('subscription picks DQ_DA under the sum rule, by a margin of 0.01 over VQ_CQ', () => {
    const after = steer(DINOSAUR, 'subscription');
    expect(selectCell(after).selected).toEqual(['DQ_DA']);
    const sum = (k: string) => after[k]!.LLM + after[k]!.user;
    expect(sum('DQ_DA') - sum('VQ_CQ')).toBeCloseTo(0.01, 9);
  });
});
