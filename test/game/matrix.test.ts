import { describe, expect, it } from 'vitest';
import {
  assertCompleteMatrix,
  fromDense,
  isCompleteMatrix,
  MatrixError,
  matrixProblems,
  paretoFrontier,
  selectCell,
  specProblems,
  toDense,
} from '../../src/game/index.js';
import { PRISONERS_DILEMMA } from './helpers.js';

describe('matrixProblems', () => {
  it('accepts a complete matrix', () => {
    expect(matrixProblems(PRISONERS_DILEMMA)).toEqual([]);
    expect(isCompleteMatrix(PRISONERS_DILEMMA)).toBe(true);
  });

  it('names the cell and field of every problem at once', () => {
    const bad: unknown = {
      ...PRISONERS_DILEMMA,
      DQ_DA: undefined,
      DQ_CQ: { LLM: '1.5', user: 2 },
      DQ_AQ: { LLM: Number.NaN, user: Number.POSITIVE_INFINITY },
      VQ_DA: { LLM: 1 },
      VQ_CQ: null,
      VQ_XX: { LLM: 0, user: 0 },
    };
    const problems = matrixProblems(bad);
    expect(problems.map((p) => [p.code, p.key, p.field])).toEqual([
      ['cell_not_object', 'DQ_DA', undefined],
      ['not_a_number', 'DQ_CQ', 'LLM'],
      ['not_finite', 'DQ_AQ', 'LLM'],
      ['not_finite', 'DQ_AQ', 'user'],
      ['missing_value', 'VQ_DA', 'user'],
      ['cell_not_object', 'VQ_CQ', undefined],
      ['unexpected_cell', 'VQ_XX', undefined],
    ]);
    expect(problems[1]!.message).toBe('DQ_CQ.LLM must be a number, got "1.5"');
    expect(problems[1]!.value).toBe('1.5');
  });

  it('reports missing cells by key and non-objects', () => {
    const { VQ_AQ: _, ...five } = PRISONERS_DILEMMA;
    expect(matrixProblems(five)).toEqual([
      { code: 'missing_cell', key: 'VQ_AQ', message: 'missing cell VQ_AQ' },
    ]);
    expect(matrixProblems([1, 2])[0]!.code).toBe('not_an_object');
    expect(matrixProblems('{}')[0]!.message).toContain('matrix must be an object');
  });

  it('extra cells can be allowed; extra fields inside a cell are ignored', () => {
    const extra = { ...PRISONERS_DILEMMA, note: { LLM: 0, user: 0 } };
    expect(matrixProblems(extra, undefined, { allowExtraCells: true })).toEqual([]);
    expect(matrixProblems({ ...PRISONERS_DILEMMA, DQ_DA: { LLM: 1, user: 0, why: 'x' } })).toEqual([]);
  });

  it('checks the spec first', () => {
    const problems = matrixProblems({}, { rows: ['A', 'A'], columns: [] });
    expect(problems.every((p) => p.code === 'invalid_spec')).toBe(true);
    expect(problems.map((p) => p.message)).toContain('invalid game spec: duplicate user strategy "A"');
  });

  it('re-checks a spec that is not frozen, even after a mutation', () => {
    const spec = { rows: ['a', 'b'], columns: ['x'] };
    const m = { a_x: { LLM: 1, user: 1 }, b_x: { LLM: 1, user: 1 } };
    expect(matrixProblems(m, spec)).toEqual([]);
    spec.rows[1] = 'a';
    expect(matrixProblems(m, spec).map((p) => p.code)).toContain('invalid_spec');
  });

  it('checks a spec of 400 × 400 strategies in linear time (comparing every key with every other took minutes)', () => {
    const rows = Array.from({ length: 400 }, (_, i) => `R${i}`);
    const columns = Array.from({ length: 400 }, (_, j) => `C${j}`);
    const started = performance.now();
    expect(specProblems({ rows, columns })).toEqual([]);
    expect(specProblems({ rows: [...rows, 'R7'], columns })).toEqual([
      'duplicate user strategy "R7"',
      ...columns.map((c) => `cell key "R7_${c}" is ambiguous`),
    ]);
    // Generous: about 0.2 s here; the quadratic check took over a minute.
    expect(performance.now() - started).toBeLessThan(20_000);
  });

  it('works for any spec size', () => {
    const spec = { rows: ['a'], columns: ['x', 'y'] };
    expect(matrixProblems({ a_x: { LLM: 1, user: 1 } }, spec).map((p) => p.key)).toEqual(['a_y']);
  });
});

describe('errors from the solvers', () => {
  it('throw MatrixError carrying the problems', () => {
    const bad = {
      ...PRISONERS_DILEMMA,
      VQ_AQ: { LLM: 0, user: 'four' },
    } as unknown as typeof PRISONERS_DILEMMA;
    expect(() => assertCompleteMatrix(bad)).toThrow(MatrixError);
    try {
      paretoFrontier(bad);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(MatrixError);
      expect((e as MatrixError).problems.map((p) => p.key)).toEqual(['VQ_AQ']);
      expect((e as Error).message).toContain('VQ_AQ.user must be a number');
    }
    expect(() => selectCell({})).toThrow(/missing cell DQ_DA/);
  });
});

describe('dense form', () => {
  it('A holds user payoffs and B LLM payoffs, rows × columns in spec order', () => {
    const { A, B } = toDense(PRISONERS_DILEMMA);
    expect(A).toEqual([
      [0, 2, 3],
      [1, 1, 4],
    ]);
    expect(B).toEqual([
      [1, 1, 3],
      [1, 0, 0],
    ]);
    expect(fromDense(A, B)).toEqual(PRISONERS_DILEMMA);
  });

  it('fromDense rejects a shape mismatch', () => {
    expect(() => fromDense([[1]], [[1]])).toThrow(RangeError);
  });
});
