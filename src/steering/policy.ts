/**
 * Steering policies as data: a pricing policy (compiled into payoff edits by `compile.ts`), a fixed additive
 * edit (the paper's presets), or no edit. `parsePolicy` reads any of them from untrusted JSON.
 *
 * How billing and payer relate (the payer is whoever pays a per-token price):
 * - `per-token`: every token is charged at `pricePerMillionInput` / `pricePerMillionOutput`. `payer: 'user'`
 *   (default) is an API customer paying the provider, who earns that money; `payer: 'provider'` is an
 *   assistant operator that buys tokens from an upstream API and gives them to its users for nothing.
 * - `subscription`: the user pays a flat fee, so nothing per token; the provider bears the tokens' cost.
 *   The payer is implied (`provider`); no per-token price may be set (put the cost in `computeCostPerMillion`).
 * - `free`: no one pays anything per token (a local model, or an evaluation where cost must not steer).
 *   The payer is `nobody`; prices and compute cost must be 0. A free tier whose provider still pays for
 *   compute is `subscription` with a compute cost: the user's marginal price is 0 in both.
 * In every billing the provider's own compute cost (`computeCostPerMillion`) is the provider's, and the
 * user's time per extra turn (`userTimeCostPerTurn`, already in payoff units) is the user's.
 */
import { z } from 'zod';
import type { Payoff } from '../game/spec.js';
import { actionName, issuesFromZod, SteeringError, type SteeringIssue } from './errors.js';

export const BILLINGS = ['subscription', 'per-token', 'free'] as const;
export type Billing = (typeof BILLINGS)[number];
export const PAYERS = ['user', 'provider', 'nobody'] as const;
/** Who pays the per-token price. `nobody` only under `free`; `provider` is implied under `subscription`. */
export type Payer = (typeof PAYERS)[number];

/** A pricing policy with every field filled in (what `parsePolicy` returns). Money is in one currency. */
export interface PricingPolicy {
  kind: 'pricing';
  name?: string;
  description?: string;
  billing: Billing;
  payer: Payer;
  /** Currency per 1M input (prompt) tokens charged to the payer; 0 unless `per-token`. */
  pricePerMillionInput: number;
  /** Currency per 1M output (generated) tokens charged to the payer; 0 unless `per-token`. */
  pricePerMillionOutput: number;
  /** The provider's own cost per 1M tokens generated (and processed, unless the input rate is given). */
  computeCostPerMillion: number;
  /** The provider's own cost per 1M input tokens processed; defaults to `computeCostPerMillion`. */
  computeCostPerMillionInput: number;
  /** Payoff units per unit of currency, for both parties (0 only under `free`, where no money moves). */
  utilityPerCurrency: number;
  /** The user's cost of one extra round trip, in payoff units (≥ 0). */
  userTimeCostPerTurn: number;
}

/**
 * Edits added to cells: `all` to every cell, `columns[c]` to every cell of column `c`, `cells[k]` to cell `k`.
 */
export interface FixedEditPolicy {
  kind: 'fixed';
  name?: string;
  description?: string;
  all: Payoff;
  /**
   * Per assistant action. When it names any column it must name every column of the spec it is applied
   * to (an edit written for DA/CQ/AQ has nothing to say about other actions); empty = `all` only.
   */
  columns: Record<string, Payoff>;
  /**
   * Per cell (`DQ_CQ`, …), added on top of `all` and `columns`: an edit for one user type and action
   * (a matrix edited by hand is its differences here). Absent = none.
   */
  cells?: Record<string, Payoff>;
}

export interface NoEditPolicy {
  kind: 'none';
  name?: string;
  description?: string;
}

export type SteeringPolicy = PricingPolicy | FixedEditPolicy | NoEditPolicy;

// --- schemas -----------------------------------------------------------------------------------------

const required = (iss: { input: unknown }, otherwise: string) =>
  iss.input === undefined ? 'required' : otherwise;

const money = (what: string) =>
  z
    .number({ error: (iss) => required(iss, `must be a finite number (${what})`) })
    .min(0, { error: `must be ≥ 0 (${what})` });

const label = z.string({ error: 'must be a string' }).max(200, { error: 'at most 200 characters' });

