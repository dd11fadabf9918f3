/**
 * The MCP tools' input and output schemas (zod; the SDK sends them to clients as JSON Schema, validates
 * arguments against the inputs and structured results against the outputs). A policy's full rules (which
 * fields each billing needs) are checked by `resolvePolicy`; `policySchema` describes its shape for
 * clients and the `gtalign://policy-schema` resource.
 */
import { z } from 'zod';
import { SELECTION_RULES } from '../game/select.js';
import { BILLINGS, PAYERS } from '../steering/policy.js';
import { PRESET_NAMES, resolvePolicy } from '../steering/presets.js';

/**
 * Payoffs and edits are bounded (the paper's lie within ±5): past ±1e12 a sum or product of them loses its
 * decimals or overflows to Infinity, which the result schemas could not carry, and the client would get
 * an output-validation error instead of what is wrong with its input.
 */
export const PAYOFF_BOUND = 1e12;
const payoffValue = z
  .number()
  .min(-PAYOFF_BOUND, `payoffs lie within ±${PAYOFF_BOUND}`)
  .max(PAYOFF_BOUND, `payoffs lie within ±${PAYOFF_BOUND}`);
const payoff = z.object({ LLM: payoffValue, user: payoffValue });

/** A payoff matrix: cell key `ROW_COLUMN` → `{LLM, user}`. */
export const matrixSchema = z
  .record(z.string(), payoff)
  .describe('payoff matrix: cell key ROW_COLUMN (e.g. DQ_DA) → {"LLM": number, "user": number}');

/**
 * A matrix in a result: any finite payoffs. The bound above is on what a caller gives; a model's own matrix
 * (decide, respond) may pass it, and refusing the result for that would blame the caller's arguments.
 */
const resultPayoff = z.object({ LLM: z.number(), user: z.number() });
const resultMatrix = z
  .record(z.string(), resultPayoff)
  .describe('payoff matrix: cell key ROW_COLUMN (e.g. DQ_DA) → {"LLM": number, "user": number}');

const strategies = z.array(z.string().min(1)).min(1).max(10);

const specFields = {
  rows: strategies.optional().describe('user strategies (default ["DQ", "VQ"])'),
  columns: strategies.optional().describe('assistant strategies (default ["DA", "CQ", "AQ"])'),
};

const rule = z
  .enum(SELECTION_RULES)
  .optional()
  .describe('selection rule (default sum: max LLM + user, tie → max user, tie → max LLM)');

const partialPayoff = z.object({ LLM: payoffValue.optional(), user: payoffValue.optional() }).strict();

/** A steering policy's shape: a pricing policy, a fixed edit, or none (see docs/steering.md). */
export const policyObjectSchema = z.union([
  z
    .object({
      kind: z.literal('pricing').optional(),
      name: z.string().max(200).optional(),
      description: z.string().optional(),
      billing: z.enum(BILLINGS),
      payer: z.enum(PAYERS).optional(),
      pricePerMillionInput: z.number().min(0).optional(),
      pricePerMillionOutput: z.number().min(0).optional(),
      computeCostPerMillion: z.number().min(0).optional(),
      computeCostPerMillionInput: z.number().min(0).optional(),
      utilityPerCurrency: z.number().positive().optional(),
      userTimeCostPerTurn: z.number().min(0).optional(),
    })
    .strict()
    .describe('pricing policy: prices and compute costs compiled into payoff edits per action'),
  z
    .object({
      kind: z.literal('fixed'),
      name: z.string().max(200).optional(),
      description: z.string().optional(),
      all: partialPayoff.optional(),
      columns: z.record(z.string(), partialPayoff).optional(),
      cells: z.record(z.string(), partialPayoff).optional(),
    })
    .strict()
    .describe(
      'fixed edit: deltas added to every cell (all), per assistant action (columns) and per cell (cells, e.g. DQ_CQ)',
    ),
  z
    .object({
      kind: z.literal('none'),
      name: z.string().max(200).optional(),
      description: z.string().optional(),
    })
    .strict()
    .describe('no edits'),
]);

/**
 * What is wrong with a policy, as the steering layer's own check says it (a union's error alone is
 * "Invalid input"); undefined when that check accepts what this stricter schema refused.
 */
function policyProblem(input: unknown): string | undefined {
  try {
    resolvePolicy(input);
  } catch (err) {
    return (err as Error).message;
  }
  return undefined;
}

export const policySchema = z
  .union([z.enum(PRESET_NAMES), policyObjectSchema], { error: (issue) => policyProblem(issue.input) })
  .describe(`a preset name (${PRESET_NAMES.join(', ')}) or a policy object`);

const selection = z
  .object({
    rule: z.string(),
    selected: z.array(z.string()),
    reason: z.string(),
    scores: z.record(z.string(), z.number()).optional(),
    params: z.record(z.string(), z.number()).optional(),
  })
  .describe('the rule, the chosen cells (selected[0] is the pick) and why');

const history = z
  .array(z.object({ role: z.enum(['user', 'assistant']), content: z.string() }))
  .max(256)
  .optional()
  .describe('earlier turns of the conversation, oldest first');

const tokens = z
  .record(z.string(), z.object({ prompt: z.number(), cached_prompt: z.number(), completion: z.number() }))
  .describe('tokens per model call (stage1, stage1-retry, stage2, reask)');

export const analyzeGameInput = z.object({
  matrix: matrixSchema,
  rule,
  tolerance: z.number().min(0).optional().describe('Pareto tolerance (default 0)'),
  ...specFields,
});

