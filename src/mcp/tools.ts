/**
 * What the MCP tools do, as plain functions over the library (no MCP types here): the solver
 * (`analyzeGame`), steering (`compilePolicy` + `steeredMatrix`, rounded as a turn rounds), the stage-1 decision
 * of a GTAlign turn, a whole turn, and the welfare reward. Errors a caller can fix throw `ToolInputError`
 * (or the library's own errors), which the server reports as a tool error (`isError`) with the message.
 */
import type { z } from 'zod';
import { runTurn, type SteeringTrace, type TurnOptions } from '../assistant/turn.js';
import { gtalignObject } from '../assistant/turn-json.js';
import { analyzeGame } from '../game/analyze.js';
import { matrixProblems } from '../game/matrix.js';
import { type SelectionRuleName, selectCell } from '../game/select.js';
import {
  cellKeys,
  DEFAULT_SPEC,
  type GameSpec,
  type PayoffMatrix,
  specProblems,
  splitCellKey,
} from '../game/spec.js';
import type { ChatModel, GenerateResult } from '../llm/types.js';
import { analyzeSample, finishSample } from '../reward/score.js';
import { verdictOutsideScale } from '../reward/verdict.js';
import { steeredMatrix } from '../steering/apply.js';
import { compilePolicy } from '../steering/compile.js';
import type { SteeringPolicy } from '../steering/policy.js';
import { resolvePolicy } from '../steering/presets.js';
import type { ProfileInput } from '../steering/profile.js';
import type { ToolProgress } from './progress.js';
import {
  type analyzeGameInput,
  type analyzeGameOutput,
  type decideInput,
  type decideOutput,
  PAYOFF_BOUND,
  type respondInput,
  type respondOutput,
  type scoreRewardInput,
  type scoreRewardOutput,
  type steerInput,
  type steerOutput,
} from './schemas.js';

/** A tool's arguments that cannot be used; its message says what to change. */
export class ToolInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ToolInputError';
  }
}

/** The turn settings `decide` and `respond` use when a call does not set them (the CLI's settings). */
export type TurnDefaults = Omit<TurnOptions, 'model' | 'question' | 'history' | 'signal'>;

export interface ToolContext {
  /** The configured backend, created on first use. */
  model(): Promise<ChatModel>;
  defaults: TurnDefaults;
}

/** The game of `rows` and `columns`, checked: its problems are the strategies', not the matrix's. */
function specOf(rows: string[] | undefined, columns: string[] | undefined): GameSpec {
  if (rows === undefined && columns === undefined) return DEFAULT_SPEC;
  const spec = { rows: rows ?? [...DEFAULT_SPEC.rows], columns: columns ?? [...DEFAULT_SPEC.columns] };
  const problems = specProblems(spec);
  if (problems.length > 0) throw new ToolInputError(`rows/columns: ${problems.join('; ')}`);
  return spec;
}

/** The matrix's cells of the spec, checked (every problem named). */
function checkedMatrix(value: PayoffMatrix, spec: GameSpec): PayoffMatrix {
  const problems = matrixProblems(value, spec);
  if (problems.length > 0) {
    throw new ToolInputError(`matrix: ${problems.map((p) => p.message).join('; ')}`);
  }
  const out: PayoffMatrix = {};
  for (const key of cellKeys(spec)) out[key] = { LLM: value[key]!.LLM, user: value[key]!.user };
  return out;
}

/**
 * The most equilibria a result lists: a result goes into an agent's context, and a 10×10 coordination
 * game has 1023 of them (324 KB); `nash_total` says how many there are.
 */
export const MAX_LISTED_EQUILIBRIA = 64;

