/**
 * The middleware's settings, checked where they enter: `gtalignMiddleware(options)` when the model is
 * wrapped, and `providerOptions.gtalign` at each call. An app written in JavaScript, or one whose settings
 * come from a file, gets an error naming the setting and what it may be, instead of a typo or a wrong
 * value that is silently not applied (a misspelt `policy` would run the turn unsteered).
 */
import { TurnError } from '../assistant/errors.js';
import type { AnalysisMode } from '../assistant/turn.js';
import { isSelectionRuleName, SELECTION_RULES } from '../game/select.js';
import { describeValue, SteeringError } from '../steering/errors.js';
import type { SteeringPolicy } from '../steering/policy.js';
import { resolvePolicy } from '../steering/presets.js';
import { parseProfile } from '../steering/profile.js';

/** What the text of a turn comes with: nothing, the whole chain, or the reasoning apart (middleware.ts). */
export type ReasoningOption = boolean | 'separate';

/** What `providerOptions.gtalign` of a call may set. */
export interface GtalignCallOptions {
  policy?: SteeringPolicy;
  analysis?: AnalysisMode;
  reasoning?: ReasoningOption;
}

const CALL_KEYS = ['policy', 'analysis', 'reasoning'] as const;
/** Every option of `gtalignMiddleware` (GtalignMiddlewareOptions and the specification version). */
const MIDDLEWARE_KEYS = [
  'policy',
  'profile',
  'analysis',
  'rule',
  'prefill',
  'maxTokens',
  'reasoning',
  'specificationVersion',
] as const;

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** A value as a message shows it: short, whatever was sent (describeValue cuts a long string). */
const shown = (v: unknown): string => describeValue(v);

const refuse = (message: string): never => {
  throw new TurnError('options', message);
};

/** A preset name or policy object, its problems said to be at `where`. */
function policyAt(value: unknown, where: string): SteeringPolicy {
  if (typeof value !== 'string' && !isRecord(value)) {
    refuse(`${where} must be a preset name or a policy object, got ${shown(value)}`);
  }
  try {
    return resolvePolicy(value);
  } catch (err) {
    if (err instanceof SteeringError) refuse(`${where}: ${err.message}`);
    throw err;
  }
}

function analysisAt(value: unknown, where: string): AnalysisMode {
  if (value !== 'model' && value !== 'solver')
    refuse(`${where} must be model or solver, got ${shown(value)}`);
  return value as AnalysisMode;
}

function reasoningAt(value: unknown, where: string): ReasoningOption {
  if (typeof value !== 'boolean' && value !== 'separate') {
    refuse(`${where} must be a boolean or 'separate', got ${shown(value)}`);
  }
  return value as ReasoningOption;
}

function unknownKeys(
  value: Record<string, unknown>,
  known: readonly string[],
  where: string,
  noun: string,
  hint: string,
): void {
  const unknown = Object.keys(value).filter((k) => !known.includes(k));
  if (unknown.length > 0) {
    refuse(
      `${where}: unknown ${noun}${unknown.length === 1 ? '' : 's'} ${unknown.slice(0, 5).map(shown).join(', ')}${unknown.length > 5 ? ` (and ${unknown.length - 5} more)` : ''}; known: ${known.join(', ')}${hint}`,
    );
  }
}

/** Reads a call's `providerOptions.gtalign`; anything wrong throws naming the field. */
export function readCallOptions(raw: unknown): GtalignCallOptions {
  const where = 'providerOptions.gtalign';
  if (raw === undefined) return {};
  if (!isRecord(raw)) return refuse(`${where} must be an object of settings, got ${shown(raw)}`);
  unknownKeys(raw, CALL_KEYS, where, 'setting', ' (the others are options of gtalignMiddleware)');
  const out: GtalignCallOptions = {};
  if (raw.policy !== undefined) out.policy = policyAt(raw.policy, `${where}.policy`);
  if (raw.analysis !== undefined) out.analysis = analysisAt(raw.analysis, `${where}.analysis`);
  if (raw.reasoning !== undefined) out.reasoning = reasoningAt(raw.reasoning, `${where}.reasoning`);
  return out;
}

/**
 * Checks the options of `gtalignMiddleware` when the model is wrapped, so a wrong one fails there and not
 * at the first call (or never, for one that is only read on some paths). Returns the resolved policy.
 */
export function checkMiddlewareOptions(options: unknown): SteeringPolicy {
  const where = 'gtalignMiddleware';
  if (!isRecord(options)) return refuse(`${where}: the options must be an object, got ${shown(options)}`);
  unknownKeys(options, MIDDLEWARE_KEYS, where, 'option', '');
  if (options.analysis !== undefined) analysisAt(options.analysis, `${where} option analysis`);
  if (options.reasoning !== undefined) reasoningAt(options.reasoning, `${where} option reasoning`);
  if (
    options.rule !== undefined &&
    !(typeof options.rule === 'string' && isSelectionRuleName(options.rule))
  ) {
    refuse(`${where} option rule must be one of ${SELECTION_RULES.join(', ')}, got ${shown(options.rule)}`);
  }
  const { maxTokens } = options;
  if (maxTokens !== undefined && !(Number.isSafeInteger(maxTokens) && (maxTokens as number) >= 1)) {
    refuse(`${where} option maxTokens must be an integer >= 1, got ${shown(maxTokens)}`);
  }
  const { prefill } = options;
  if (
    prefill !== undefined &&
    typeof prefill !== 'boolean' &&
    !(
      isRecord(prefill) &&
      isRecord(prefill.providerOptions) &&
      Object.values(prefill.providerOptions).every(isRecord)
    )
  ) {
    refuse(
      `${where} option prefill must be a boolean or { providerOptions: { <provider>: { … } } }, got ${shown(prefill)}`,
    );
  }
  const version = options.specificationVersion;
  if (version !== undefined && version !== 'v3' && version !== 'v4') {
    refuse(`${where} option specificationVersion must be v3 or v4, got ${shown(version)}`);
  }
  if (options.profile !== undefined) {
    try {
      parseProfile(options.profile);
    } catch (err) {
      if (err instanceof SteeringError) refuse(`${where} option profile: ${err.message}`);
      throw err;
    }
  }
  return policyAt(options.policy ?? 'none', `${where} option policy`);
}
