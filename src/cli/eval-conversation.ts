/**
 * `gtalign eval run --turns N`: conversations with simulated users (src/sim/, src/eval/conversation-run.ts).
 * eval-run.ts loads the usual run inputs and hands them here when --turns is given.
 */
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Env } from '../config/env.js';
import { givenAsFlag, type LoadedOf } from '../config/load.js';
import type { BACKEND_KIND } from '../config/settings/backend.js';
import type { MODE } from '../config/settings/eval.js';
import { SIM } from '../config/settings/sim.js';
import type { DatasetRow } from '../data/row.js';
import { conversationTable } from '../eval/conversation-metrics.js';
import {
  type ConversationEvalResult,
  describeStep,
  evaluateConversations,
} from '../eval/conversation-run.js';
import { createProgress } from '../eval/progress.js';
import type { AssistantOptions } from '../eval/run.js';
import { CONFIG_FILE } from '../eval/store.js';
import type { TokenCounter } from '../eval/tokens.js';
import type { ChatModel } from '../llm/types.js';
import type { RewardConfig } from '../reward/config.js';
import { simulatorFingerprint } from '../sim/fingerprint.js';
import { loadPersonaFile, type Persona, PersonaError, resolvePersonas } from '../sim/persona.js';
import {
  type BackendChoice,
  type BackendDescription,
  createBackend,
  type LoadedSteering,
  type TurnFlags,
  turnOptionsOf,
} from './backend-options.js';
import type { OutputStream } from './command.js';
import { InputError, UsageError } from './errors.js';
import {
  judgedAgainNote,
  type Mode,
  metricsTable,
  outcome,
  type RunFlags,
  runConfig,
  runControl,
  scoringOf,
} from './eval-common.js';
import { writeOut } from './io.js';
import type { JudgeSetup } from './judge-options.js';
import { givenSetting, settingConflict } from './setting-conflict.js';

type SimLoaded = LoadedOf<typeof SIM.settings>;

/** What the sim checks read: the sim settings, and the backend and mode settings they may conflict with. */
type SimCheckLoaded = LoadedOf<[...typeof SIM.settings, typeof BACKEND_KIND, typeof MODE]>;

const SIM_FLAGS = SIM.settings.map((s) => s.name).filter((n) => n !== 'turns');

/**
 * Sim flags without --turns, --turns in raw mode, a user server's URL with a local user model, or a user
 * server without its URL or model: an error naming each setting where it was given, before any model
 * loads. `choice` is the assistant's backend, which the user's model defaults to.
 */
export function checkSimFlags(loaded: SimCheckLoaded, mode: Mode, choice: BackendChoice): void {
  const v = loaded.values;
  if (v.turns === undefined) {
    const given = SIM_FLAGS.filter((n) => givenAsFlag(loaded, n as keyof SimLoaded['values']));
    if (given.length > 0) throw new UsageError(`${given.map((f) => `--${f}`).join(', ')} go with --turns N`);
    return;
  }
  if (mode === 'raw') {
    throw settingConflict(
      [givenSetting(loaded, 'turns', 'sim.turns'), givenSetting(loaded, 'mode', 'eval.mode', true)],
      (turns, m) => `${turns} goes with --mode assistant, not ${m} (a GTAlign turn per assistant turn)`,
    );
  }
  // The user's model is the assistant's kind unless --user-backend says otherwise.
  const own = v['user-backend'] !== undefined;
  const kind = givenSetting(
    loaded,
    own ? 'user-backend' : 'backend',
    own ? 'sim.backend' : 'backend.kind',
    true,
  );
  const named = (k: string) => (own ? k : `the assistant's ${k}`);
  if ((v['user-backend'] ?? choice.kind) === 'local') {
    if (v['user-base-url'] !== undefined && givenAsFlag(loaded, 'user-base-url'))
      throw settingConflict(
        [kind],
        (k) => `--user-base-url goes with --user-backend openai, not ${named(k)}`,
      );
    return;
  }
  const missing = [
    v['user-base-url'] === undefined && choice.kind !== 'openai' ? '--user-base-url URL' : undefined,
    v['user-model'] === undefined && choice.kind !== 'openai' ? '--user-model NAME' : undefined,
  ].filter((m) => m !== undefined);
  if (missing.length > 0) throw settingConflict([kind], (k) => `${named(k)} needs ${missing.join(' and ')}`);
}