export function analyzeGameTool(args: z.infer<typeof analyzeGameInput>): z.infer<typeof analyzeGameOutput> {
  const spec = specOf(args.rows, args.columns);
  const matrix = checkedMatrix(args.matrix, spec);
  const a = analyzeGame(matrix, {
    spec,
    ...(args.rule === undefined ? {} : { rule: args.rule }),
    ...(args.tolerance === undefined ? {} : { tolerance: args.tolerance }),
    nash: { maxEquilibria: MAX_LISTED_EQUILIBRIA },
  });
  return {
    pareto: a.pareto,
    choice: a.selection.selected[0]!,
    selection: a.selection,
    argmax_product: a.argmax_product,
    pure_nash: a.pure_nash,
    nash: a.nash,
    degenerate: a.degenerate,
    ...(a.nash_total === undefined ? {} : { nash_total: a.nash_total }),
    ...(a.note === undefined ? {} : { note: a.note }),
  };
}

/**
 * Refuses edits or a steered matrix past the payoff bound (or not finite), naming the first such value:
 * a pricing policy with huge prices or token counts compiles to such edits, and the sums and products the
 * selection takes of them would lose their decimals or overflow.
 */
function checkBound(cells: PayoffMatrix, what: string, fix: string): void {
  for (const [key, p] of Object.entries(cells)) {
    for (const side of ['LLM', 'user'] as const) {
      const v = p[side];
      if (!Number.isFinite(v) || Math.abs(v) > PAYOFF_BOUND) {
        throw new ToolInputError(
          `${what} reach ${v} at ${key}.${side}: payoffs and edits lie within ±${PAYOFF_BOUND}; ${fix}`,
        );
      }
    }
  }
}

export function steerTool(args: z.infer<typeof steerInput>): z.infer<typeof steerOutput> {
  const spec = specOf(args.rows, args.columns);
  const matrix = checkedMatrix(args.matrix, spec);
  const policy = resolvePolicy(args.policy);
  const edits = compilePolicy(policy, args.profile as ProfileInput | undefined, spec);
  checkBound(
    edits.cells,
    "the policy's edits",
    "lower its prices, costs or utilityPerCurrency, or the profile's token counts",
  );
  const after = steeredMatrix(matrix, edits, spec);
  checkBound(after, 'the steered payoffs (payoff + edit)', 'give smaller payoffs or edits');
  const rule: SelectionRuleName = args.rule ?? 'sum';
  const before = selectCell(matrix, rule, spec);
  const steered = selectCell(after, rule, spec);
  return {
    policy: edits.label,
    edits: edits.cells,
    explanation: edits.explanation,
    matrix_before: matrix,
    matrix_after: after,
    choice_before: before.selected[0]!,
    choice_after: steered.selected[0]!,
    selection_before: before,
    selection_after: steered,
  };
}

function turnOptions(
  ctx: ToolContext,
  model: ChatModel,
  args: z.infer<typeof decideInput> & { continuation?: TurnOptions['continuation'] },
  signal: AbortSignal | undefined,
): TurnOptions {
  let policy: SteeringPolicy | undefined;
  if (args.policy !== undefined) policy = resolvePolicy(args.policy);
  return {
    ...ctx.defaults,
    model,
    question: args.question,
    history: args.history ?? [],
    ...(policy === undefined ? {} : { policy }),
    ...(args.rule === undefined ? {} : { rule: args.rule }),
    ...(args.analysis === undefined ? {} : { analysis: args.analysis }),
    ...(args.continuation === undefined ? {} : { continuation: args.continuation }),
    ...(signal === undefined ? {} : { signal }),
  };
}

/** Thrown from `onSteered` to end a turn after its decision, before stage 2 asks the model anything. */
class Decided extends Error {
  constructor(readonly steering: SteeringTrace) {
    super('decided');
  }
}

/**
 * Stage 1 of a GTAlign turn and the decision, without writing the answer: the model writes its reasoning
 * and matrix, the policy edits it, the rule picks the cell, and the turn stops there.
 */
