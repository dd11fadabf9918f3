/**
 * The reward configuration: one object whose defaults are the reference's constants (GTALIGN.md §3),
 * a zod schema for reading it from outside, and a stable id so every record can say which
 * configuration produced it.
 */

import { z } from 'zod';
import { zodIssues } from '../issues.js';
import { AGGREGATOR_NAMES, DATA_SOURCES, type RewardConfig } from './config-base.js';

export {
  AGGREGATOR_NAMES,
  type AggregatorName,
  configId,
  DATA_SOURCES,
  type DataSource,
  DEFAULT_REWARD_CONFIG,
  type LengthBand,
  type RewardConfig,
} from './config-base.js';

const weight = z.number().finite();
const band = z
  .object({
    min: z.number().finite(),
    max: z.number().finite(),
  })
  .strict()
  .refine((b) => b.min <= b.max, { message: 'min must not exceed max' });

export const rewardConfigSchema = z
  .object({
    /** Added to both welfare scores so that neither is ever exactly 0 for a scorable output. */
    epsilon: z.number().finite().min(0).default(1e-4),
    /** U = ε + answer·a_user + responseLength·len(response) + brevity·brevity(reasoning). */
    user: z
      .object({
        answer: weight.default(0.5),
        responseLength: weight.default(0.2),
        brevity: weight.default(0.3),
      })
      .strict()
      .prefault({}),
    /** L = ε + format·format + payoffQuality·payoff_quality + answer·a_llm + length·len(whole output). */
    llm: z
      .object({
        format: weight.default(0.2),
        payoffQuality: weight.default(0.2),
        answer: weight.default(0.4),
        length: weight.default(0.2),
      })
      .strict()
      .prefault({}),
    /** Word band of the response-length term (words = Python `str.split()`). */
    responseLength: band.default({ min: 20, max: 500 }),
    /** Word band of the whole-output length term. */
    wholeLength: band.default({ min: 500, max: 1000 }),
    /** Steepness of both logistic length terms. */
    k: z.number().finite().positive().default(0.005),
    /** brevity(reasoning) = exp(−code points / brevityScale). */
    brevityScale: z.number().finite().positive().default(500),
    /** How U and L combine into the score. */
    aggregator: z
      .object({
        name: z.enum(AGGREGATOR_NAMES).default('cobb-douglas'),
        /** Weight of U in `weighted-cobb-douglas` (U^α · L^(1−α)); ignored by the others. */
        alpha: z.number().finite().min(0).max(1).default(0.5),
      })
      .strict()
      .prefault({}),
    /** Data sources whose output must also carry an `<analyze>` block to be scorable (the reference's OOD graders). */
    analyzeRequiredFor: z
      .array(z.enum(DATA_SOURCES))
      .default(['minerva', 'abg-coqa', 'advbench'])
      // A set: sorted and deduplicated so that equal sets give equal config ids.
      .transform((list) => [...new Set(list)].sort()),
  })
  .strict();

export type RewardConfigInput = z.input<typeof rewardConfigSchema>;

// The hand-written RewardConfig (config-base.ts) and the schema's output are the same type.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const schemaMatchesType: Same<z.output<typeof rewardConfigSchema>, RewardConfig> = true;
void schemaMatchesType;

export type ParseRewardConfigResult =
  | { ok: true; config: RewardConfig }
  | { ok: false; errors: Array<{ path: string; message: string }> };

/** Reads a (partial) configuration from outside; missing fields take the reference defaults. */
export function parseRewardConfig(input: unknown): ParseRewardConfigResult {
  const r = rewardConfigSchema.safeParse(input ?? {});
  if (r.success) return { ok: true, config: r.data };
  return {
    ok: false,
    errors: zodIssues(r.error, 20),
  };
}