export const analyzeGameOutput = z.object({
  pareto: z.array(z.string()).describe('Pareto-optimal cells over (LLM, user)'),
  choice: z.string().describe("the rule's pick"),
  selection,
  argmax_product: z.array(z.string()).describe('cells maximizing user · LLM'),
  pure_nash: z.array(z.string()).describe('pure Nash equilibria'),
  nash: z
    .array(
      z.object({
        user: z.record(z.string(), z.number()),
        llm: z.record(z.string(), z.number()),
        payoff: z.object({ user: z.number(), LLM: z.number() }),
      }),
    )
    .describe('the Nash equilibria found, mixed included, pure ones first (at most 64: see nash_total)'),
  degenerate: z.boolean(),
  nash_total: z
    .number()
    .int()
    .optional()
    .describe('how many equilibria the game has, when nash lists only the first 64'),
  note: z.string().optional(),
});

/**
 * The expected-token profile's overrides, spelled out for clients: an agent reads the JSON Schema, not
 * docs/steering.md. The steering layer checks the values again and names what is wrong.
 */
const tokenCount = z.number().min(0);
const profileSchema = z
  .object({
    inputTokensPerTurn: tokenCount
      .optional()
      .describe('tokens read per turn: instruction, conversation, question'),
    extraTurnOutputTokens: tokenCount.optional().describe('tokens the assistant writes in each extra turn'),
    actions: z
      .record(
        z.string(),
        z
          .object({
            outputTokens: tokenCount
              .optional()
              .describe('tokens written this turn: the chain and the response'),
            extraTurns: tokenCount.optional().describe('expected further round trips the action causes'),
          })
          .strict(),
      )
      .optional()
      .describe('per assistant action (DA, CQ, AQ): its expected cost'),
  })
  .strict()
  .optional()
  .describe(
    'overrides of the expected-token profile a pricing policy prices (default: the built-in one); e.g. ' +
      '{"actions": {"DA": {"outputTokens": 900}}}',
  );

export const steerInput = z.object({
  matrix: matrixSchema,
  policy: policySchema,
  profile: profileSchema,
  rule,
  ...specFields,
});

export const steerOutput = z.object({
  policy: z.string().describe("the policy's label"),
  edits: z.record(z.string(), resultPayoff).describe('cell → the deltas added'),
  explanation: z.record(z.string(), z.object({ LLM: z.string(), user: z.string() })),
  matrix_before: resultMatrix,
  matrix_after: resultMatrix.describe('the steered matrix (rounded to two decimals, as in a turn)'),
  choice_before: z.string(),
  choice_after: z.string(),
  selection_before: selection,
  selection_after: selection,
});

const turnFields = {
  question: z.string().min(1).describe("the user's question"),
  history,
  policy: policySchema.optional().describe("pricing policy (default: the server's)"),
  rule,
  analysis: z.enum(['model', 'solver']).optional().describe('who writes <analyze> (default: the server’s)'),
};

export const decideInput = z.object(turnFields);

export const decideOutput = z.object({
  user_type: z.string().describe('the row of the chosen cell: DQ (definite question) or VQ (vague)'),
  action: z.string().describe('the chosen assistant action: DA answer, CQ clarify, AQ answer + follow-up'),
  cell: z.string(),
  should_clarify: z.boolean().describe('true when the action asks the user something first (CQ)'),
  matrix_before: resultMatrix.describe("the model's matrix"),
  matrix_after: resultMatrix.describe('after the policy'),
  policy: z.string(),
  selection,
  reasoning: z.string().describe("the model's stage-1 text (<thinking> and <payoff>)"),
  tokens,
});

export const respondInput = z.object({
  ...turnFields,
  continuation: z.enum(['continue', 'reask', 'auto']).optional(),
});

export const respondOutput = z.object({
  response: z.string().describe('the <response> text for the user'),
  action: z.string(),
  cell: z.string(),
  output: z.string().describe('the whole four-block chain'),
  gtalign: z
    .object({
      action: z.string(),
      cell: z.string(),
      matrix_before: resultMatrix,
      matrix_after: resultMatrix,
      policy: z.string(),
      selection,
      model_choice: z.string().optional(),
      analysis: z.string(),
      continuation: z.string(),
      tokens,
      timings_ms: z.object({ stage1: z.number(), stage2: z.number(), total: z.number() }),
      format_problems: z.array(z.string()),
      notes: z.array(z.string()),
    })
    .describe('the turn record (as in gtalign serve responses)'),
});

export const scoreRewardInput = z.object({
  output: z.string().describe("the model's full output (the four tagged blocks)"),
  ground_truth: z.string(),
  data_source: z.string().describe('math-hard, minerva, medium, wildguard, advbench, ambig_qa or abg-coqa'),
  verdict: z
    .number()
    .optional()
    .describe("the judge's verdict on the task's scale (needed unless the output is unscorable)"),
  extra_info: z.record(z.string(), z.unknown()).optional(),
});

export const scoreRewardOutput = z.object({
  score: z.number().describe('the aggregate welfare (Cobb-Douglas √(U·L) by default)'),
  user_reward: z.number(),
  llm_reward: z.number(),
  answer_reward: z.number(),
  components: z.record(z.string(), z.number()),
  lengths: z.record(z.string(), z.number()),
  verdict: z.number().nullable(),
  scorable: z.boolean(),
  unscorable: z.object({ stage: z.string(), message: z.string() }).optional(),
  data_source: z.string(),
  family: z.string(),
  aggregator: z.string(),
  config_id: z.string(),
});
