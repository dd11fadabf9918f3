/**
 * The reward configuration's shape, the reference's defaults and the configuration id, without the
 * schema that reads a configuration from outside (config.ts): the scoring workers load only this, so a
 * worker starts without loading zod or building schemas.
 */

import { canonicalJson } from './canonical-json.js';

export const AGGREGATOR_NAMES = ['cobb-douglas', 'weighted-cobb-douglas', 'linear', 'user', 'llm'] as const;
export type AggregatorName = (typeof AGGREGATOR_NAMES)[number];

export const DATA_SOURCES = [
  'math-hard',
  'minerva',
  'medium',
  'wildguard',
  'advbench',
  'ambig_qa',
  'abg-coqa',
] as const;
export type DataSource = (typeof DATA_SOURCES)[number];

/** A word band of a length term. */
export interface LengthBand {
  min: number;
  max: number;
}

/** A complete reward configuration (what config.ts's schema outputs; the two are checked equal there). */
export interface RewardConfig {
  /** Added to both welfare scores so that neither is ever exactly 0 for a scorable output. */
  epsilon: number;
  /** U = ε + answer·a_user + responseLength·len(response) + brevity·brevity(reasoning). */
  user: { answer: number; responseLength: number; brevity: number };
  /** L = ε + format·format + payoffQuality·payoff_quality + answer·a_llm + length·len(whole output). */
  llm: { format: number; payoffQuality: number; answer: number; length: number };
  /** Word band of the response-length term (words = Python `str.split()`). */
  responseLength: LengthBand;
  /** Word band of the whole-output length term. */
  wholeLength: LengthBand;
  /** Steepness of both logistic length terms. */
  k: number;
  /** brevity(reasoning) = exp(−code points / brevityScale). */
  brevityScale: number;
  /** How U and L combine into the score; `alpha` is U's weight in `weighted-cobb-douglas`. */
  aggregator: { name: AggregatorName; alpha: number };
  /** Data sources whose output must also carry an `<analyze>` block to be scorable (sorted, distinct). */
  analyzeRequiredFor: DataSource[];
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

/**
 * The reference's configuration: what the schema gives for `{}` (a test checks they are equal, key
 * order included).
 */
export const DEFAULT_REWARD_CONFIG: Readonly<RewardConfig> = deepFreeze({
  epsilon: 1e-4,
  user: { answer: 0.5, responseLength: 0.2, brevity: 0.3 },
  llm: { format: 0.2, payoffQuality: 0.2, answer: 0.4, length: 0.2 },
  responseLength: { min: 20, max: 500 },
  wholeLength: { min: 500, max: 1000 },
  k: 0.005,
  brevityScale: 500,
  aggregator: { name: 'cobb-douglas', alpha: 0.5 },
  analyzeRequiredFor: ['abg-coqa', 'advbench', 'minerva'],
});

/** 64-bit FNV-1a over UTF-16 code units, as 16 hex digits. */
function fnv1a64(text: string): string {
  let h = 0xcbf29ce484222325n;
  const prime = 0x100000001b3n;
  const mask = 0xffffffffffffffffn;
  for (let i = 0; i < text.length; i++) {
    h ^= BigInt(text.charCodeAt(i));
    h = (h * prime) & mask;
  }
  return h.toString(16).padStart(16, '0');
}

const idCache = new WeakMap<object, string>();

/**
 * A stable identifier of a configuration's content (`rc1-` + 16 hex digits): equal configurations get
 * equal ids across processes and versions of this file. The default configuration's id identifies the
 * reference's reward.
 */
export function configId(config: RewardConfig): string {
  const cached = idCache.get(config);
  if (cached !== undefined) return cached;
  const id = `rc1-${fnv1a64(canonicalJson(config))}`;
  idCache.set(config, id);
  return id;
}