const pricingSchema = z.strictObject({
  kind: z.literal('pricing', { error: 'must be "pricing" when given' }).optional(),
  name: label.optional(),
  description: z.string({ error: 'must be a string' }).optional(),
  billing: z.enum(BILLINGS, {
    error: (iss) => required(iss, `must be one of ${BILLINGS.map((b) => JSON.stringify(b)).join(', ')}`),
  }),
  payer: z
    .enum(PAYERS, {
      error: `must be one of ${PAYERS.map((b) => JSON.stringify(b)).join(', ')}`,
    })
    .optional(),
  pricePerMillionInput: money('currency per 1M input tokens').optional(),
  pricePerMillionOutput: money('currency per 1M output tokens').optional(),
  computeCostPerMillion: money('the provider’s cost per 1M tokens').optional(),
  computeCostPerMillionInput: money('the provider’s cost per 1M input tokens').optional(),
  utilityPerCurrency: z
    .number({ error: 'must be a finite number (payoff units per unit of currency)' })
    .positive({ error: 'must be > 0 (payoff units per unit of currency)' })
    .optional(),
  userTimeCostPerTurn: money('payoff units per extra turn').optional(),
});

const partialPayoff = z.strictObject({
  LLM: z.number({ error: 'must be a finite number' }).optional(),
  user: z.number({ error: 'must be a finite number' }).optional(),
});

const fixedSchema = z.strictObject({
  kind: z.literal('fixed'),
  name: label.optional(),
  description: z.string({ error: 'must be a string' }).optional(),
  all: partialPayoff.optional(),
  columns: z.record(actionName, partialPayoff).optional(),
  cells: z
    .record(z.string({ error: 'must be a cell key such as "DQ_CQ"' }).max(64), partialPayoff)
    .optional(),
});

const noneSchema = z.strictObject({
  kind: z.literal('none'),
  name: label.optional(),
  description: z.string({ error: 'must be a string' }).optional(),
});

type PricingInput = z.output<typeof pricingSchema>;

/** The JSON a user may write: a pricing policy (with or without `kind: "pricing"`), a fixed edit, or none. */
export type SteeringPolicyInput =
  | z.input<typeof pricingSchema>
  | z.input<typeof fixedSchema>
  | z.input<typeof noneSchema>;

// --- cross-field rules -------------------------------------------------------------------------------

const PRICE_FIELDS = ['pricePerMillionInput', 'pricePerMillionOutput'] as const;
const COMPUTE_FIELDS = ['computeCostPerMillion', 'computeCostPerMillionInput'] as const;

/** Checks how the fields fit together and fills in what the billing implies. */
function normalizePricing(p: PricingInput): PricingPolicy | SteeringIssue[] {
  const issues: SteeringIssue[] = [];
  const payerMustBe = (expected: Payer, message: string): void => {
    if (p.payer !== undefined && p.payer !== expected) issues.push({ path: 'payer', message });
  };
  const mustBeZero = (fields: readonly (keyof PricingInput)[], message: (value: unknown) => string): void => {
    for (const f of fields) if ((p[f] ?? 0) !== 0) issues.push({ path: f, message: message(p[f]) });
  };
  let payer: Payer;
  switch (p.billing) {
    case 'per-token': {
      payer = p.payer ?? 'user';
      if (payer === 'nobody') {
        issues.push({
          path: 'payer',
          message: 'per-token billing is paid by "user" or "provider"; for no charge use billing "free"',
        });
      }
      for (const f of PRICE_FIELDS) {
        if (p[f] === undefined) {
          issues.push({ path: f, message: 'required for per-token billing (currency per 1M tokens)' });
        }
      }
      break;
    }
    case 'subscription': {
      payer = 'provider';
      payerMustBe(
        'provider',
        `under subscription the user pays a flat fee, not per token, and the provider bears the ` +
          `tokens' cost: omit payer or use "provider" (got ${JSON.stringify(p.payer)})`,
      );
      mustBeZero(
        PRICE_FIELDS,
        (v) =>
          `subscription charges nothing per token (got ${v}); put the provider's cost in ` +
          `computeCostPerMillion, or use billing "per-token"`,
      );
      break;
    }
    case 'free': {
      payer = 'nobody';
      payerMustBe(
        'nobody',
        `free billing: nobody pays per token (got ${JSON.stringify(p.payer)}); a free tier where the ` +
          `provider pays for compute is billing "subscription" with computeCostPerMillion`,
      );
      mustBeZero(
        [...PRICE_FIELDS, ...COMPUTE_FIELDS],
        (v) => `free billing has no token costs (got ${v}); use billing "subscription" or "per-token"`,
      );
      break;
    }
  }
  if (p.billing !== 'free' && p.utilityPerCurrency === undefined) {
    issues.push({
      path: 'utilityPerCurrency',
      message: `required for ${p.billing} billing: payoff units per unit of currency (the presets use 50)`,
    });
  }
  if (issues.length > 0) return issues;
  const compute = p.computeCostPerMillion ?? 0;
  return {
    kind: 'pricing',
    ...(p.name === undefined ? {} : { name: p.name }),
    ...(p.description === undefined ? {} : { description: p.description }),
    billing: p.billing,
    payer,
    pricePerMillionInput: p.pricePerMillionInput ?? 0,
    pricePerMillionOutput: p.pricePerMillionOutput ?? 0,
    computeCostPerMillion: compute,
    computeCostPerMillionInput: p.computeCostPerMillionInput ?? compute,
    utilityPerCurrency: p.utilityPerCurrency ?? 0,
    userTimeCostPerTurn: p.userTimeCostPerTurn ?? 0,
  };
}

