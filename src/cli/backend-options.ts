/**
 * From the backend, steering and generation settings (shared by `gtalign chat`, `serve` and the `eval`
 * commands) to what the library takes: the backend, and the options of a GTAlign turn.
 */
import { TurnError } from '../assistant/errors.js';
import { ModelNotFoundError, resolveModelPath } from '../assistant/models.js';
import type { AnalysisMode, ContinuationMode } from '../assistant/turn.js';
import type { Env } from '../config/env.js';
import { givenAsFlag, type LoadedOf } from '../config/load.js';
import type { BACKEND } from '../config/settings/backend.js';
import type { GENERATION } from '../config/settings/generation.js';
import type { STEERING } from '../config/settings/steering.js';
import type { SelectionRuleName } from '../game/select.js';
import { DEFAULT_SPEC, type GameSpec } from '../game/spec.js';
import { createLocalModel } from '../llm/local.js';
import { createOpenAIModel, type OpenAIVendor } from '../llm/openai.js';
import { type ChatModel, ChatModelError } from '../llm/types.js';
import { SteeringError } from '../steering/errors.js';
import { loadPolicy, loadProfileFile } from '../steering/load.js';
import type { SteeringPolicy } from '../steering/policy.js';
import type { ProfileInput } from '../steering/profile.js';
import { InputError, UsageError } from './errors.js';

/** A validated backend choice (no I/O done yet). */
export type BackendChoice =
  | { kind: 'local'; model?: string; threads: number; gpu: boolean; seed?: number }
  | { kind: 'openai'; baseUrl: string; model: string; vendor: OpenAIVendor; apiKey?: string };

/**
 * The backend the settings choose. `seed` goes to the local engine as its default seed. A server's URL or
 * kind given as a flag with the local backend is a mistake; from a settings file or the environment it is
 * a default for when the server is used, and is left aside.
 */
export function backendChoice(loaded: LoadedOf<typeof BACKEND.settings>, seed?: number): BackendChoice {
  const v = loaded.values;
  if (v.backend === 'local') {
    if (givenAsFlag(loaded, 'base-url') || givenAsFlag(loaded, 'vendor')) {
      throw new UsageError('--base-url and --vendor go with --backend openai');
    }
    return {
      kind: 'local',
      ...(v.model === undefined || v.model === '' ? {} : { model: v.model }),
      threads: v.threads,
      gpu: v.gpu,
      ...(seed === undefined ? {} : { seed }),
    };
  }
  // $GTALIGN_MODEL names the local GGUF file; a server needs its own model name.
  const model = loaded.sources.model.kind === 'env' ? undefined : v.model;
  if (model === undefined || model === '') {
    throw new UsageError('--backend openai needs --model NAME (the served model)');
  }
  return {
    kind: 'openai',
    baseUrl: v['base-url'],
    model,
    vendor: v.vendor,
    ...(v['api-key'] === undefined ? {} : { apiKey: v['api-key'] }),
  };
}

/** What a backend is, for a run's config: the kind, the model (a GGUF path or a served name), where. */
export interface BackendDescription {
  kind: 'local' | 'openai';
  model: string;
  baseUrl?: string;
  vendor?: OpenAIVendor;
}

/** Builds the backend (loads the local model, or makes the HTTP client). */
export async function createBackend(
  choice: BackendChoice,
  env: Env,
  extra: { timeoutMs?: number } = {},
): Promise<{ model: ChatModel; description: BackendDescription }> {
  if (choice.kind === 'local') {
    const { path } = await resolveModelPath({
      env,
      ...(choice.model === undefined ? {} : { model: choice.model }),
    });
    const model = await createLocalModel({
      modelPath: path,
      threads: choice.threads,
      gpu: choice.gpu ? 'auto' : false,
      ...(choice.seed === undefined ? {} : { seed: choice.seed }),
    });
    return { model, description: { kind: 'local', model: path } };
  }
  const model = createOpenAIModel({
    baseUrl: choice.baseUrl,
    model: choice.model,
    vendor: choice.vendor,
    env,
    ...(choice.apiKey === undefined ? {} : { apiKey: choice.apiKey }),
    ...extra,
  });
  return {
    model,
    description: { kind: 'openai', model: choice.model, baseUrl: choice.baseUrl, vendor: choice.vendor },
  };
}

/** The steering and generation settings of one GTAlign turn (no I/O done yet). */
export interface TurnFlags {
  policyRef: string;
  profileFile?: string;
  rule: SelectionRuleName;
  analysis: AnalysisMode;
  continuation: ContinuationMode;
  maxTokens: number;
  maxChars?: number;
  constrain: boolean;
  temperature?: number;
  seed?: number;
}

export function turnFlags(
  loaded: Pick<LoadedOf<[...typeof STEERING.settings, ...typeof GENERATION.settings]>, 'values'>,
): TurnFlags {
  const v = loaded.values;
  return {
    policyRef: v.policy,
    ...(v.profile === undefined ? {} : { profileFile: v.profile }),
    rule: v.rule,
    analysis: v.analysis,
    continuation: v.continuation,
    maxTokens: v['max-tokens'],
    ...(v['max-chars'] === undefined ? {} : { maxChars: v['max-chars'] }),
    constrain: !v['no-grammar'],
    ...(v.temperature === undefined ? {} : { temperature: v.temperature }),
    ...(v.seed === undefined ? {} : { seed: v.seed }),
  };
}

/** Loads the policy (preset or file) and the profile overrides the settings name. */
export async function loadSteering(
  flags: Pick<TurnFlags, 'policyRef' | 'profileFile'>,
): Promise<{ policy: SteeringPolicy; profile?: ProfileInput }> {
  const policy = await loadPolicy(flags.policyRef);
  if (flags.profileFile === undefined) return { policy };
  return { policy, profile: await loadProfileFile(flags.profileFile) };
}

/** The options of a GTAlign turn that the steering and generation settings set; the proxy takes them too. */
export interface TurnSettings {
  spec: GameSpec;
  policy: SteeringPolicy;
  profile?: ProfileInput;
  rule: SelectionRuleName;
  analysis: AnalysisMode;
  continuation: ContinuationMode;
  constrain: boolean;
  grammar?: { maxChars: number };
  maxTokens: number;
  temperature?: number;
  seed?: number;
}

/** The options of a GTAlign turn that the steering and generation settings set (one mapping for every command). */
export function turnOptionsOf(
  flags: TurnFlags,
  steering: { policy: SteeringPolicy; profile?: ProfileInput },
): TurnSettings {
  return {
    spec: DEFAULT_SPEC,
    policy: steering.policy,
    ...(steering.profile === undefined ? {} : { profile: steering.profile }),
    rule: flags.rule,
    analysis: flags.analysis,
    continuation: flags.continuation,
    constrain: flags.constrain,
    ...(flags.maxChars === undefined ? {} : { grammar: { maxChars: flags.maxChars } }),
    maxTokens: flags.maxTokens,
    ...(flags.temperature === undefined ? {} : { temperature: flags.temperature }),
    ...(flags.seed === undefined ? {} : { seed: flags.seed }),
  };
}

/** Errors a user can fix (a model file, a policy file, a server) become one clear line and exit 1. */
export function asInputError(err: unknown): unknown {
  if (
    err instanceof SteeringError ||
    err instanceof ModelNotFoundError ||
    err instanceof ChatModelError ||
    err instanceof TurnError
  ) {
    return new InputError(err.message);
  }
  return err;
}
