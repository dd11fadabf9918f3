/**
 * Everything the CLI reports about one payoff matrix, computed from a single validation pass.
 */
import { toDenseGame } from './matrix.js';
import { type MixedEquilibrium, type NashOptions, nashEquilibriaDense, pureNashDense } from './nash.js';
import { paretoFrontierDense } from './pareto.js';
import { type SelectionResult, type SelectionRule, type SelectionRuleName, selectDense } from './select.js';
import { DEFAULT_SPEC, type GameSpec, type PayoffMatrix } from './spec.js';

export interface AnalyzeOptions {
  /** Strategy sets; default the paper's DQ/VQ × DA/CQ/AQ. */
  spec?: GameSpec;
  /** Rule whose full result goes to `selection`; default `sum`. */
  rule?: SelectionRuleName | SelectionRule;
  /** Pareto tolerance (see `ParetoOptions`); default 0. Also used by the `pareto` rule unless it sets one. */
  tolerance?: number;
  /** Options for the equilibrium solver. */
  nash?: NashOptions;
}

export interface GameAnalysis {
  /** Pareto-optimal cells over (LLM, user), sorted keys. */
  pareto: string[];
  /** The default rule's pick: max LLM + user, tie → max user, tie → max LLM. */
  selected: string;
  /** The full result of the chosen rule (the default rule unless `rule` says otherwise). */
  selection: SelectionResult;
  /** Cells maximizing user · LLM, sorted (the reference inference script's rule). */
  argmax_product: string[];
  /** Pure Nash equilibria, sorted keys. */
  pure_nash: string[];
  /** All Nash equilibria found, mixed included. */
  nash: MixedEquilibrium[];
  degenerate: boolean;
  /** How many equilibria there are, when `nash.maxEquilibria` listed only the first ones. */
  nash_total?: number;
  note?: string;
}

/**
 * Analyzes a payoff matrix. Throws `MatrixError` (listing every problem) when the matrix is not complete
 * for the spec, RangeError for a bad rule or tolerance, `GameTooLargeError` past the solver's size limit.
 */
export function analyzeGame(matrix: PayoffMatrix, options: AnalyzeOptions = {}): GameAnalysis {
  const game = toDenseGame(matrix, options.spec ?? DEFAULT_SPEC);
  const tolerance = options.tolerance ?? 0;
  const pareto = paretoFrontierDense(game, tolerance);
  const sum = selectDense(game, 'sum');
  let rule = options.rule ?? 'sum';
  // The analysis tolerance also applies to the pareto rule, unless the rule object sets its own.
  if (rule === 'pareto') rule = { name: 'pareto', tolerance };
  else if (typeof rule === 'object' && rule.name === 'pareto') {
    rule = { ...rule, tolerance: rule.tolerance ?? tolerance };
  }
  const selection = rule === 'sum' ? sum : selectDense(game, rule);
  const argmaxProduct = selectDense(game, 'product').selected;
  const nash = nashEquilibriaDense(game, options.nash);
  const analysis: GameAnalysis = {
    pareto,
    selected: sum.selected[0]!,
    selection,
    argmax_product: argmaxProduct,
    pure_nash: pureNashDense(game),
    nash: nash.equilibria,
    degenerate: nash.degenerate,
  };
  if (nash.total !== undefined) analysis.nash_total = nash.total;
  if (nash.note !== undefined) analysis.note = nash.note;
  return analysis;
}
