/**
 * Price sweeps (`gtalign eval sweep`): the same rows under a range of values of pricing-policy fields,
 * one run folder per value, and `sweep.json` with every point's metrics (the shape `run-dir.ts` reads
 * and `gtalign eval report` draws):
 *
 *     { "param": "computeCostPerMillion",
 *       "params": [ { "name", "from", "to", "steps" } … ],      // every swept field (they move together)
 *       "policy": "subscription",                              // the base policy's name
 *       "points": [ { "value": 6, "values": { "computeCostPerMillion": 6 },
 *                     "run": "computeCostPerMillion=6",        // the point's run folder, relative
 *                     "metrics": { …metrics.json… } } ] }
 *
 * Several `NAME=FROM:TO:STEPS` ranges must have the same STEPS: point i sets every field to its i-th
 * value (one axis, e.g. a price and the compute cost rising together). `param` and `value` are the
 * first range's.
 *
 * A conversation sweep (`--turns N`) runs every point as a conversation run: each point's metrics then
 * hold the conversation metrics under `conversations` (conversation-metrics.ts), as its metrics.json does.
 *
 * Under the default sum rule a per-token price the user pays the provider is a transfer and moves no
 * choice (docs/steering.md); sweep a real cost (`computeCostPerMillion`, `userTimeCostPerTurn`), or
 * select with a rule that weighs the user, to see the action mix move.
 */

import { join, resolve } from 'node:path';
import { GtalignError } from '../errors.js';
import { writeFileAtomic } from '../io/checked-write.js';
import { type PricingPolicy, parsePolicy, type SteeringPolicy } from '../steering/policy.js';
import type { ConversationMetrics } from './conversation-metrics.js';
import type { Metrics } from './metrics.js';
import { fileOp } from './store-error.js';
import { SWEEPABLE_FIELDS, type SweepableField } from './sweep-fields.js';

export { SWEEPABLE_FIELDS, type SweepableField } from './sweep-fields.js';

export interface ParamRange {
  name: SweepableField;
  from: number;
  to: number;
  /** Number of points, ends included (≥ 1; 1 needs from = to). */
  steps: number;
}

export class SweepError extends GtalignError {
  readonly code = 'input';
  constructor(message: string) {
    super(message);
    this.name = 'SweepError';
  }
}

/**
 * Most points of one sweep. Each point is a whole run over the rows, so more is a typo, and the plan of
 * every point is made before the first runs: a STEPS of 10^9 would fill the memory instead of failing.
 */
export const MAX_SWEEP_STEPS = 1000;

/** Parses `NAME=FROM:TO:STEPS` (e.g. `pricePerMillionOutput=0:60:7`); errors name the part at fault. */
export function parseParamRange(text: string): ParamRange {
  const eq = text.indexOf('=');
  if (eq <= 0) throw new SweepError(`--policy-param ${JSON.stringify(text)}: expected NAME=FROM:TO:STEPS`);
  const name = text.slice(0, eq).trim();
  if (!(SWEEPABLE_FIELDS as readonly string[]).includes(name)) {
    throw new SweepError(
      `--policy-param ${JSON.stringify(text)}: ${JSON.stringify(name)} is not a pricing field one can sweep (one of ${SWEEPABLE_FIELDS.join(', ')})`,
    );
  }
  const parts = text.slice(eq + 1).split(':');
  if (parts.length !== 3) {
    throw new SweepError(
      `--policy-param ${JSON.stringify(text)}: expected FROM:TO:STEPS after '=', got ${parts.length} part(s)`,
    );
  }
  const [fromText, toText, stepsText] = parts as [string, string, string];
  const number = (what: string, s: string): number => {
    const n = Number(s);
    if (s.trim() === '' || !Number.isFinite(n) || n < 0) {
      throw new SweepError(
        `--policy-param ${JSON.stringify(text)}: ${what} must be a number ≥ 0, got ${JSON.stringify(s)}`,
      );
    }
    return n;
  };
  const from = number('FROM', fromText);
  const to = number('TO', toText);
  const steps = Number(stepsText);
  if (!Number.isSafeInteger(steps) || steps < 1 || steps > MAX_SWEEP_STEPS) {
    throw new SweepError(
      `--policy-param ${JSON.stringify(text)}: STEPS must be an integer from 1 to ${MAX_SWEEP_STEPS} (the number of points, each a whole run), got ${JSON.stringify(stepsText)}`,
    );
  }
  if (steps === 1 && from !== to) {
    throw new SweepError(
      `--policy-param ${JSON.stringify(text)}: one step needs FROM = TO; use STEPS ≥ 2 for a range`,
    );
  }
  return { name: name as SweepableField, from, to, steps };
}

