/** How commands print: JSON instead of text, trace tables, progress. Each command words --json its own way. */
import { setting } from '../setting.js';
import { boolean } from '../value-types.js';

export const JSON_OUTPUT = setting({
  name: 'json',
  key: 'output.json',
  type: boolean(),
  default: false,
  help: 'print JSON instead of text',
});

export const TRACE = setting({
  name: 'trace',
  key: 'output.trace',
  type: boolean(),
  default: false,
  help: 'print the matrices before and after, the edits, the choice and the\n' + 'tokens per stage as tables',
});

export const SHOW_REASONING = setting({
  name: 'show-reasoning',
  key: 'output.showReasoning',
  type: boolean(),
  default: false,
  help: "print the model's thinking as it is written, then its analysis, before the response",
});

export const NO_PROGRESS = setting({
  name: 'no-progress',
  key: 'output.noProgress',
  type: boolean(),
  default: false,
  help: 'no progress bar or progress lines on stderr',
});

export const OUTPUT_SETTINGS = [JSON_OUTPUT, TRACE, SHOW_REASONING, NO_PROGRESS] as const;
