/**
 * The playground's live steering, pure and browser-safe: the same steps `runTurn` takes between stage 1
 * and stage 2 (compile the policy, add the edits, round to two decimals, select), plus the game analysis
 * the page draws (Pareto frontier, pure Nash equilibria). The studio's browser bundle and its server both
 * import this file, which imports only the pure layers (game, chain's payoff edit, steering), so the page
 * computes exactly what the library computes.
 */
import { analyzeGame } from '../game/analyze.js';
import type { SelectionResult, SelectionRuleName } from '../game/select.js';
import { selectCell } from '../game/select.js';
import { DEFAULT_SPEC, type GameSpec, type PayoffMatrix } from '../game/spec.js';
import { editsAreZero, steeredMatrix } from '../steering/apply.js';
import { compilePolicy, type PayoffEdits } from '../steering/compile.js';
import type { SteeringPolicy } from '../steering/policy.js';
import type { ProfileInput } from '../steering/profile.js';

export interface SteerView {
  edits: PayoffEdits;
  /** The steered matrix as stage 2 shows it to the model (two decimals; the input when nothing changes). */
  after: PayoffMatrix;
  selection: SelectionResult;
  /** The pick (`selection.selected[0]`). */
  chosen: string;
  /** Pareto frontier and pure Nash equilibria of the steered matrix. */
  pareto: string[];
  pureNash: string[];
  /** The same for the matrix before steering. */
  before: { pareto: string[]; pureNash: string[]; chosen: string };
}

/** Steers `matrix` under `policy` and selects with `rule`, as a turn does (see `runTurn` in src/assistant/turn.ts). */
export function steer(
  matrix: PayoffMatrix,
  policy: SteeringPolicy,
  options: { rule?: SelectionRuleName; profile?: ProfileInput; spec?: GameSpec } = {},
): SteerView {
  const spec = options.spec ?? DEFAULT_SPEC;
  const rule = options.rule ?? 'sum';
  const edits = compilePolicy(policy, options.profile, spec);
  const unchanged = editsAreZero(edits);
  const after = unchanged ? matrix : steeredMatrix(matrix, edits, spec);
  const selection = selectCell(after, rule, spec);
  const analysis = analyzeGame(after, { spec });
  const beforeAnalysis = analyzeGame(matrix, { spec });
  return {
    edits,
    after,
    selection,
    chosen: selection.selected[0]!,
    pareto: analysis.pareto,
    pureNash: analysis.pure_nash,
    before: {
      pareto: beforeAnalysis.pareto,
      pureNash: beforeAnalysis.pure_nash,
      chosen: selectCell(matrix, rule, spec).selected[0]!,
    },
  };
}

export { DINOSAUR_MATRIX, DINOSAUR_QUESTION } from '../game/paper-example.js';
