/**
 * Named steering policies (deeply frozen). `subscription` and `api` are pricing policies compiled by the formula; the
 * `paper-*` presets are the paper's fixed additive edits and bypass it; `none` changes nothing.
 *
 * The pricing presets describe one model served two ways, with money in US dollars:
 * - prices $3 per 1M input and $15 per 1M output tokens: the list price of a mid-size hosted model in 2025
 *   (a 1:5 input:output ratio is common across providers);
 * - the provider's compute cost is assumed to be 40% of those prices ($1.20 / $6 per 1M input/output);
 * - 50 payoff units per dollar (one unit = 2 cents), so that with the default profile a direct answer
 *   billed per token costs the user about 0.7 units, close to the paper's flat 0.5, and every edit stays
 *   well inside the [-5, 5] payoff range.
 */
import { describeValue, SteeringError } from './errors.js';
import { parsePolicy, type SteeringPolicy } from './policy.js';

import { PRESET_NAMES, type PresetName } from './preset-names.js';

export { PRESET_NAMES, type PresetName };

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

const USD_UTILITY = 50;
const COMPUTE_IN = 1.2;
const COMPUTE_OUT = 6;

export const PRESETS: Readonly<Record<PresetName, Readonly<SteeringPolicy>>> = deepFreeze({
  none: { kind: 'none', name: 'none', description: 'No payoff edits: the model’s matrix as written.' },
  subscription: {
    kind: 'pricing',
    name: 'subscription',
    description:
      'Flat subscription: the user pays nothing per token; the provider bears the compute cost ' +
      '($1.20 / $6 per 1M input/output tokens), at 50 payoff units per dollar.',
    billing: 'subscription',
    payer: 'provider',
    pricePerMillionInput: 0,
    pricePerMillionOutput: 0,
    computeCostPerMillion: COMPUTE_OUT,
    computeCostPerMillionInput: COMPUTE_IN,
    utilityPerCurrency: USD_UTILITY,
    userTimeCostPerTurn: 0,
  },
  api: {
    kind: 'pricing',
    name: 'api',
    description:
      'Per-token API: the user pays $3 / $15 per 1M input/output tokens to the provider, who bears a ' +
      'compute cost of $1.20 / $6 per 1M, at 50 payoff units per dollar.',
    billing: 'per-token',
    payer: 'user',
    pricePerMillionInput: 3,
    pricePerMillionOutput: 15,
    computeCostPerMillion: COMPUTE_OUT,
    computeCostPerMillionInput: COMPUTE_IN,
    utilityPerCurrency: USD_UTILITY,
    userTimeCostPerTurn: 0,
  },
  'paper-api': {
    kind: 'fixed',
    name: 'paper-api',
    description: 'The paper’s API edit: user −0.5 in every cell; LLM +1 for DA, +0.5 for AQ, +0 for CQ.',
    all: { LLM: 0, user: -0.5 },
    columns: { DA: { LLM: 1, user: 0 }, CQ: { LLM: 0, user: 0 }, AQ: { LLM: 0.5, user: 0 } },
  },
  'paper-subscription': {
    kind: 'fixed',
    name: 'paper-subscription',
    description:
      'The paper’s mirror edit with the reference script’s default: LLM −2 in every cell; user +0 for DA, ' +
      '+1 for AQ, +0.5 for CQ.',
    all: { LLM: -2, user: 0 },
    columns: { DA: { LLM: 0, user: 0 }, CQ: { LLM: 0, user: 0.5 }, AQ: { LLM: 0, user: 1 } },
  },
} satisfies Record<PresetName, SteeringPolicy>);

export function isPresetName(name: string): name is PresetName {
  return (PRESET_NAMES as readonly string[]).includes(name);
}

/**
 * A preset by name, or a policy object checked by {@link parsePolicy} (untrusted JSON is fine). Throws a
 * {@link SteeringError} for an unknown name (listing the presets) or a bad object (naming the fields).
 */
export function resolvePolicy(nameOrObject: unknown): SteeringPolicy {
  if (typeof nameOrObject === 'string') {
    if (isPresetName(nameOrObject)) return PRESETS[nameOrObject];
    throw new SteeringError('preset', [
      { path: '', message: `${describeValue(nameOrObject)}; known presets: ${PRESET_NAMES.join(', ')}` },
    ]);
  }
  return parsePolicy(nameOrObject);
}