export async function decideTool(
  ctx: ToolContext,
  args: z.infer<typeof decideInput>,
  signal?: AbortSignal,
): Promise<z.infer<typeof decideOutput>> {
  const backend = await ctx.model();
  const calls: GenerateResult[] = [];
  const model: ChatModel = {
    id: backend.id,
    ...(backend.about === undefined ? {} : { about: backend.about }),
    capabilities: backend.capabilities,
    generate: async (request) => {
      const result = await backend.generate(request);
      calls.push(result);
      return result;
    },
    stream: (request) => backend.stream(request),
    close: () => Promise.resolve(),
  };
  let steering: SteeringTrace;
  try {
    await runTurn({
      ...turnOptions(ctx, model, args, signal),
      onSteered: (s) => {
        throw new Decided(s);
      },
    });
    throw new Error('the turn went past its decision');
  } catch (err) {
    if (!(err instanceof Decided)) throw err;
    steering = err.steering;
  }
  const cell = steering.selection.selected[0]!;
  const spec = ctx.defaults.spec ?? DEFAULT_SPEC;
  const split = splitCellKey(cell, spec);
  const [userType, action] = split === undefined ? cell.split('_') : [split.row, split.column];
  const tokens: Record<string, { prompt: number; cached_prompt: number; completion: number }> = {};
  for (const [i, c] of calls.entries()) {
    tokens[i === 0 ? 'stage1' : 'stage1-retry'] = {
      prompt: c.usage.promptTokens,
      cached_prompt: c.usage.cachedPromptTokens,
      completion: c.usage.completionTokens,
    };
  }
  return {
    user_type: userType ?? '',
    action: action ?? '',
    cell,
    should_clarify: action === 'CQ',
    matrix_before: steering.matrixBefore,
    matrix_after: steering.matrixAfter,
    policy: steering.policy,
    selection: steering.selection,
    reasoning: calls.at(-1)?.text ?? '',
    tokens,
  };
}

/** A whole GTAlign turn. */
export async function respondTool(
  ctx: ToolContext,
  args: z.infer<typeof respondInput>,
  signal?: AbortSignal,
  progress?: ToolProgress,
): Promise<z.infer<typeof respondOutput>> {
  const model = await ctx.model();
  const options = turnOptions(ctx, model, args, signal);
  if (progress !== undefined) {
    // Stage 1 and the decision are half the turn: said once the cell is chosen, before the reply is asked for.
    options.onSteered = (steering) =>
      progress(1, 2, `decided ${steering.selection.selected[0] ?? ''}; writing the reply`);
  }
  const result = await runTurn(options);
  return {
    response: result.response,
    action: result.action,
    cell: result.cell,
    output: result.output,
    gtalign: gtalignObject(result),
  };
}

/** The welfare reward of one output, with every component (the reference's numbers). */
export function scoreRewardTool(args: z.infer<typeof scoreRewardInput>): z.infer<typeof scoreRewardOutput> {
  const sample = {
    data_source: args.data_source,
    response: args.output,
    ground_truth: args.ground_truth,
    ...(args.extra_info === undefined ? {} : { extra_info: args.extra_info }),
  };
  const analysis = analyzeSample(sample);
  let record: ReturnType<typeof finishSample>;
  if (analysis.kind === 'pending') {
    if (args.verdict === undefined) {
      throw new ToolInputError(
        `this output needs the judge's verdict for ${args.data_source}: give verdict (gtalign mcp runs no judge)`,
      );
    }
    // A given verdict off its task's scale (a judge's failure marker, -1) is refused, not clipped to a 0.
    const outside = verdictOutsideScale(analysis.family, args.verdict);
    if (outside !== undefined) throw new ToolInputError(`${outside}; give the judge's verdict on that scale`);
    record = finishSample(analysis, args.verdict);
  } else record = analysis;
  if (record.kind === 'error') throw new ToolInputError(record.message);
  return {
    score: record.score,
    user_reward: record.user_reward,
    llm_reward: record.llm_reward,
    answer_reward: record.answer_reward,
    components: { ...record.components } as Record<string, number>,
    lengths: { ...record.lengths },
    verdict: record.verdict,
    scorable: record.scorable,
    ...(record.unscorable === undefined
      ? {}
      : { unscorable: { stage: record.unscorable.stage, message: record.unscorable.message } }),
    data_source: record.data_source,
    family: record.family,
    aggregator: record.aggregator,
    config_id: record.config_id,
  };
}
