/**
 * The option lines of a command's help, generated from its settings: flag, placeholder, help words, and
 * the default and environment variables as the schema declares them (never written twice by hand).
 */
import type { Env } from './env.js';
import { CONFIG_SETTING } from './load.js';
import { type AnySetting, defaultOf, type Group } from './setting.js';

const COLUMN = 25;
const WIDTH = 108;

function label(s: AnySetting): string {
  if (s.flag === false) return (s.env ?? []).map((e) => `$${e}`).join(', ');
  return `--${s.name}${s.arg === undefined ? '' : ` ${s.arg}`}`;
}

/** `default 1024; env GTALIGN_MAX_TOKENS`, or '' when there is nothing to say. */
function notes(s: AnySetting, env: Env): string {
  const parts: string[] = [];
  if (s.defaultText !== undefined) parts.push(`default: ${s.defaultText}`);
  else if (!s.secret) {
    const value = defaultOf(s, env);
    const empty = value === undefined || value === false || (Array.isArray(value) && value.length === 0);
    if (!empty) parts.push(`default ${s.type.show(value as never)}`);
  }
  if (s.flag !== false && s.env !== undefined && s.env.length > 0) parts.push(`env ${s.env.join(', ')}`);
  return parts.length === 0 ? '' : `(${parts.join('; ')})`;
}

function lines(s: AnySetting, env: Env): string[] {
  const text = s.help.split('\n');
  const extra = notes(s, env);
  if (extra !== '') {
    const last = text.length - 1;
    if (COLUMN + 2 + text[last]!.length + 1 + extra.length <= WIDTH) text[last] = `${text[last]} ${extra}`;
    else text.push(extra);
  }
  const head = `  ${label(s)}`;
  const pad = ' '.repeat(COLUMN + 2);
  // A label longer than the column puts the words on the next line.
  const first =
    head.length < COLUMN + 2 ? `${head.padEnd(COLUMN + 2)}${text[0]}` : `${head}\n${pad}${text[0]}`;
  return [first, ...text.slice(1).map((t) => `${pad}${t}`)];
}

/** The help's option sections: one per group, then the settings file and --help. */
export function optionsHelp(groups: readonly Group[], env: Env): string {
  const sections = groups.map((g) => `${g.title}:\n${g.settings.flatMap((s) => lines(s, env)).join('\n')}\n`);
  const general = [...lines(CONFIG_SETTING, env), `  ${'-h, --help'.padEnd(COLUMN)}show this help`];
  sections.push(`Configuration:\n${general.join('\n')}\n`);
  return sections.join('\n');
}
