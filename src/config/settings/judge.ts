/** The judge: where verdicts come from (offline, or a live OpenAI-compatible judge) and how it is called. */
import { cacheFolder } from '../paths.js';
import { group, setting } from '../setting.js';
import { boolean, httpUrl, modelName, number, oneOf, path, positiveInt, text } from '../value-types.js';
import { VENDOR_CHOICES } from './backend.js';

export const JUDGE_MODE = setting({
  name: 'judge',
  key: 'judge.mode',
  type: oneOf(['offline']),
  arg: 'offline',
  help: "call no judge: verdicts come from the input (see above for what gets one);\na live judge's flags (--judge-model, --judge-timeout, --cache-dir, ...) are then refused",
});

export const JUDGE_URL = setting({
  name: 'judge-url',
  key: 'judge.url',
  type: httpUrl(),
  env: ['GTALIGN_JUDGE_URL'],
  arg: 'URL',
  help: 'OpenAI-compatible base URL of the judge, e.g. http://localhost:8000/v1',
});

export const JUDGE_VENDOR = setting({
  name: 'judge-vendor',
  key: 'judge.vendor',
  type: oneOf(VENDOR_CHOICES),
  default: 'auto',
  env: ['GTALIGN_JUDGE_VENDOR'],
  arg: 'NAME',
  help: `server kind of --judge-url: ${VENDOR_CHOICES.join(', ')}\n(auto: probe the server once)`,
});

export const JUDGE_MODEL = setting({
  name: 'judge-model',
  key: 'judge.model',
  type: modelName(),
  env: ['GTALIGN_JUDGE_MODEL'],
  arg: 'NAME',
  help: 'judge model name (with --judge-url)',
});

export const JUDGE_KEY_ENV = setting({
  name: 'judge-key-env',
  key: 'judge.keyEnv',
  type: text(),
  default: 'GTALIGN_JUDGE_API_KEY',
  arg: 'NAME',
  help: "environment variable with the judge's API key\n(left at the default, else $OPENAI_API_KEY)",
});

export const JUDGE_TIMEOUT = setting({
  name: 'judge-timeout',
  key: 'judge.timeout',
  type: positiveInt(),
  default: 120_000,
  arg: 'MS',
  help: 'timeout of one judge call',
});

export const JUDGE_RETRIES = setting({
  name: 'judge-retries',
  key: 'judge.retries',
  type: positiveInt(),
  default: 4,
  arg: 'N',
  help: 'attempts per verdict, the first included',
});

export const JUDGE_BACKOFF = setting({
  name: 'judge-backoff',
  key: 'judge.backoff',
  type: number({ min: 0 }),
  default: 500,
  arg: 'MS',
  help: "first retry's backoff cap; doubles per retry, full jitter",
});

export const JUDGE_CONCURRENCY = setting({
  name: 'judge-concurrency',
  key: 'judge.concurrency',
  type: positiveInt(),
  default: 16,
  env: ['GTALIGN_JUDGE_CONCURRENCY'],
  arg: 'N',
  help: 'judge calls in flight',
});

export const CACHE_DIR = setting({
  name: 'cache-dir',
  key: 'judge.cacheDir',
  type: path(),
  default: (env) => cacheFolder('judge', env),
  arg: 'DIR',
  help: 'judge reply cache',
});

export const NO_CACHE = setting({
  name: 'no-cache',
  key: 'judge.noCache',
  type: boolean(),
  default: false,
  help: 'do not read or write the judge cache',
});

export const NO_MATH_CHECK = setting({
  name: 'no-math-check',
  key: 'judge.noMathCheck',
  type: boolean(),
  default: false,
  help: "always ask the judge on math sets (the reference's behaviour)",
});

export const ON_JUDGE_ERROR = setting({
  name: 'on-judge-error',
  key: 'judge.onError',
  type: oneOf(['skip', 'fail']),
  default: 'skip',
  arg: 'MODE',
  help: 'skip: a failed verdict becomes an error record; fail: stop at the first',
});

/** The judge settings every scoring command takes; each adds the concurrency flag its own way. */
export const JUDGE_BACKEND = setting({
  name: 'judge-backend',
  key: 'judge.backend',
  type: oneOf(['openai', 'local']),
  default: 'openai',
  env: ['GTALIGN_JUDGE_BACKEND'],
  arg: 'openai|local',
  help: 'openai: a server at --judge-url; local: the GGUF file --judge-model in-process',
});

export const JUDGE_VERDICT_ONLY = setting({
  name: 'judge-verdict-only',
  key: 'judge.verdictOnly',
  type: boolean(),
  default: false,
  help: 'local judge: constrain each reply to the bare verdict (for a model too small to follow the rubric)',
});

export const JUDGE_SETTINGS = [
  JUDGE_MODE,
  JUDGE_BACKEND,
  JUDGE_VERDICT_ONLY,
  JUDGE_URL,
  JUDGE_VENDOR,
  JUDGE_MODEL,
  JUDGE_KEY_ENV,
  JUDGE_TIMEOUT,
  JUDGE_RETRIES,
  JUDGE_BACKOFF,
  CACHE_DIR,
  NO_CACHE,
  NO_MATH_CHECK,
  ON_JUDGE_ERROR,
] as const;

export const JUDGE = group('Judge', [...JUDGE_SETTINGS, JUDGE_CONCURRENCY]);