const fullPayoff = (p: { LLM?: number | undefined; user?: number | undefined } | undefined): Payoff => ({
  LLM: p?.LLM ?? 0,
  user: p?.user ?? 0,
});

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Reads a steering policy from untrusted data (parsed JSON). An object with `kind: "fixed"` or `"none"` is
 * that kind; any other object is a pricing policy. Throws a {@link SteeringError} whose issues name each
 * bad field; never returns a half-valid policy.
 */
export function parsePolicy(input: unknown): SteeringPolicy {
  if (!isRecord(input)) {
    throw new SteeringError('policy', [
      {
        path: '',
        message: `a policy must be a JSON object (billing, prices, …) or a preset name, got ${
          Array.isArray(input) ? 'an array' : input === null ? 'null' : typeof input
        }`,
      },
    ]);
  }
  if (input.kind === 'fixed') {
    const r = fixedSchema.safeParse(input);
    if (!r.success) throw new SteeringError('policy', issuesFromZod(r.error, input));
    // The schema's record copies drop a "__proto__" key (an assignment sets the prototype): refused here,
    // as the cell or action it cannot be, rather than lost.
    for (const field of ['columns', 'cells'] as const) {
      const given = input[field];
      if (isRecord(given) && Object.hasOwn(given, '__proto__'))
        throw new SteeringError('policy', [
          {
            path: `${field}.__proto__`,
            message: `not ${field === 'cells' ? 'a cell' : 'an action'} of the game`,
          },
        ]);
    }
    const columns: Record<string, Payoff> = {};
    for (const [c, p] of Object.entries(r.data.columns ?? {})) columns[c] = fullPayoff(p);
    const cells: Record<string, Payoff> = {};
    for (const [k, p] of Object.entries(r.data.cells ?? {})) cells[k] = fullPayoff(p);
    return {
      kind: 'fixed',
      ...(r.data.name === undefined ? {} : { name: r.data.name }),
      ...(r.data.description === undefined ? {} : { description: r.data.description }),
      all: fullPayoff(r.data.all),
      columns,
      ...(Object.keys(cells).length === 0 ? {} : { cells }),
    };
  }
  if (input.kind === 'none') {
    const r = noneSchema.safeParse(input);
    if (!r.success) throw new SteeringError('policy', issuesFromZod(r.error, input));
    return { ...r.data, kind: 'none' };
  }
  const r = pricingSchema.safeParse(input);
  if (!r.success) throw new SteeringError('policy', issuesFromZod(r.error, input));
  const normalized = normalizePricing(r.data);
  if (Array.isArray(normalized)) throw new SteeringError('policy', normalized);
  return normalized;
}

/** A one-line description of a policy for traces and logs. */
export function describePolicy(policy: SteeringPolicy): string {
  const name = policy.name === undefined ? '' : `${policy.name}: `;
  switch (policy.kind) {
    case 'none':
      return `${name}no payoff edits`;
    case 'fixed':
      return `${name}fixed additive edits`;
    case 'pricing': {
      const p = policy;
      const parts = [`${p.billing} billing`];
      if (p.billing === 'per-token') {
        parts.push(
          `${p.payer} pays ${p.pricePerMillionInput}/${p.pricePerMillionOutput} per 1M in/out tokens`,
        );
      }
      if (p.computeCostPerMillion > 0 || p.computeCostPerMillionInput > 0) {
        parts.push(
          `provider compute ${p.computeCostPerMillionInput}/${p.computeCostPerMillion} per 1M in/out tokens`,
        );
      }
      if (p.userTimeCostPerTurn > 0) parts.push(`user time ${p.userTimeCostPerTurn} per extra turn`);
      if (p.billing !== 'free') parts.push(`${p.utilityPerCurrency} payoff units per currency unit`);
      return name + parts.join(', ');
    }
  }
}
