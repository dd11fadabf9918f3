/**
 * The compiler: a steering policy plus an action profile → additive payoff edits for every cell.
 *
 * For an assistant action `a` with profile (o_a output tokens, x_a extra turns), input tokens per turn I and
 * output tokens per extra turn O':
 *
 *   in_a  = I · (1 + x_a)                         tokens read, this turn and each extra turn
 *   out_a = o_a + x_a · O'                        tokens generated, this turn and each extra turn
 *   price_a   = (in_a · P_in + out_a · P_out) / 1e6     the per-token charge (currency)
 *   compute_a = (in_a · K_in + out_a · K_out) / 1e6     the provider's own cost (currency)
 *
 * With u = utilityPerCurrency and t = userTimeCostPerTurn, the edits of every cell (row, a) are
 *
 *   per-token, payer user:      Δuser = −u·price_a − t·x_a    ΔLLM = +u·price_a − u·compute_a
 *   per-token, payer provider:  Δuser = −t·x_a                ΔLLM = −u·price_a − u·compute_a
 *   subscription:               Δuser = −t·x_a                ΔLLM = −u·compute_a
 *   free:                       Δuser = −t·x_a                ΔLLM = 0
 *
 * The edits depend on the action only, not on the row: the policy prices tokens and turns, which the profile
 * ties to the action; how well an action fits a definite or a vague question is what the model's own matrix
 * already says. A per-token price the user pays the provider is a transfer: it cancels in LLM + user, so
 * the sum rule only reacts to real costs (compute, the user's time), while rules that care how payoffs are
 * split (product, Cobb-Douglas, min, weighted) also react to who pays. See docs/steering.md.
 */
import { cellKey, DEFAULT_SPEC, type GameSpec, type Payoff } from '../game/spec.js';
import { SteeringError, type SteeringIssue } from './errors.js';
import { num, signed } from './format.js';
import { describePolicy, type FixedEditPolicy, type PricingPolicy, type SteeringPolicy } from './policy.js';
import { type ActionProfile, type ProfileInput, resolveProfile } from './profile.js';

/** Additive changes to a matrix, with the reason for each number. */
export interface PayoffEdits {
  /** Which policy produced the edits. */
  label: string;
  /** Cell key → the deltas to add. One entry per cell of the spec. */
  cells: Record<string, Payoff>;
  /** Cell key → what contributed to each party's delta, in words and numbers. */
  explanation: Record<string, { LLM: string; user: string }>;
}

/** What one action costs under a pricing policy, before conversion to payoff units. */
export interface ActionCostBreakdown {
  inputTokens: number;
  outputTokens: number;
  extraTurns: number;
  /** Per-token charge, in currency (0 unless per-token billing). */
  price: number;
  /** The provider's compute cost, in currency (0 under free billing). */
  compute: number;
}

/** Tokens and money per action of `spec` under `policy` (see the module comment for the formula). */
export function actionCosts(
  policy: PricingPolicy,
  profile?: ProfileInput | ActionProfile,
  spec: GameSpec = DEFAULT_SPEC,
): Record<string, ActionCostBreakdown> {
  const prof = resolveProfile(profile, spec);
  const out: Record<string, ActionCostBreakdown> = {};
  for (const column of spec.columns) {
    const a = prof.actions[column]!;
    const inputTokens = prof.inputTokensPerTurn * (1 + a.extraTurns);
    const outputTokens = a.outputTokens + a.extraTurns * prof.extraTurnOutputTokens;
    const price =
      (inputTokens * policy.pricePerMillionInput + outputTokens * policy.pricePerMillionOutput) / 1e6;
    const compute =
      (inputTokens * policy.computeCostPerMillionInput + outputTokens * policy.computeCostPerMillion) / 1e6;
    out[column] = { inputTokens, outputTokens, extraTurns: a.extraTurns, price, compute };
  }
  return out;
}

function compilePricing(
  policy: PricingPolicy,
  profile: ProfileInput | ActionProfile | undefined,
  spec: GameSpec,
) {
  const costs = actionCosts(policy, profile, spec);
  const u = policy.utilityPerCurrency;
  const t = policy.userTimeCostPerTurn;
  const perColumn: Record<string, { delta: Payoff; why: { LLM: string; user: string } }> = {};
  for (const column of spec.columns) {
    const c = costs[column]!;
    const tokens = `${num(c.inputTokens)} input + ${num(c.outputTokens)} output tokens`;
    const charge = `${num(u)}/currency × ${num(c.price)} (${tokens} at ${num(policy.pricePerMillionInput)}/${num(
      policy.pricePerMillionOutput,
    )} per 1M)`;
    const userParts: string[] = [];
    const llmParts: string[] = [];
    let user = 0;
    let llm = 0;
    if (policy.billing === 'per-token' && policy.payer === 'user') {
      user -= u * c.price;
      llm += u * c.price;
      userParts.push(`pays ${charge} = ${signed(-u * c.price)}`);
      llmParts.push(`earns ${charge} = ${signed(u * c.price)}`);
    } else if (policy.billing === 'per-token' && policy.payer === 'provider') {
      llm -= u * c.price;
      llmParts.push(`pays ${charge} = ${signed(-u * c.price)}`);
    }
    if (policy.billing !== 'free' && c.compute !== 0) {
      llm -= u * c.compute;
      llmParts.push(
        `compute ${num(u)}/currency × ${num(c.compute)} (${tokens} at ${num(policy.computeCostPerMillionInput)}/${num(
          policy.computeCostPerMillion,
        )} per 1M) = ${signed(-u * c.compute)}`,
      );
    }
    if (t !== 0 && c.extraTurns !== 0) {
      user -= t * c.extraTurns;
      userParts.push(`time ${num(t)} × ${num(c.extraTurns)} extra turn(s) = ${signed(-t * c.extraTurns)}`);
    }
    const sum = (parts: string[], total: number) =>
      parts.length === 0
        ? '0 (no cost to this party under this policy)'
        : parts.length === 1
          ? parts[0]!
          : `${parts.join('; ')}; total ${signed(total)}`;
    perColumn[column] = {
      delta: { LLM: llm, user },
      why: { LLM: `${column}: ${sum(llmParts, llm)}`, user: `${column}: ${sum(userParts, user)}` },
    };
  }
  return perColumn;
}

