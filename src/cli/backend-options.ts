/**
 * From the backend, steering and generation settings (shared by `gtalign chat`, `serve` and the `eval`
 * commands) to what the library takes: the backend, and the options of a GTAlign turn.
 */
import { TurnError } from '../assistant/errors.js';
import { ModelNotFoundError, resolveModelPath } from '../assistant/models.js';
import { loadPromptTemplate } from '../assistant/prompt-source.js';
import type { AnalysisMode, ContinuationMode } from '../assistant/turn.js';
import type { PromptProfile, PromptTemplate } from '../chain/prompt-profile.js';
import type { Env } from '../config/env.js';
import { givenAsFlag, type LoadedOf } from '../config/load.js';
import type { BACKEND } from '../config/settings/backend.js';
import type { GENERATION } from '../config/settings/generation.js';
import type { PROMPT_SETTINGS, PromptProfileSetting } from '../config/settings/prompt.js';
import type { STEERING } from '../config/settings/steering.js';
import { type Source, settingAsGiven } from '../config/source.js';
import type { SelectionRuleName } from '../game/select.js';
import { DEFAULT_SPEC, type GameSpec } from '../game/spec.js';
import type { ProbeRecord } from '../llm/detect.js';
import { createLocalModel } from '../llm/local.js';
import { createOpenAIModel, type OpenAIVendor, resolveApiKey } from '../llm/openai.js';
import { type ChatModel, ChatModelError } from '../llm/types.js';
import { SteeringError } from '../steering/errors.js';
import { loadPolicy, loadProfileFile } from '../steering/load.js';
import type { SteeringPolicy } from '../steering/policy.js';
import type { ProfileInput } from '../steering/profile.js';
import type { CommandContext } from './command.js';
import { InputError, UsageError } from './errors.js';
import { type GivenSetting, givenSetting, settingConflict } from './setting-conflict.js';
import { detectVendorForRun } from './vendor-detection.js';

/** A validated backend choice (no I/O done yet). */
export type BackendChoice =
  | {
      kind: 'local';
      model?: string;
      /** Where the model path came from when not --model (`$GTALIGN_MODEL`, `backend.model in FILE`), for its errors. */
      modelGiven?: string;
      threads: number;
      gpu: boolean;
      contextSize?: number;
      seed?: number;
    }
  | {
      kind: 'openai';
      baseUrl: string;
      model: string;
      /** `auto`: probe the server once per process (src/llm/detect.ts). */
      vendor: OpenAIVendor | 'auto';
      apiKey?: string;
      /** Do not switch thinking off when continuing (see `keepThinking` in src/llm/openai.ts). */
      keepThinking?: boolean;
    };

/**
 * The engine's own flags with a server, which would ignore them: an error naming the flag given and
 * `server`, the setting that chose the server (the backend, or serve's upstream URL).
 */
export function checkEngineFlags(
  loaded: Pick<LoadedOf<typeof BACKEND.settings>, 'sources'>,
  server: GivenSetting,
): void {
  for (const name of ['context-size', 'threads', 'gpu'] as const) {
    if (givenAsFlag(loaded, name))
      throw settingConflict(
        [server],
        (s) =>
          `--${name} goes with --backend local, not ${s} (a server sets its own context, threads and GPU)`,
      );
  }
}

/** The openai backend as a message names it: `--backend openai`, or `the openai backend ($GTALIGN_BACKEND)`. */
export function openaiBackendAsGiven(source: Source): string {
  return source.kind === 'env' || source.kind === 'file'
    ? `the openai backend (${settingAsGiven('backend', 'backend.kind', source)})`
    : '--backend openai';
}

/**
 * The backend the settings choose. `seed` goes to the local engine as its default seed. A server's URL or
 * kind given as a flag with the local backend is a mistake; from a settings file or the environment it is
 * a default for when the server is used, and is left aside.
 */
export function backendChoice(loaded: LoadedOf<typeof BACKEND.settings>, seed?: number): BackendChoice {
  const v = loaded.values;
  const backend = givenSetting(loaded, 'backend', 'backend.kind', true);
  if (v.backend === 'local') {
    const given = (['base-url', 'vendor', 'keep-thinking'] as const).filter((n) => givenAsFlag(loaded, n));
    if (given.length > 0) {
      const flags = given.map((n) => `--${n}`).join(', ');
      throw settingConflict(
        [backend],
        (b) => `${flags} ${given.length === 1 ? 'goes' : 'go'} with --backend openai, not ${b}`,
      );
    }
    const from = loaded.sources.model;
    return {
      kind: 'local',
      ...(v.model === undefined || v.model === '' ? {} : { model: v.model }),
      ...(from.kind === 'env' || from.kind === 'file'
        ? { modelGiven: settingAsGiven('model', 'backend.model', from) }
        : {}),
      threads: v.threads,
      gpu: v.gpu,
      ...(v['context-size'] === undefined ? {} : { contextSize: v['context-size'] }),
      ...(seed === undefined ? {} : { seed }),
    };
  }
  checkEngineFlags(loaded, backend);
  // $GTALIGN_MODEL names the local GGUF file; a server needs its own model name.
  const model = loaded.sources.model.kind === 'env' ? undefined : v.model;
  if (model === undefined || model === '') {
    const what = openaiBackendAsGiven(loaded.sources.backend);
    throw settingConflict([backend], () => `${what} needs --model NAME (the served model)`);
  }
  return {
    kind: 'openai',
    baseUrl: v['base-url'],
    model,
    vendor: v.vendor,
    ...(v['api-key'] === undefined ? {} : { apiKey: v['api-key'] }),
    ...(v['keep-thinking'] ? { keepThinking: true } : {}),
  };
}

