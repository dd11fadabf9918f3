/**
 * `--lookahead K` of `gtalign reward score` and `gtalign reward serve`: the flags, the policy and the
 * simulated user they name, and the scorer of src/eval/lookahead.ts, set up the same way for both, so
 * that the same flags give the same numbers.
 */
import { constants } from 'node:fs';
import { access, mkdir } from 'node:fs/promises';
import type { Env } from '../config/env.js';
import { givenAsFlag, type Loaded } from '../config/load.js';
import { type Group, group, type ValuesOf } from '../config/setting.js';
import { LOOKAHEAD_SETTINGS, LOOKAHEAD_USER } from '../config/settings/sim.js';
import type { LookaheadScorer } from '../eval/lookahead.js';
import { fsFailureReason } from '../io/fs-reason.js';
import type { loadPolicy } from '../steering/load.js';
import type { createBackend } from './backend-options.js';
import { InputError } from './errors.js';
import { givenSetting, settingConflict } from './setting-conflict.js';

/** The look-ahead settings as a group of their own (`reward serve` lists them so). */
export const LOOKAHEAD = group('Look-ahead reward', LOOKAHEAD_SETTINGS);

export type LookaheadValues = ValuesOf<readonly [Group<typeof LOOKAHEAD_SETTINGS>, typeof LOOKAHEAD_USER]>;

/** The flags that mean nothing without `--lookahead K` (K ≥ 1). */
const LOOKAHEAD_ONLY = [
  ...LOOKAHEAD_SETTINGS.map((s) => s.name).filter((n) => n !== 'lookahead'),
  ...LOOKAHEAD_USER.settings.map((s) => s.name),
] as const;

/**
 * Look-ahead or simulated-user flags without `--lookahead K`, or a look-ahead without its policy server:
 * an error naming each setting where it was given, before any file or server is opened.
 */
export function checkLookaheadFlags(loaded: Pick<Loaded<LookaheadValues>, 'values' | 'sources'>): void {
  const v = loaded.values;
  const lookahead = givenSetting(loaded, 'lookahead', 'lookahead.turns', true);
  if (v.lookahead > 0) {
    const missing = [
      v['policy-url'] === undefined ? '--policy-url URL' : undefined,
      v['policy-model'] === undefined ? '--policy-model NAME' : undefined,
    ].filter((m) => m !== undefined);
    if (missing.length > 0) throw settingConflict([lookahead], (l) => `${l} needs ${missing.join(' and ')}`);
    return;
  }
  const given = LOOKAHEAD_ONLY.filter((n) => givenAsFlag(loaded, n));
  if (given.length === 0) return;
  const list = given.map((f) => `--${f}`).join(', ');
  // A look-ahead of 0 from the settings file or the environment is named: the user typed no --lookahead.
  const not = lookahead.source.kind === 'default' ? () => '' : (l: string) => `, not ${l}`;
  throw settingConflict(
    [lookahead],
    (l) => `${list} ${given.length === 1 ? 'goes' : 'go'} with --lookahead K (K ≥ 1)${not(l)}`,
  );
}

export interface LookaheadSetup {
  scorer: LookaheadScorer;
  /** What the server's start-up line and the summary say about it. */
  description: string;
  close(): Promise<void>;
}

/** Makes the `--lookahead-cache` folder if need be and checks that rollouts can be written into it. */
async function prepareCacheDir(dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true });
    await access(dir, constants.W_OK | constants.X_OK);
  } catch (err) {
    const reason = fsFailureReason(err) ?? (err as Error).message;
    throw new InputError(`--lookahead-cache ${dir}: cannot keep rollouts there: ${reason}`);
  }
}

/** The policy and the simulated user of `--lookahead K`, and the scorer. */
export async function lookaheadSetup(
  values: LookaheadValues,
  env: Env,
  batch: ConstructorParameters<typeof LookaheadScorer>[0]['batch'],
): Promise<LookaheadSetup> {
  const policyUrl = values['policy-url'];
  const policyModel = values['policy-model'];
  // checkLookaheadFlags refused this before anything was opened.
  if (policyUrl === undefined || policyModel === undefined)
    throw new Error('the look-ahead needs a policy URL and model');
  // The simulator, the policies and the backends load only for a look-ahead run: a run without one
  // (and --help) starts without them.
  const [
    { LookaheadScorer: Scorer },
    { loadPersonaFile, PersonaError, resolvePersonas },
    { SteeringError },
    { loadPolicy },
    { createBackend },
  ] = await Promise.all([
    import('../eval/lookahead.js'),
    import('../sim/persona.js'),
    import('../steering/errors.js'),
    import('../steering/load.js'),
    import('./backend-options.js'),
  ]);
  let persona: ReturnType<typeof resolvePersonas>;
  try {
    const extra = values['persona-file'] ? await loadPersonaFile(values['persona-file']) : [];
    persona = resolvePersonas(values.persona ?? [], extra);
  } catch (err) {
    if (err instanceof PersonaError) throw new InputError(err.message);
    throw err;
  }
  let pricing: Awaited<ReturnType<typeof loadPolicy>> | undefined;
  try {
    pricing =
      values['lookahead-pricing'] === 'none' ? undefined : await loadPolicy(values['lookahead-pricing']);
  } catch (err) {
    if (err instanceof SteeringError) throw new InputError(`--lookahead-pricing: ${err.message}`);
    throw err;
  }
  const cacheDir = values['lookahead-cache'];
  // Made and checked now: found unusable at the first write, it would fail every sample after its calls.
  if (cacheDir !== undefined) await prepareCacheDir(cacheDir);
  const policy = await createBackend(
    { kind: 'openai', baseUrl: policyUrl, model: policyModel, vendor: values['policy-vendor'] },
    env,
  );
  const userModel = values['user-model'] ?? policyModel;
  let user: Awaited<ReturnType<typeof createBackend>>;
  try {
    user = await createBackend(
      {
        kind: 'openai',
        baseUrl: values['user-base-url'] ?? policyUrl,
        model: userModel,
        vendor: values['user-vendor'],
      },
      env,
    );
  } catch (err) {
    await policy.model.close();
    throw err;
  }
  const scorer = new Scorer({
    horizon: values.lookahead,
    weight: values['lookahead-weight'],
    discount: values['lookahead-discount'],
    policy: policy.model,
    user: user.model,
    personas: persona,
    seed: values['user-seed'],
    userMaxTokens: values['user-max-tokens'],
    userTemperature: values['user-temperature'],
    concurrency: values['lookahead-concurrency'],
    ...(cacheDir === undefined ? {} : { cacheDir }),
    ...(pricing === undefined ? {} : { policySteering: { policy: pricing } }),
    batch,
  });
  return {
    scorer,
    description:
      `look-ahead K = ${values.lookahead}, λ = ${values['lookahead-weight']}, γ = ${values['lookahead-discount']}, ` +
      `policy ${policyModel}${pricing === undefined ? '' : ` steered by ${values['lookahead-pricing']}`}, user ${userModel} as ${persona.map((p) => p.name).join(', ')}` +
      `${persona.length > 1 ? ` (R: the mean over ${persona.length} personas)` : ''}, ` +
      `${values['lookahead-concurrency']} rollouts at once`,
    close: async () => {
      await Promise.all([policy.model.close(), user.model.close()]);
    },
  };
}
