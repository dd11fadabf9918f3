/** The own settings of `gtalign reward score` and `gtalign reward serve`. */
import { DEFAULT_END_TOKENS } from '../../server/end-tokens.js';
import { setting } from '../setting.js';
import { boolean, integer, number, path, positiveInt, texts } from '../value-types.js';
import { LOOKAHEAD_SETTINGS } from './sim.js';

export const INPUT = setting({
  name: 'input',
  key: 'rewardScore.input',
  type: path(),
  arg: 'FILE',
  help: "input JSONL ('-' for stdin) (required)",
});

export const OUTPUT = setting({
  name: 'output',
  key: 'rewardScore.output',
  type: path(),
  arg: 'FILE',
  help: "output JSONL ('-' for stdout)",
  defaultText: 'stdout',
});

export const WORKERS = setting({
  name: 'workers',
  key: 'rewardScore.workers',
  type: integer({ min: 0 }),
  arg: 'N',
  help:
    'offline scoring worker threads; this thread scores too whenever they are full\n' +
    'and a core is left (0 = this thread only)',
  defaultText: 'CPU count − 1',
});

export const CLIP_VERDICTS = setting({
  name: 'clip-verdicts',
  key: 'judge.clipVerdicts',
  type: boolean(),
  default: false,
  help:
    "clip an input verdict outside its task's scale into the scale, as the\n" +
    'reference does (default: that sample is an error naming the value and scale)',
});

export const REQUEST_CONCURRENCY = setting({
  name: 'concurrency',
  key: 'rewardServe.concurrency',
  type: positiveInt(),
  arg: 'N',
  help: 'samples in flight per request',
  defaultText: 'twice --judge-concurrency',
});

export const MAX_SAMPLES = setting({
  name: 'max-samples',
  key: 'rewardServe.maxSamples',
  type: positiveInt(),
  default: 65_536,
  arg: 'N',
  help: 'most samples in one request',
});

export const END_TOKENS = setting({
  name: 'end-token',
  key: 'rewardServe.endTokens',
  type: texts(),
  default: [...DEFAULT_END_TOKENS],
  arg: 'TEXT',
  help:
    'an end-of-text or pad token cut from the end of OpenRLHF rollouts (and\n' +
    'from before the prompt); repeat for several',
});

export const COALESCE_BATCH = setting({
  name: 'coalesce-batch',
  key: 'rewardServe.coalesceBatch',
  type: integer({ min: 0 }),
  default: 256,
  arg: 'N',
  help: "gather concurrent requests' samples into batches of up to N (0: score each request alone)",
});

export const COALESCE_WAIT = setting({
  name: 'coalesce-wait-ms',
  key: 'rewardServe.coalesceWaitMs',
  type: number({ min: 0 }),
  default: 2,
  arg: 'MS',
  help: 'how long a batch waits for more samples before it is scored',
});

export const DEADLINE = setting({
  name: 'deadline',
  key: 'rewardServe.deadline',
  type: number({ min: 0, above: true }),
  default: 170,
  arg: 'SECONDS',
  help: "answer every request within this time (under OpenRLHF's 180 s client timeout);\nsamples not scored by then fail, naming the deadline",
});

export const REWARD_SCORE_SETTINGS = [INPUT, OUTPUT, WORKERS, CLIP_VERDICTS, ...LOOKAHEAD_SETTINGS] as const;
export const REWARD_SERVE_SETTINGS = [
  REQUEST_CONCURRENCY,
  MAX_SAMPLES,
  END_TOKENS,
  COALESCE_BATCH,
  COALESCE_WAIT,
  DEADLINE,
] as const;
