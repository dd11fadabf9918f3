import { describe, expect, it } from 'vitest';
import { MatrixError, type PayoffMatrix } from '../../src/game/index.js';
import { DINOSAUR_MATRIX } from '../../src/game/paper-example.js';
import {
  applyEdits,
  compilePolicy,
  diffMatrices,
  formatDiff,
  PRESETS,
  SteeringError,
  steeredMatrix,
} from '../../src/steering/index.js';

/** The paper's worked example (GTALIGN.md §5), in the paper's key order. */
const M = DINOSAUR_MATRIX;

describe('applyEdits', () => {
  it('returns a new matrix with the deltas added and leaves the input alone', () => {
    const edits = compilePolicy(PRESETS['paper-api']);
    const before = structuredClone(M);
    const after = applyEdits(M, edits);
    expect(after).not.toBe(M);
    expect(M).toEqual(before);
    expect(after.DQ_DA).toEqual({ LLM: 2.6, user: 2.3 });
    expect(after.VQ_CQ).toEqual({ LLM: 1.7, user: 2.4 });
  });

  it('refuses edits that lack a cell, or carry one the spec lacks, naming the cells', () => {
    const { DQ_DA: _dropped, ...rest } = compilePolicy(PRESETS.api).cells;
    expect(() => applyEdits(M, { cells: rest })).toThrowError(
      'cannot apply payoff edits: cells.DQ_DA: no edit for this cell of the spec',
    );
    const extra = { ...compilePolicy(PRESETS.api).cells, XQ_DA: { LLM: 1, user: 1 } };
    expect(() => applyEdits(M, { cells: extra })).toThrowError(
      /cells\.XQ_DA: edit for a cell the spec lacks/,
    );
    const nan = { ...compilePolicy(PRESETS.api).cells, VQ_AQ: { LLM: Number.NaN, user: 0 } };
    expect(() => applyEdits(M, { cells: nan })).toThrowError(SteeringError);
    expect(() => applyEdits(M, { cells: nan })).toThrowError(
      /cells\.VQ_AQ\.LLM: must be a finite number, got NaN/,
    );
  });

  it('refuses a payoff and an edit, each finite, whose sum is past the largest number, naming the cell', () => {
    const big: PayoffMatrix = { ...M, VQ_DA: { LLM: 1e308, user: 2.4 } };
    const edits = compilePolicy({
      kind: 'fixed',
      all: { LLM: 0, user: 0 },
      columns: {},
      cells: { VQ_DA: { LLM: 1e308, user: 0 } },
    });
    for (const steer of [applyEdits, steeredMatrix]) {
      expect(() => steer(big, edits)).toThrowError(SteeringError);
      expect(() => steer(big, edits)).toThrowError(
        /cells\.VQ_DA\.LLM: the payoff 1e\+308 plus the edit 1e\+308 is past the largest number/,
      );
    }
  });

  it('refuses an incomplete matrix with the game layer’s error', () => {
    const { VQ_DA: _dropped, ...partial } = M;
    expect(() => applyEdits(partial, compilePolicy(PRESETS.none))).toThrowError(MatrixError);
  });
});

describe('steeredMatrix', () => {
  const sums = (m: PayoffMatrix) =>
    Object.fromEntries(Object.entries(m).map(([k, p]) => [k, p.LLM + p.user]));
  /** Edits of +d to the LLM and −d to the user in every cell of column DA, none elsewhere. */
  const transfer = (d: number) => ({
    cells: Object.fromEntries(
      Object.keys(M).map((k) => [k, k.endsWith('_DA') ? { LLM: d, user: -d } : { LLM: 0, user: 0 }]),
    ),
  });

  it('keeps a transfer a transfer: LLM + user of every cell is what it was, to the cent', () => {
    for (const d of [0.005, 0.015, 0.405, 0.675, 1.235]) {
      const after = steeredMatrix(M, transfer(d));
      for (const [k, s] of Object.entries(sums(after)))
        expect(s, `±${d} on ${k}`).toBeCloseTo(sums(M)[k]!, 9);
    }
  });

  it('shows one edit as the same change in every cell, whatever the payoff’s sign', () => {
    const signs: PayoffMatrix = { ...M, VQ_DA: { LLM: -1.9, user: -2.4 } };
    const after = steeredMatrix(signs, transfer(0.675));
    // −0.675 is −0.68 on a positive payoff (2.8) and on a negative one (−2.4) alike.
    expect(after.DQ_DA).toEqual({ LLM: 2.28, user: 2.12 });
    expect(after.VQ_DA).toEqual({ LLM: -1.22, user: -3.08 });
  });

  it('breaks no tie a transfer did not create: a tie on LLM + user stays a tie', () => {
    // DQ_DA and DQ_CQ tie on 4.0; ±0.005 on DA rounded only after adding gave DA 4.01 and the pick.
    const tied: PayoffMatrix = { ...M, DQ_DA: { LLM: 1.3, user: 2.7 }, DQ_CQ: { LLM: 1.4, user: 2.6 } };
    const after = steeredMatrix(tied, transfer(0.005));
    expect(after.DQ_DA!.LLM + after.DQ_DA!.user).toBeCloseTo(after.DQ_CQ!.LLM + after.DQ_CQ!.user, 9);
  });
});

describe('diffMatrices and formatDiff', () => {
  it('lists each cell before, after and the change, for a trace', () => {
    const after = applyEdits(M, compilePolicy(PRESETS['paper-api']));
    const diff = diffMatrices(M, after);
    expect(diff.map((d) => d.key)).toEqual(['DQ_DA', 'DQ_CQ', 'DQ_AQ', 'VQ_DA', 'VQ_CQ', 'VQ_AQ']);
    expect(diff[0]).toEqual({
      key: 'DQ_DA',
      before: { LLM: 1.6, user: 2.8 },
      after: { LLM: 2.6, user: 2.3 },
      delta: { LLM: 1, user: -0.5 },
    });
    expect(formatDiff(diff)).toEqual([
      'DQ_DA: LLM 1.6 → 2.6 (+1), user 2.8 → 2.3 (-0.5)',
      'DQ_CQ: LLM 1.3, user 2.7 → 2.2 (-0.5)',
      'DQ_AQ: LLM 1 → 1.5 (+0.5), user 2.5 → 2 (-0.5)',
      'VQ_DA: LLM 1.9 → 2.9 (+1), user 2.4 → 1.9 (-0.5)',
      'VQ_CQ: LLM 1.7, user 2.9 → 2.4 (-0.5)',
      'VQ_AQ: LLM 1.4 → 1.9 (+0.5), user 2.3 → 1.8 (-0.5)',
    ]);
  });

  it('can leave out unchanged cells', () => {
    const after = { ...M, VQ_CQ: { LLM: 0, user: 2.9 } };
    expect(diffMatrices(M, after, undefined, { changedOnly: true }).map((d) => d.key)).toEqual(['VQ_CQ']);
  });
});