/** One conversation evaluation: where it goes and what it runs (a sweep point, or the run of `eval run`). */
export interface ConversationRunInput {
  label: string;
  /** The run folder. */
  out: string;
  flags: RunFlags;
  mode: Mode;
  turn: TurnFlags;
  /** The steering of the assistant's turns (a sweep point's policy). */
  steering: LoadedSteering;
  backend: { model: ChatModel; description: BackendDescription };
  generation: Record<string, unknown>;
  counter: TokenCounter;
  dataFiles: string[];
  rows: DatasetRow[];
  judge: JudgeSetup;
  reward: RewardConfig;
  signal: AbortSignal;
  /** Where progress and messages go. */
  stderr: OutputStream;
  /** More of config.json (a sweep point's value). */
  extra?: Record<string, unknown>;
}

export interface ConversationCommandInput extends Omit<ConversationRunInput, 'out'> {
  loaded: SimLoaded;
  /** The assistant's backend choice (threads and GPU of a local user model come from it). */
  choice: BackendChoice;
  env: Env;
  /** Where the metrics tables go. */
  stdout: OutputStream;
}

/** The simulated users of a command: personas and the model playing them (`close` frees a model of its own). */
export interface SimSetup {
  values: SimLoaded['values'];
  personas: Persona[];
  user: { model: ChatModel; owned: boolean; description: Record<string, unknown> };
  close(): Promise<void>;
}

async function personasOf(values: SimLoaded['values']): Promise<Persona[]> {
  try {
    const extra = values['persona-file'] ? await loadPersonaFile(values['persona-file']) : [];
    return resolvePersonas(values.persona ?? [], extra);
  } catch (err) {
    if (err instanceof PersonaError) throw new InputError(err.message);
    throw err;
  }
}

/** The model that plays the user: the assistant's own when nothing else is named. */
async function userBackend(
  input: Pick<ConversationCommandInput, 'loaded' | 'backend' | 'choice' | 'env'>,
): Promise<SimSetup['user']> {
  const v = input.loaded.values;
  const assistant = input.backend.description;
  const kind = v['user-backend'] ?? assistant.kind;
  if (kind === 'local') {
    const path = v['user-model'] ?? (assistant.kind === 'local' ? assistant.model : undefined);
    if (assistant.kind === 'local' && (path === undefined || resolve(path) === resolve(assistant.model))) {
      return {
        model: input.backend.model,
        owned: false,
        description: { kind, model: assistant.model, shared: true },
      };
    }
    const choice: BackendChoice = {
      kind: 'local',
      ...(path === undefined ? {} : { model: path }),
      threads: input.choice.kind === 'local' ? input.choice.threads : 1,
      gpu: input.choice.kind === 'local' ? input.choice.gpu : false,
    };
    const made = await createBackend(choice, input.env);
    return { model: made.model, owned: true, description: { kind, model: made.description.model } };
  }
  const baseUrl = v['user-base-url'] ?? assistant.baseUrl;
  const name = v['user-model'] ?? (assistant.kind === 'openai' ? assistant.model : undefined);
  if (baseUrl === undefined || name === undefined) {
    // checkSimFlags refused this before any model loaded.
    throw new Error('the user server needs a URL and a model name');
  }
  if (v['user-backend'] === undefined && v['user-model'] === undefined && v['user-base-url'] === undefined) {
    return { model: input.backend.model, owned: false, description: { kind, model: name, shared: true } };
  }
  const made = await createBackend(
    { kind: 'openai', baseUrl, model: name, vendor: v['user-vendor'] },
    input.env,
  );
  return {
    model: made.model,
    owned: true,
    description: { kind, model: name, vendor: made.description.vendor, baseUrl },
  };
}

/** The personas and the user's model of `--turns N` (the sim flags). */
export async function simSetup(
  input: Pick<ConversationCommandInput, 'loaded' | 'backend' | 'choice' | 'env'>,
): Promise<SimSetup> {
  const values = input.loaded.values;
  if (values.turns === undefined) throw new UsageError('--turns N is required for conversations');
  const personas = await personasOf(values);
  const user = await userBackend(input);
  return {
    values,
    personas,
    user,
    close: async () => {
      if (user.owned) await user.model.close();
    },
  };
}

/**
 * The simulator's fingerprint for config.json, so that `eval compare` tells runs made with different
 * simulators apart. A run started before gtalign recorded it resumes without it (its config.json goes on
 * saying nothing of the simulator, which `eval compare` reports as unknown) instead of being refused for a
 * field it never had.
 */
