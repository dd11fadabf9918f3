/** The settings of the `gtalign data` commands. */
import { EXPORT_FORMATS } from '../../data/export-formats.js';
import { DEFAULT_BASE_URL } from '../../data/source-url.js';
import { cacheFolder } from '../paths.js';
import { setting } from '../setting.js';
import { boolean, httpUrl, integer, oneOf, path, positiveInt, texts } from '../value-types.js';

export const INSPECT_LIMIT = setting({
  name: 'limit',
  key: 'dataInspect.limit',
  type: positiveInt(),
  arg: 'N',
  help: 'read at most N rows of each file',
});

export const WIDTH = setting({
  name: 'width',
  key: 'dataInspect.width',
  type: integer({ min: 0 }),
  default: 160,
  arg: 'N',
  help: 'shorten strings in the printed example to N characters (not with --json)',
});

export const FORMAT = setting({
  name: 'format',
  key: 'dataExport.format',
  type: oneOf(EXPORT_FORMATS),
  arg: 'NAME',
  help: `${EXPORT_FORMATS.join(' | ')} (required)`,
});

export const EXPORT_OUT = setting({
  name: 'out',
  key: 'dataExport.out',
  type: path(),
  arg: 'PATH',
  help: 'output file (required)',
});

export const EXPORT_LIMIT = setting({
  name: 'limit',
  key: 'dataExport.limit',
  type: positiveInt(),
  arg: 'N',
  help: 'export at most N rows (after the data source filter)',
});

export const EXPORT_DATA_SOURCE = setting({
  name: 'data-source',
  key: 'dataExport.dataSource',
  type: texts({ commas: true }),
  arg: 'NAME',
  help: 'keep only this data source; repeat or separate by commas',
});

export const LABEL = setting({
  name: 'label',
  key: 'dataExport.label',
  type: oneOf(['json', 'json-with-prompt', 'ground-truth']),
  default: 'json',
  arg: 'MODE',
  help:
    'openrlhf label: json | json-with-prompt (the chat messages too, as\n' +
    'extra_info.prompt, for reward serve --lookahead) | ground-truth (the\n' +
    'bare answer string, for a reward function of your own: gtalign reward\n' +
    'serve needs a json label)',
});

export const DATA_DIR = setting({
  name: 'dir',
  key: 'dataPull.dir',
  type: path(),
  default: (env) => cacheFolder('data', env),
  env: ['GTALIGN_DATA_DIR'],
  arg: 'DIR',
  help: 'target folder',
});

export const DATA_BASE_URL = setting({
  name: 'base-url',
  key: 'dataPull.baseUrl',
  type: httpUrl(),
  default: DEFAULT_BASE_URL,
  arg: 'URL',
  help: "where the repository's files are served; a file is fetched from URL/<repo path>",
});

export const ONLY = setting({
  name: 'only',
  key: 'dataPull.only',
  type: texts({ commas: true }),
  arg: 'LIST',
  help: 'only these data sets, e.g. math-hard,wildguard/test (repeatable)',
});

export const PULL_FORCE = setting({
  name: 'force',
  key: 'dataPull.force',
  type: boolean(),
  default: false,
  help: 'download again even when a valid file is present',
});

export const PULL_TIMEOUT = setting({
  name: 'timeout',
  key: 'dataPull.timeout',
  type: positiveInt(),
  default: 5000,
  arg: 'MS',
  help: 'connect timeout: time allowed until the server answers',
});

export const DATA_SETTINGS = [
  INSPECT_LIMIT,
  WIDTH,
  FORMAT,
  EXPORT_OUT,
  EXPORT_LIMIT,
  EXPORT_DATA_SOURCE,
  LABEL,
  DATA_DIR,
  DATA_BASE_URL,
  ONLY,
  PULL_FORCE,
  PULL_TIMEOUT,
] as const;
