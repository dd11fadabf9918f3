/**
 * Conversations with simulated users (`gtalign eval run --turns N`): how many assistant turns, which
 * personas play the user, which model plays them, and the discount of the conversation's welfare.
 */
import { PRESET_NAMES } from '../../steering/preset-names.js';
import { group, setting } from '../setting.js';
import {
  httpUrl,
  integer,
  modelName,
  nameOrPath,
  number,
  oneOf,
  path,
  positiveInt,
  texts,
} from '../value-types.js';
import { VENDOR_CHOICES } from './backend.js';

export const TURNS = setting({
  name: 'turns',
  key: 'sim.turns',
  type: positiveInt({ max: 64 }),
  arg: 'N',
  help:
    'make each row a conversation of at most N assistant turns: after a turn\n' +
    'that asks something, a simulated user replies (see --persona)',
});

export const PERSONA = setting({
  name: 'persona',
  key: 'sim.persona',
  type: texts({ commas: true }),
  arg: 'NAME',
  help:
    'who plays the user (repeat, or comma-separated): cooperative, terse,\n' +
    'verbose, impatient, confused, or one of --persona-file; eval runs each row\n' +
    'once per persona; the look-ahead rolls out each sample once per persona\n' +
    'and takes the mean reward',
  defaultText: 'cooperative',
});

export const PERSONA_FILE = setting({
  name: 'persona-file',
  key: 'sim.personaFile',
  type: path(),
  arg: 'FILE',
  help: 'a JSON file of more personas (see the README: Conversations with simulated users)',
});

export const USER_BACKEND = setting({
  name: 'user-backend',
  key: 'sim.backend',
  type: oneOf(['local', 'openai']),
  arg: 'local|openai',
  help: 'the model that plays the user: local GGUF or an OpenAI-compatible server',
  defaultText: 'the assistant backend',
});

export const USER_MODEL = setting({
  name: 'user-model',
  key: 'sim.model',
  type: modelName(),
  arg: 'PATH|NAME',
  help: "local: a GGUF file; openai: the served model's name",
  defaultText: 'the assistant model',
});

export const USER_BASE_URL = setting({
  name: 'user-base-url',
  key: 'sim.baseUrl',
  type: httpUrl(),
  arg: 'URL',
  help: 'openai: URL of the server that plays the user',
  defaultText: '--base-url',
});

export const USER_VENDOR = setting({
  name: 'user-vendor',
  key: 'sim.vendor',
  type: oneOf(VENDOR_CHOICES),
  default: 'openai',
  arg: 'NAME',
  help: 'openai: server kind of --user-base-url (the user needs no continuation,\nso the default skips the probe)',
});

export const USER_MAX_TOKENS = setting({
  name: 'user-max-tokens',
  key: 'sim.maxTokens',
  type: positiveInt(),
  default: 256,
  arg: 'N',
  help: "token limit of one simulated user's reply",
});

export const USER_TEMPERATURE = setting({
  name: 'user-temperature',
  key: 'sim.temperature',
  type: number({ min: 0 }),
  default: 0,
  arg: 'X',
  help: 'sampling temperature of the simulated user',
});

export const USER_SEED = setting({
  name: 'user-seed',
  key: 'sim.seed',
  type: integer({ min: 0 }),
  default: 0,
  arg: 'N',
  help: 'seed of the simulated users: which meaning each holds, follow-up choices,\nsampling',
});

export const DISCOUNT = setting({
  name: 'discount',
  key: 'sim.discount',
  type: number({ min: 0, max: 1 }),
  default: 0.9,
  arg: 'G',
  help: "discount γ of the conversation's welfare: Σ γ^(t-1) · W_t over assistant turns",
});

export const SIM = group('Simulated users', [
  TURNS,
  PERSONA,
  PERSONA_FILE,
  USER_BACKEND,
  USER_MODEL,
  USER_BASE_URL,
  USER_VENDOR,
  USER_MAX_TOKENS,
  USER_TEMPERATURE,
  USER_SEED,
  DISCOUNT,
]);