async function simulatorField(out: string, resume: boolean): Promise<{ simulator?: string }> {
  if (resume) {
    // No readable config.json: nothing to resume without the field (the run store says what is wrong).
    const saved: unknown = await readFile(join(out, CONFIG_FILE), 'utf8')
      .then((text) => JSON.parse(text) as unknown)
      .catch(() => undefined);
    const conversation = (saved as { generation?: { conversation?: unknown } } | undefined)?.generation
      ?.conversation;
    if (typeof conversation === 'object' && conversation !== null && !('simulator' in conversation))
      return {};
  }
  return { simulator: await simulatorFingerprint() };
}

/** Runs (or resumes) the conversations of one run folder, with progress on stderr; returns the result. */
export async function evaluateConversationRun(
  input: ConversationRunInput,
  sim: SimSetup,
): Promise<ConversationEvalResult> {
  const v = sim.values;
  const maxTurns = v.turns!;
  const { personas, user } = sim;
  const settings = turnOptionsOf(input.turn, input.steering);
  const options: AssistantOptions = { ...settings, prompt: settings.prompt ?? 'row' };
  const { baseUrl: userBaseUrl, shared, ...userKey } = user.description;
  const conversation = {
    turns: maxTurns,
    personas,
    user: { ...userKey, shared: shared === true },
    userMaxTokens: v['user-max-tokens'],
    userTemperature: v['user-temperature'],
    userSeed: v['user-seed'],
    discount: v.discount,
    ...(await simulatorField(input.out, input.flags.resume)),
  };
  const base = runConfig({
    flags: input.flags,
    out: input.out,
    dataFiles: input.dataFiles,
    mode: input.mode,
    backend: input.backend.description,
    generation: { ...input.generation, conversation },
    judge: input.judge,
    reward: input.reward,
    counter: input.counter,
    ...(input.extra === undefined ? {} : { extra: input.extra }),
  });
  const config = {
    ...base,
    runtime: { ...base.runtime, ...(userBaseUrl === undefined ? {} : { userBaseUrl }) },
  };
  const progress = input.flags.progress
    ? createProgress({ label: `${input.label}:`, stream: input.stderr })
    : undefined;
  const say = (text: string): void => {
    if (progress) progress.log(text);
    else input.stderr.write(`${text}\n`);
  };
  try {
    const result = await evaluateConversations({
      out: input.out,
      config,
      rows: input.rows,
      scoring: scoringOf(input.judge, input.reward),
      tokenCounter: input.counter,
      ...runControl(input.flags),
      signal: input.signal,
      assistant: { model: input.backend.model, options },
      sim: {
        personas,
        maxTurns,
        userModel: user.model,
        userMaxTokens: v['user-max-tokens'],
        userTemperature: v['user-temperature'],
        seed: v['user-seed'],
        discount: v.discount,
      },
      onStart: ({ total, resumed, truncatedBytes, store, rejudge }) => {
        const parts = [
          `${store.dir}: ${total} conversations (${personas.length} persona(s), at most ${maxTurns} turns)`,
        ];
        if (store.resumed) parts.push(`${resumed} already done`);
        if (rejudge.turns > 0) {
          parts.push(
            `${rejudge.turns} recorded turn(s) of ${rejudge.conversations} conversation(s) whose scoring failed to judge again`,
          );
        }
        if (truncatedBytes > 0) parts.push(`dropped a cut-off last line (${truncatedBytes} bytes)`);
        say(`${input.label}: ${parts.join(', ')}`);
      },
      onProgress: (p) => progress?.update(p),
      // The conversation's id (`ROW_ID~PERSONA`): with several personas the row alone does not say which.
      onFailure: (conversation, error) =>
        say(`${input.label}: ${conversation.id}: ${describeStep(conversation.step)}: ${error.message}`),
    });
    const { turns, scored, records } = result.rejudged;
    if (turns > 0) {
      say(
        judgedAgainNote(
          input.label,
          'recorded turn(s)',
          { judged: turns, scored },
          `; ${records} finished conversation record(s) superseded`,
        ),
      );
    }
    return result;
  } finally {
    progress?.finish();
  }
}

/** Runs the conversations of `eval run --turns N`; returns the exit code. */
export async function runConversations(input: ConversationCommandInput): Promise<number> {
  const sim = await simSetup(input);
  try {
    const result = await evaluateConversationRun({ ...input, out: input.flags.out }, sim);
    await writeOut(
      input.stdout,
      `${metricsTable(result.metrics)}\n\n${conversationTable(result.metrics.conversations)}\n`,
    );
    return outcome(input.label, result, input.stderr);
  } finally {
    await sim.close();
  }
}