/** What a backend is, for a run's config: the kind, the model (a GGUF path or a served name), where. */
export interface BackendDescription {
  kind: 'local' | 'openai';
  model: string;
  baseUrl?: string;
  /** The model's weights are random (the offline model of `gtalign models tiny`): its text means nothing. */
  randomWeights?: true;
  /** The server kind used: given, or detected. */
  vendor?: OpenAIVendor;
  /** How the kind was chosen: `detected` (with the probe's reason and probes) or `given` (--vendor). */
  vendorSource?: 'given' | 'detected';
  /** The detection's reason (detected only). */
  detection?: { reason: string; probes: ProbeRecord[] };
}

/** Said wherever the offline model's text is shown or used: it is noise. */
export const RANDOM_WEIGHTS_NOTE =
  "this model has RANDOM weights (the offline model of 'gtalign models tiny'): its text means nothing";

/** One line saying which backend runs and why: `backend: detected llamacpp at URL (GET /props …)`. */
export function backendLine(description: BackendDescription): string {
  if (description.kind === 'local') {
    const random = description.randomWeights ? ' (RANDOM weights: its text means nothing)' : '';
    return `backend: local engine with ${description.model}${random}`;
  }
  if (description.vendorSource === 'detected' && description.detection !== undefined) {
    return `backend: detected ${description.vendor} at ${description.baseUrl} (${description.detection.reason})`;
  }
  return `backend: ${description.vendor} at ${description.baseUrl} (given with --vendor, not probed)`;
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
      ...(choice.contextSize === undefined ? {} : { contextSize: choice.contextSize }),
      ...(choice.seed === undefined ? {} : { seed: choice.seed }),
    }).catch((err: unknown) => {
      // A path that cannot be opened, named by a variable or the settings file: say which.
      if (choice.modelGiven !== undefined && err instanceof ChatModelError && err.message.includes(path))
        throw new ChatModelError(`${choice.modelGiven}: ${err.message}`, err.details);
      throw err;
    });
    // A run made with the offline model says so in its config.json.
    const random = model.randomWeights === true ? { randomWeights: true as const } : {};
    return { model, description: { kind: 'local', model: path, ...random } };
  }
  const keys = { env, ...(choice.apiKey === undefined ? {} : { apiKey: choice.apiKey }) };
  const detection =
    choice.vendor === 'auto'
      ? await detectVendorForRun(env, { baseUrl: choice.baseUrl, apiKey: resolveApiKey(keys) })
      : undefined;
  const vendor = detection?.vendor ?? (choice.vendor as OpenAIVendor);
  const model = createOpenAIModel({
    baseUrl: choice.baseUrl,
    model: choice.model,
    vendor,
    ...keys,
    ...(choice.keepThinking ? { keepThinking: true } : {}),
    ...(detection === undefined ? {} : { detection }),
    ...extra,
  });
  const description: BackendDescription = {
    kind: 'openai',
    model: choice.model,
    baseUrl: choice.baseUrl,
    vendor,
    vendorSource: detection === undefined ? 'given' : 'detected',
    ...(detection === undefined ? {} : { detection: { reason: detection.reason, probes: detection.probes } }),
  };
  return { model, description };
}

/** The steering and generation settings of one GTAlign turn (no I/O done yet). */
export interface TurnFlags {
  policyRef: string;
  /** Where the policy was named when not by --policy (`$GTALIGN_POLICY`, `steering.policy in FILE`), for its errors. */
  policyFrom?: string;
  profileFile?: string;
  rule: SelectionRuleName;
  analysis: AnalysisMode;
  continuation: ContinuationMode;
  maxTokens: number;
  maxChars?: number;
  constrain: boolean;
  temperature?: number;
  seed?: number;
  /** Stage 1's prompt: gtalign's wording, a trained layout (from `promptFrom`), or each eval row's own. */
  prompt: PromptProfileSetting;
  /** The data file or template the trained layout is read from. */
  promptFrom?: string;
}

/**
 * Stage 1's prompt from the prompt settings. `command` sets the default: `gtalign` for chat and serve,
 * `row` for the eval commands; `--prompt-from` alone means `trained`. A `row` from a settings file or the
 * environment is an eval default and is left aside by chat and serve; as a flag there it is a mistake.
 */