/*
 * The look-ahead reward of `gtalign reward score`/`reward serve --lookahead K` (src/eval/lookahead.ts):
 * each sample's turn is followed by K simulated future turns (the user above, the policy below), and its
 * reward is R = (1 − λ)·W_0 + λ·γ^T·W_T (T future turns taken; R = W_0 when T = 0).
 */

export const LOOKAHEAD = setting({
  name: 'lookahead',
  key: 'lookahead.turns',
  type: integer({ min: 0, max: 16 }),
  default: 0,
  arg: 'K',
  help:
    'score each turn by K simulated future turns (0: off): the simulated user\n' +
    'replies, the policy (--policy-url) answers; R = (1-λ)·W_0 + λ·γ^T·W_T',
});

export const LOOKAHEAD_WEIGHT = setting({
  name: 'lookahead-weight',
  key: 'lookahead.weight',
  type: number({ min: 0, max: 1 }),
  default: 0.5,
  arg: 'λ',
  help: "weight λ of the conversation's outcome W_T in the look-ahead reward",
});

export const LOOKAHEAD_DISCOUNT = setting({
  name: 'lookahead-discount',
  key: 'lookahead.discount',
  type: number({ min: 0, max: 1 }),
  default: 0.9,
  arg: 'G',
  help: 'discount γ per future turn in the look-ahead reward (γ^T)',
});

export const LOOKAHEAD_CONCURRENCY = setting({
  name: 'lookahead-concurrency',
  key: 'lookahead.concurrency',
  type: positiveInt(),
  default: 8,
  arg: 'N',
  help: 'look-ahead rollouts in flight at once (reward serve: over all requests)',
});

export const LOOKAHEAD_CACHE = setting({
  name: 'lookahead-cache',
  key: 'lookahead.cacheDir',
  type: path(),
  arg: 'DIR',
  help: 'folder of finished rollouts, keyed by content: a repeated sample costs no call',
  defaultText: 'this process only',
});

export const POLICY_URL = setting({
  name: 'policy-url',
  key: 'lookahead.policyUrl',
  type: httpUrl(),
  arg: 'URL',
  help: 'OpenAI-compatible URL of the policy that takes the future turns',
});

export const POLICY_MODEL = setting({
  name: 'policy-model',
  key: 'lookahead.policyModel',
  type: modelName(),
  arg: 'NAME',
  help: "the policy's served model name",
});

export const POLICY_VENDOR = setting({
  name: 'policy-vendor',
  key: 'lookahead.policyVendor',
  type: oneOf(VENDOR_CHOICES),
  default: 'auto',
  arg: 'NAME',
  help: 'server kind of --policy-url (auto: probe it once)',
});

export const LOOKAHEAD_PRICING = setting({
  name: 'lookahead-pricing',
  key: 'lookahead.pricing',
  type: nameOrPath(PRESET_NAMES),
  default: 'none',
  arg: 'NAME|FILE',
  help:
    "pricing policy that steers the policy's future turns, as --policy steers\n" +
    'gtalign serve and eval run: a preset or a JSON file (none: unsteered)',
});

export const LOOKAHEAD_SETTINGS = [
  LOOKAHEAD,
  LOOKAHEAD_WEIGHT,
  LOOKAHEAD_DISCOUNT,
  LOOKAHEAD_CONCURRENCY,
  LOOKAHEAD_CACHE,
  POLICY_URL,
  POLICY_MODEL,
  POLICY_VENDOR,
  LOOKAHEAD_PRICING,
] as const;

/** The simulated user's settings as `reward score --lookahead` takes them (same keys as `eval run`). */
export const LOOKAHEAD_USER = group('Look-ahead user', [
  PERSONA,
  PERSONA_FILE,
  { ...USER_MODEL, defaultText: '--policy-model' },
  { ...USER_BASE_URL, defaultText: '--policy-url' },
  USER_VENDOR,
  USER_MAX_TOKENS,
  USER_TEMPERATURE,
  USER_SEED,
]);
