/**
 * From the judge and reward settings (shared by `gtalign reward score`, `reward serve` and the `eval`
 * commands) to the judge and the reward configuration.
 */
import type { Env } from '../config/env.js';
import { ConfigError } from '../config/errors.js';
import { givenAsFlag, type LoadedOf } from '../config/load.js';
import type { JUDGE_SETTINGS } from '../config/settings/judge.js';
import type { REWARD } from '../config/settings/reward.js';
import { describeSource, rank, type Source } from '../config/source.js';

import type { OpenAIVendor } from '../llm/dialect.js';
import { parseRewardConfig, type RewardConfig } from '../reward/config.js';
import type { Judge } from '../reward/judge.js';
import { InputError, UsageError } from './errors.js';
import { givenSetting, settingConflict } from './setting-conflict.js';

/** Where verdicts come from, as a run's config records it. */
export type JudgeDescription =
  | { kind: 'offline' }
  | {
      kind: 'live';
      url: string;
      model: string;
      /** The judge server's kind: given with --judge-vendor, or detected (then `detection` says why). */
      vendor?: OpenAIVendor;
      detection?: string;
    }
  | { kind: 'local'; model: string };

export interface JudgeSetup {
  /** The live judge; undefined with `--judge offline`. */
  judge: Judge | undefined;
  /** Frees what the judge holds (the local engine's model); call it when the command ends. */
  close(): Promise<void>;
  description: JudgeDescription;
  onJudgeError: 'skip' | 'fail';
  /** False with `--no-math-check`. */
  mathCheck: boolean;
}

/**
 * Whether verdicts come offline: `--judge offline` and a judge URL exclude each other when given at the
 * same level (both flags, both in the file); otherwise the later source wins.
 */
function offline(loaded: LoadedOf<typeof JUDGE_SETTINGS>): boolean {
  const { values: v, sources } = loaded;
  if (v.judge !== 'offline') return false;
  if (v['judge-url'] === undefined) return true;
  const a = sources.judge;
  const b = sources['judge-url'];
  if (rank(a) !== rank(b)) return rank(a) > rank(b);
  if (a.kind === 'flag') throw new UsageError('--judge offline and --judge-url exclude each other');
  throw new ConfigError(`${describeSource(a)}: the offline judge and a judge URL exclude each other`, a);
}

/**
 * Flags only a live judge reads: with the offline judge they would be ignored, so given as flags they are
 * a usage error, as `--threads` is with `--backend openai`. (`--no-cache`, `--no-math-check` and
 * `--on-judge-error` still mean something offline; from the environment or the settings file these are
 * a live judge's settings for other runs, left aside.)
 */
const LIVE_JUDGE_FLAGS = [
  'judge-backend',
  'judge-verdict-only',
  'judge-vendor',
  'judge-model',
  'judge-key-env',
  'judge-timeout',
  'judge-retries',
  'judge-backoff',
  'cache-dir',
] as const;

function refuseLiveJudgeFlags(loaded: LoadedOf<typeof JUDGE_SETTINGS>, concurrency: JudgeConcurrency): void {
  const given = LIVE_JUDGE_FLAGS.filter((name) => givenAsFlag(loaded, name)).map((name) => `--${name}`);
  if (concurrency.flag !== undefined) given.push(concurrency.flag);
  if (given.length === 0) return;
  const mode = givenSetting(loaded, 'judge', 'judge.mode');
  throw settingConflict(
    [mode],
    (m) =>
      `${m === '--judge' ? '--judge offline' : `the offline judge (${m})`} calls no judge, so ${given.join(', ')} would be ignored: drop ${given.length === 1 ? 'it' : 'them'}, or give --judge-url URL --judge-model NAME for a live judge`,
  );
}

/**
 * The judge's HTTP calls in flight, and `flag` (`--concurrency`) when the user typed it and nothing but
 * the judge reads it: with the offline judge it is refused as the other live-judge flags are.
 */
export interface JudgeConcurrency {
  value: number;
  flag?: string;
}

/** The judge concurrency of a command whose setting `name` only the judge reads. */
export function judgeConcurrencyOf<V>(
  loaded: { values: V; sources: { readonly [K in keyof V]: Source } },
  name: keyof V & string,
): JudgeConcurrency {
  const value = loaded.values[name] as number;
  return loaded.sources[name].kind === 'flag' ? { value, flag: `--${name}` } : { value };
}

/**
 * The judge the settings describe. `concurrency` is the judge's HTTP calls in flight (each command
 * names that setting its own way). One of `--judge offline` or `--judge-url` must be given.
 */
