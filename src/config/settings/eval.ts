/** The settings of the `gtalign eval` commands: data, run folder, run control, reports. */
import { SWEEPABLE_FIELDS } from '../../eval/sweep-fields.js';
import { TOKENIZER_NAMES } from '../../eval/tokens.js';
import { group, setting } from '../setting.js';
import { boolean, oneOf, path, positiveInt, text, texts } from '../value-types.js';
import { NO_PROGRESS } from './output.js';

export const MODES = ['assistant', 'raw'] as const;

export const DATA = setting({
  name: 'data',
  key: 'eval.data',
  type: texts({ path: true }),
  arg: 'FILE…',
  help:
    'data files (parquet or JSONL), directories or globs; repeat --data or\n' +
    'list the files after it (required)',
});

export const RUN_OUT = setting({
  name: 'out',
  key: 'eval.out',
  type: path(),
  arg: 'RUN_DIR',
  help: 'the run folder: config.json, results.jsonl, metrics.json (required)',
});

export const MODE = setting({
  name: 'mode',
  key: 'eval.mode',
  type: oneOf(MODES),
  default: 'assistant',
  arg: 'assistant|raw',
  help: 'see above',
});

export const DATA_SOURCE = setting({
  name: 'data-source',
  key: 'eval.dataSource',
  type: texts({ commas: true }),
  arg: 'NAME',
  help: 'keep only rows of these data sources (repeat, or comma-separated)',
});

export const LIMIT = setting({
  name: 'limit',
  key: 'eval.limit',
  type: positiveInt(),
  arg: 'N',
  help: 'at most N rows of each data source (in file order)',
});

export const CONCURRENCY = setting({
  name: 'concurrency',
  key: 'eval.concurrency',
  type: positiveInt(),
  default: 4,
  env: ['GTALIGN_CONCURRENCY'],
  arg: 'N',
  help: 'rows in flight at once (the local backend runs one at a time)',
});

export const RESUME = setting({
  name: 'resume',
  key: 'eval.resume',
  type: boolean(),
  default: false,
  help:
    'finish the run in RUN_DIR: rows with a record are skipped, a cut-off last\n' +
    'line is dropped; the options must match the saved config.json',
});

export const RUN_NAME = setting({
  name: 'name',
  key: 'eval.name',
  type: text(),
  arg: 'NAME',
  help: "the run's name in reports",
  defaultText: "the folder's name",
});

export const TOKENIZER = setting({
  name: 'tokenizer',
  key: 'eval.tokenizer',
  type: oneOf(TOKENIZER_NAMES),
  default: 'auto',
  env: ['GTALIGN_TOKENIZER'],
  arg: 'NAME',
  help:
    `token counts for the length metrics: ${TOKENIZER_NAMES.join(', ')}\n` +
    '(auto: cl100k_base via js-tiktoken, offline; approx without it)',
});

export const MAX_FAILURES = setting({
  name: 'max-failures',
  key: 'eval.maxFailures',
  type: positiveInt(),
  default: 10,
  arg: 'N',
  help: 'stop after N rows in a row the backend failed on',
});

export const RESPONSES = setting({
  name: 'responses',
  key: 'evalScore.responses',
  type: path(),
  arg: 'FILE',
  help: 'the outputs (JSONL) (required)',
});

export const POLICY_PARAM = setting({
  name: 'policy-param',
  key: 'evalSweep.policyParam',
  type: texts(),
  arg: 'NAME=FROM:TO:STEPS',
  help:
    'a field of the pricing policy and STEPS evenly spaced values from FROM to TO,\n' +
    'ends included (e.g. computeCostPerMillion=0:12:7). Fields:\n' +
    `${SWEEPABLE_FIELDS.slice(0, 3).join(', ')},\n${SWEEPABLE_FIELDS.slice(3).join(', ')}.\n` +
    'Several --policy-param move together (same STEPS): point i sets each to its\n' +
    'i-th value (required)',
});

export const COMPARE_OUT = setting({
  name: 'out',
  key: 'evalCompare.out',
  type: path(),
  arg: 'FILE',
  help: 'also write the JSON to FILE',
});

export const REPORT_OUT = setting({
  name: 'out',
  key: 'evalReport.out',
  type: path(),
  arg: 'DIR',
  help: 'output folder',
  defaultText: 'RUN_DIR/report of the first run',
});

export const NO_PNG = setting({
  name: 'no-png',
  key: 'evalReport.noPng',
  type: boolean(),
  default: false,
  help: 'write SVG charts only',
});

export const SCALE = setting({
  name: 'scale',
  key: 'evalReport.scale',
  type: positiveInt({ max: 8 }),
  default: 2,
  arg: 'N',
  help: 'PNG pixels per chart unit',
});

export const NO_WRITE_METRICS = setting({
  name: 'no-write-metrics',
  key: 'evalReport.noWriteMetrics',
  type: boolean(),
  default: false,
  help: 'do not write metrics.json into the run folders',
});

/** The run settings of `eval run` and `eval sweep` (data, run folder, run control). */
export const RUN = group('Run', [
  DATA,
  RUN_OUT,
  DATA_SOURCE,
  LIMIT,
  CONCURRENCY,
  RESUME,
  RUN_NAME,
  TOKENIZER,
  MAX_FAILURES,
  NO_PROGRESS,
]);

export const EVAL_SETTINGS = [
  ...RUN.settings.filter((s) => s !== NO_PROGRESS),
  MODE,
  RESPONSES,
  POLICY_PARAM,
  COMPARE_OUT,
  REPORT_OUT,
  NO_PNG,
  SCALE,
  NO_WRITE_METRICS,
] as const;
