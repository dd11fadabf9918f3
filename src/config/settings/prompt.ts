/**
 * Prompt: the words and message layout stage 1 of a GTAlign turn sends (`chat`, `serve`, `eval run`,
 * `eval sweep`). See the README's "Prompt profiles".
 */
import { group, setting } from '../setting.js';
import { oneOf, path } from '../value-types.js';

export const PROMPT_PROFILES = ['gtalign', 'trained', 'row'] as const;
export type PromptProfileSetting = (typeof PROMPT_PROFILES)[number];

export const PROMPT = setting({
  name: 'prompt',
  key: 'prompt.profile',
  type: oneOf(PROMPT_PROFILES),
  env: ['GTALIGN_PROMPT'],
  arg: 'NAME',
  help:
    "stage 1's prompt: gtalign (gtalign's own wording), trained (the layout\n" +
    'and text a checkpoint was trained on, read from --prompt-from), row\n' +
    "(eval run/sweep only: each data row's own prompt messages)",
  defaultText: 'trained with --prompt-from, else gtalign (chat, serve) or row (eval)',
});

export const PROMPT_FROM = setting({
  name: 'prompt-from',
  key: 'prompt.from',
  type: path(),
  env: ['GTALIGN_PROMPT_FROM'],
  arg: 'FILE',
  help:
    'where the trained layout comes from: a data file (.parquet, .jsonl; its\n' +
    'first row gives the system message and the instructions before\n' +
    '"Question:", its first multi-turn row the history layout), or a\n' +
    'template (.json: system, instructions, question, history)',
});

export const PROMPT_SETTINGS = group('Prompt', [PROMPT, PROMPT_FROM]);