export async function judgeSetup(
  loaded: LoadedOf<typeof JUDGE_SETTINGS>,
  concurrency: JudgeConcurrency,
  env: Env,
  /** Told when the local judge's model has random weights (its verdicts mean nothing). */
  warn: (message: string) => void = () => {},
): Promise<JudgeSetup> {
  const v = loaded.values;
  const onJudgeError = v['on-judge-error'];
  const mathCheck = !v['no-math-check'];
  const nothing = async () => {};
  if (offline(loaded)) {
    refuseLiveJudgeFlags(loaded, concurrency);
    return { judge: undefined, close: nothing, description: { kind: 'offline' }, onJudgeError, mathCheck };
  }
  if (v['judge-backend'] === 'local') {
    const file = v['judge-model'];
    const local = givenSetting(loaded, 'judge-backend', 'judge.backend');
    const what = (l: string) =>
      l === '--judge-backend' ? '--judge-backend local' : `the local judge (${l})`;
    if (file === undefined) throw settingConflict([local], (l) => `${what(l)} needs --judge-model FILE.gguf`);
    // A judge URL from the settings file or the environment is the live judge's, for other runs: left aside.
    if (givenAsFlag(loaded, 'judge-url'))
      throw settingConflict([local], (l) => `${what(l)} takes no --judge-url`);
    // The judges' modules load only when a judge is used: an offline run starts without them.
    const { createLocalJudge } = await import('../reward/judge-local.js');
    const judge = await createLocalJudge({
      modelPath: file,
      // The engine has one sequence: calls run one at a time.
      concurrency: 1,
      timeoutMs: v['judge-timeout'],
      retry: { attempts: v['judge-retries'], baseDelayMs: v['judge-backoff'] },
      cacheDir: v['no-cache'] ? undefined : v['cache-dir'],
      verdictOnly: v['judge-verdict-only'],
    });
    if (judge.randomWeights === true)
      warn(
        "the judge's model has RANDOM weights (the offline model of 'gtalign models tiny'): its verdicts mean nothing",
      );
    return {
      judge,
      close: () => judge.close(),
      description: { kind: 'local', model: file },
      onJudgeError,
      mathCheck,
    };
  }
  const url = v['judge-url'];
  if (url === undefined) {
    throw new UsageError(
      'choose the verdicts: --judge offline (verdicts in the input) or --judge-url URL --judge-model NAME',
    );
  }
  const model = v['judge-model'];
  if (model === undefined) {
    throw settingConflict([givenSetting(loaded, 'judge-url', 'judge.url')], (u) =>
      u === '--judge-url' ? `${u} needs --judge-model` : `the judge URL (${u}) needs --judge-model`,
    );
  }
  const given = v['judge-vendor'];
  const [{ createJudge }, { resolveApiKey: resolveJudgeKey }, { detectVendorForRun }] = await Promise.all([
    import('../reward/judge.js'),
    import('../reward/judge-http.js'),
    import('./vendor-detection.js'),
  ]);
  const detection =
    given === 'auto'
      ? await detectVendorForRun(env, {
          baseUrl: url,
          apiKey: resolveJudgeKey({ apiKeyEnv: v['judge-key-env'], env }),
        })
      : undefined;
  const vendor = detection?.vendor ?? (given as OpenAIVendor);
  const judge = createJudge({
    baseUrl: url,
    model,
    vendor,
    apiKeyEnv: v['judge-key-env'],
    env,
    concurrency: concurrency.value,
    timeoutMs: v['judge-timeout'],
    retry: { attempts: v['judge-retries'], baseDelayMs: v['judge-backoff'] },
    cacheDir: v['no-cache'] ? undefined : v['cache-dir'],
  });
  const description: JudgeDescription = {
    kind: 'live',
    url,
    model,
    vendor,
    ...(detection === undefined ? {} : { detection: detection.reason }),
  };
  return { judge, close: nothing, description, onJudgeError, mathCheck };
}

/**
 * The reward configuration: the weights object (the settings file's "reward", or --reward-config FILE),
 * with --aggregate and --alpha over it when they come from a later source than the object.
 */
export function rewardConfigOf(loaded: LoadedOf<typeof REWARD.settings>): RewardConfig {
  const { values: v, sources } = loaded;
  const base: Record<string, unknown> = { ...v['reward-config'] };
  const aggregator: Record<string, unknown> = { ...(base.aggregator as Record<string, unknown> | undefined) };
  const object = rank(sources['reward-config']);
  if (rank(sources.aggregate) > object) aggregator.name = v.aggregate;
  if (rank(sources.alpha) > object) aggregator.alpha = v.alpha;
  const parsed = parseRewardConfig({ ...base, aggregator });
  if (!parsed.ok) {
    const where = describeSource(sources['reward-config']);
    throw new InputError(
      `reward configuration (${where}): ${parsed.errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`,
    );
  }
  return parsed.config;
}