/** The values of a range, ends included, evenly spaced (rounded to 12 significant digits: 0.1·3 is 0.3). */
export function rangeValues(range: ParamRange): number[] {
  if (range.steps === 1) return [range.from];
  const out: number[] = [];
  for (let i = 0; i < range.steps; i++) {
    const x = range.from + ((range.to - range.from) * i) / (range.steps - 1);
    out.push(Number(x.toPrecision(12)));
  }
  return out;
}

export interface SweepPointPlan {
  /** The first range's value. */
  value: number;
  /** Every swept field's value. */
  values: Record<string, number>;
  policy: SteeringPolicy;
  /** The point's run folder, relative to the sweep folder. */
  run: string;
}

/**
 * The policy of each point: the base pricing policy with the swept fields set. Throws SweepError when the
 * base is not a pricing policy, the ranges' STEPS differ, or a point's policy is invalid (e.g. a price
 * under subscription billing); the message names the point and the field.
 */
export function planSweep(base: SteeringPolicy, ranges: readonly ParamRange[]): SweepPointPlan[] {
  if (ranges.length === 0) throw new SweepError('give at least one --policy-param NAME=FROM:TO:STEPS');
  if (base.kind !== 'pricing') {
    throw new SweepError(
      `--policy ${base.name ?? base.kind} is a ${base.kind === 'fixed' ? 'fixed edit' : 'no-edit'} policy; a sweep varies a pricing policy (e.g. --policy api or subscription, or a pricing JSON file)`,
    );
  }
  const names = new Set<string>();
  for (const r of ranges) {
    if (names.has(r.name)) throw new SweepError(`--policy-param ${r.name} is given twice`);
    names.add(r.name);
    if (r.steps !== ranges[0]!.steps) {
      throw new SweepError(
        `--policy-param ${r.name} has ${r.steps} steps and ${ranges[0]!.name} ${ranges[0]!.steps}: several parameters move together, so they need the same STEPS`,
      );
    }
  }
  const columns = ranges.map(rangeValues);
  const baseName = base.name ?? 'policy';
  const out: SweepPointPlan[] = [];
  for (let i = 0; i < ranges[0]!.steps; i++) {
    const values: Record<string, number> = {};
    ranges.forEach((r, k) => {
      values[r.name] = columns[k]![i]!;
    });
    const label = Object.entries(values)
      .map(([k, v]) => `${k}=${v}`)
      .join(',');
    const { kind: _kind, utilityPerCurrency, ...rest } = base as PricingPolicy;
    // Free billing has no currency: its normalized 0 is "not given", which parsePolicy would refuse.
    const fields = utilityPerCurrency > 0 ? { ...rest, utilityPerCurrency } : rest;
    let policy: SteeringPolicy;
    try {
      policy = parsePolicy({ ...fields, ...values, name: `${baseName} ${label}`.slice(0, 200) });
    } catch (err) {
      throw new SweepError(`sweep point ${label}: ${(err as Error).message}`);
    }
    // Each point's run folder is named by its values: two points alike would share one folder.
    const same = out.find((p) => p.run === label);
    if (same !== undefined) {
      throw new SweepError(
        `sweep points ${out.indexOf(same) + 1} and ${i + 1} both have ${label} (values are kept to 12 significant digits): widen the range or use fewer STEPS`,
      );
    }
    out.push({ value: columns[0]![i]!, values, policy, run: label });
  }
  return out;
}

export interface SweepFilePoint {
  value: number;
  values: Record<string, number>;
  run: string;
  /** The point's metrics.json (a conversation run's with its conversation metrics). */
  metrics: Metrics & { conversations?: ConversationMetrics };
}

export interface SweepFile {
  param: string;
  params: ParamRange[];
  policy: string;
  points: SweepFilePoint[];
}

/** Writes DIR/sweep.json atomically; returns its path. */
export async function writeSweep(dir: string, sweep: SweepFile): Promise<string> {
  const path = join(resolve(dir), 'sweep.json');
  await fileOp('write', path, () => writeFileAtomic(path, `${JSON.stringify(sweep, null, 2)}\n`));
  return path;
}