function promptChoice(
  loaded: LoadedOf<typeof PROMPT_SETTINGS.settings>,
  command: 'chat' | 'eval',
): Pick<TurnFlags, 'prompt' | 'promptFrom'> {
  const v = loaded.values;
  let named = v.prompt;
  if (named === 'row' && command === 'chat') {
    if (givenAsFlag(loaded, 'prompt')) {
      throw new UsageError("--prompt row goes with eval run and eval sweep (each row's own prompt)");
    }
    named = undefined;
  }
  const from = v['prompt-from'] === '' ? undefined : v['prompt-from'];
  const prompt = named ?? (from !== undefined ? 'trained' : command === 'chat' ? 'gtalign' : 'row');
  const profile = givenSetting(loaded, 'prompt', 'prompt.profile', true);
  if (prompt === 'trained') {
    if (from === undefined) {
      throw settingConflict([profile], (p) => `${p} needs --prompt-from FILE (a data file or a template)`);
    }
    return { prompt, promptFrom: from };
  }
  if (from !== undefined && givenAsFlag(loaded, 'prompt-from')) {
    throw settingConflict([profile], (p) => `--prompt-from goes with --prompt trained, not ${p}`);
  }
  return { prompt };
}

export function turnFlags(
  loaded: LoadedOf<
    [...typeof STEERING.settings, ...typeof GENERATION.settings, ...typeof PROMPT_SETTINGS.settings]
  >,
  command: 'chat' | 'eval' = 'chat',
): TurnFlags {
  const v = loaded.values;
  return {
    ...promptChoice(loaded, command),
    policyRef: v.policy,
    ...(loaded.sources.policy.kind === 'env' || loaded.sources.policy.kind === 'file'
      ? { policyFrom: settingAsGiven('policy', 'steering.policy', loaded.sources.policy) }
      : {}),
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

/** What the settings name, loaded: the policy, the action-profile overrides, the trained prompt layout. */
export interface LoadedSteering {
  policy: SteeringPolicy;
  profile?: ProfileInput;
  /** The layout `--prompt-from` names (with `--prompt trained`). */
  promptTemplate?: PromptTemplate;
}

/** Loads the policy (preset or file), the profile overrides and the trained prompt layout the settings name. */
export async function loadSteering(
  flags: Pick<TurnFlags, 'policyRef' | 'profileFile' | 'policyFrom'> &
    Partial<Pick<TurnFlags, 'prompt' | 'promptFrom'>>,
): Promise<LoadedSteering> {
  const policy = await loadPolicy(flags.policyRef).catch((err: unknown) => {
    // A preset or file named by a variable or the settings file: say which, the user may not know it is set.
    if (err instanceof SteeringError && flags.policyFrom !== undefined)
      throw new InputError(`${flags.policyFrom}: ${err.message}`);
    throw err;
  });
  const promptTemplate =
    flags.prompt === 'trained' && flags.promptFrom !== undefined
      ? await loadPromptTemplate(flags.promptFrom)
      : undefined;
  return {
    policy,
    ...(flags.profileFile === undefined ? {} : { profile: await loadProfileFile(flags.profileFile) }),
    ...(promptTemplate === undefined ? {} : { promptTemplate }),
  };
}

/** The prompt profile of a turn; undefined for `row` (eval's default: each row's own prompt). */
function promptProfileOf(flags: TurnFlags, steering: LoadedSteering): PromptProfile | undefined {
  if (flags.prompt === 'gtalign') return { profile: 'gtalign' };
  if (flags.prompt === 'trained') {
    if (steering.promptTemplate === undefined) {
      throw new UsageError('--prompt trained needs --prompt-from FILE (a data file or a template)');
    }
    return { profile: 'trained', template: steering.promptTemplate };
  }
  return undefined;
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
  /** Stage 1's prompt profile; none for eval's `row` (each row's own prompt, the eval default). */
  prompt?: PromptProfile;
}

/** The options of a GTAlign turn that the steering and generation settings set (one mapping for every command). */
export function turnOptionsOf(flags: TurnFlags, steering: LoadedSteering): TurnSettings {
  const prompt = promptProfileOf(flags, steering);
  return {
    spec: DEFAULT_SPEC,
    ...(prompt === undefined ? {} : { prompt }),
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

/**
 * The backend made on first use (a command whose other tools need no model: `mcp`, `studio`). A failure is
 * reported as an input error and not kept, so the next call tries again.
 */
export function lazyBackend(
  choice: BackendChoice,
  ctx: Pick<CommandContext, 'env' | 'stderr'>,
  label: string,
): { model: () => Promise<ChatModel>; close: () => Promise<void> } {
  let pending: Promise<ChatModel> | undefined;
  const model = (): Promise<ChatModel> => {
    pending ??= createBackend(choice, ctx.env).then(
      (backend) => {
        ctx.stderr.write(`${label}: ${backendLine(backend.description)}\n`);
        return backend.model;
      },
      (err: unknown) => {
        pending = undefined;
        const reported = asInputError(err);
        throw reported instanceof Error ? reported : new InputError(String(err));
      },
    );
    return pending;
  };
  const close = async (): Promise<void> => {
    if (pending !== undefined) await pending.then((m) => m.close()).catch(() => {});
  };
  return { model, close };
}