function compileFixed(policy: FixedEditPolicy, spec: GameSpec) {
  const named = Object.keys(policy.columns);
  if (named.length > 0) {
    const issues: SteeringIssue[] = spec.columns
      .filter((c) => !Object.hasOwn(policy.columns, c))
      .map((c) => ({
        path: `columns.${c}`,
        message: `the fixed edit names ${named.join(', ')} but not the spec's action ${JSON.stringify(c)}`,
      }));
    if (issues.length > 0) throw new SteeringError('policy', issues);
  }
  const perColumn: Record<string, { delta: Payoff; why: { LLM: string; user: string } }> = {};
  for (const column of spec.columns) {
    const col = Object.hasOwn(policy.columns, column) ? policy.columns[column]! : { LLM: 0, user: 0 };
    const part = (field: 'LLM' | 'user') => {
      const parts: string[] = [];
      if (policy.all[field] !== 0) parts.push(`${signed(policy.all[field])} in every cell`);
      if (col[field] !== 0) parts.push(`${signed(col[field])} for ${column}`);
      return parts.length === 0 ? `${column}: 0 (fixed edit)` : `${column}: ${parts.join(', ')} (fixed edit)`;
    };
    perColumn[column] = {
      delta: { LLM: policy.all.LLM + col.LLM, user: policy.all.user + col.user },
      why: { LLM: part('LLM'), user: part('user') },
    };
  }
  return perColumn;
}

/**
 * Compiles a steering policy into additive payoff edits for every cell of `spec` (formula in the module
 * comment and docs/steering.md). Fixed-edit policies (the paper's presets) bypass the formula and ignore
 * `profile`; `none` gives all-zero edits. Throws a {@link SteeringError} when the profile lacks an action of
 * the spec, or a fixed edit does not cover the spec's actions.
 */
export function compilePolicy(
  policy: SteeringPolicy,
  profile?: ProfileInput | ActionProfile,
  spec: GameSpec = DEFAULT_SPEC,
): PayoffEdits {
  let perColumn: Record<string, { delta: Payoff; why: { LLM: string; user: string } }>;
  switch (policy.kind) {
    case 'pricing':
      perColumn = compilePricing(policy, profile, spec);
      break;
    case 'fixed':
      perColumn = compileFixed(policy, spec);
      break;
    case 'none':
      perColumn = {};
      for (const c of spec.columns) {
        perColumn[c] = {
          delta: { LLM: 0, user: 0 },
          why: { LLM: `${c}: 0 (no edits)`, user: `${c}: 0 (no edits)` },
        };
      }
      break;
  }
  const perCell = policy.kind === 'fixed' ? (policy.cells ?? {}) : {};
  const keys = new Set(spec.rows.flatMap((row) => spec.columns.map((column) => cellKey(row, column))));
  const unknown = Object.keys(perCell).filter((k) => !keys.has(k));
  if (unknown.length > 0) {
    throw new SteeringError(
      'policy',
      unknown.map((k) => ({
        path: `cells.${k}`,
        message: `not a cell of the game (its cells: ${[...keys].join(', ')})`,
      })),
    );
  }
  const cells: Record<string, Payoff> = {};
  const explanation: Record<string, { LLM: string; user: string }> = {};
  for (const row of spec.rows) {
    for (const column of spec.columns) {
      const key = cellKey(row, column);
      const { delta, why } = perColumn[column]!;
      const own = Object.hasOwn(perCell, key) ? perCell[key]! : { LLM: 0, user: 0 };
      cells[key] = { LLM: delta.LLM + own.LLM, user: delta.user + own.user };
      const plus = (field: 'LLM' | 'user') =>
        own[field] === 0 ? why[field] : `${why[field]}; ${signed(own[field])} for ${key} (fixed edit)`;
      explanation[key] = { LLM: plus('LLM'), user: plus('user') };
    }
  }
  // Prices and factors that are each finite can still multiply past the largest double: such a policy
  // fails here, before any tokens are spent, not after stage 1.
  const overflow = Object.entries(cells).flatMap(([key, d]) =>
    (['LLM', 'user'] as const)
      .filter((field) => !Number.isFinite(d[field]))
      .map((field) => ({
        path: `cells.${key}.${field}`,
        message: `the policy's edit is ${d[field]}: its prices or factors are too large to add to a payoff`,
      })),
  );
  if (overflow.length > 0) throw new SteeringError('policy', overflow);
  return { label: policy.name ?? describePolicy(policy), cells, explanation };
}
