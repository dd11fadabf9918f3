/**
 * The settings file: `gtalign.config.json` in the current folder, or the one `--config FILE` (or
 * $GTALIGN_CONFIG) names. Its keys are the settings' keys (`{"judge": {"timeout": 60000}}`); a key no
 * setting has is an error that names the file and the key, and suggests the key meant.
 */

import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { jsonErrorOffset, lineAndColumn } from '../io/json-scan.js';
import { readFailureReason } from '../io/read-failure.js';
import { readUtf8File } from '../io/utf8.js';
import { ConfigError } from './errors.js';
import { nearNames } from './near.js';
import type { AnySetting } from './setting.js';
import type { Source } from './source.js';

export const CONFIG_FILE_NAME = 'gtalign.config.json';

export interface SettingsFile {
  /** The path as messages show it. */
  name: string;
  /** The file's folder: relative paths inside the file are taken from here. */
  dir: string;
  /** The values present, by setting key, as JSON (parsed by the loader). */
  values: Map<string, unknown>;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Reads a JSON file; errors name it (`name`) and, for bad JSON, the line and column. A file that cannot be
 * read is bad input (exit 1), however it was named.
 */
export async function readJsonFile(path: string, name: string): Promise<unknown> {
  const source: Source = { kind: 'file', path: name };
  let text: string;
  try {
    text = await readUtf8File(path);
  } catch (err) {
    throw new ConfigError(`cannot read ${name}: ${readFailureReason(err)}`, source);
  }
  // Editors on Windows save UTF-8 with a byte order mark; it is not part of the JSON (RFC 8259 §8.1).
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  try {
    return JSON.parse(text);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    // V8 names a position for some errors only (not for an unexpected token such as a comment's `/`).
    const offset = jsonErrorOffset(text);
    let where = '';
    if (offset !== undefined && !/line \d+/.test(message)) {
      const { line, column } = lineAndColumn(text, offset);
      const comment = text[offset] === '/' ? ': JSON has no comments' : '';
      where = ` (line ${line}, column ${column}${comment})`;
    }
    throw new ConfigError(`${name}: not valid JSON: ${message}${where}`, source);
  }
}

export interface Located {
  path: string;
  /** The path as messages about its content name it. */
  name: string;
  /** How it was named, for a file that cannot be read: `--config FILE`, `GTALIGN_CONFIG=FILE`. */
  how: string;
}

/**
 * The file to read: `--config FILE`, else $GTALIGN_CONFIG, else ./gtalign.config.json when present.
 * A file named explicitly must exist; the default one is optional.
 */
export function locateSettingsFile(
  named: { path: string; source: Source } | undefined,
  cwd: string,
): Located | undefined {
  if (named !== undefined) {
    const { source } = named;
    const how = source.kind === 'env' ? `${source.name}=${named.path}` : `--config ${named.path}`;
    return { path: resolve(cwd, named.path), name: named.path, how };
  }
  const path = join(cwd, CONFIG_FILE_NAME);
  return existsSync(path) ? { path, name: CONFIG_FILE_NAME, how: CONFIG_FILE_NAME } : undefined;
}

/** Known keys that end like `key` (a misplaced key), else the keys `key` is a typo of, for a "did you mean". */
function suggestions(key: string, known: readonly AnySetting[]): string[] {
  const last = key.split('.').at(-1)!.toLowerCase();
  const placed = known
    .filter((s) => s.key.split('.').at(-1)!.toLowerCase() === last && s.key !== key)
    .map((s) => s.key);
  return placed.length > 0 ? placed : nearNames(key, [...new Set(known.map((s) => s.key))]);
}

/** A hint for a key that is unknown here but valid inside an object setting (reward weights at the top level). */
function objectHint(key: string, value: unknown, known: readonly AnySetting[]): string | undefined {
  if (key.includes('.')) return undefined;
  const owner = known.find((s) => s.type.jsonFile && s.type.fromJson({ [key]: value }).ok);
  if (owner === undefined) return undefined;
  return `it belongs inside "${owner.key}"${owner.flag === false ? '' : ` (or pass such a file with --${owner.name} FILE)`}`;
}

function unknownKey(file: string, key: string, value: unknown, known: readonly AnySetting[]): ConfigError {
  const hint = objectHint(key, value, known);
  // An unknown section: name its first setting, which says best what was meant.
  if (hint === undefined && isObject(value)) {
    const first = Object.entries(value)[0];
    if (first !== undefined) return unknownKey(file, `${key}.${first[0]}`, first[1], known);
  }
  const near = suggestions(key, known);
  const more = hint ?? (near.length > 0 ? `did you mean ${near.join(' or ')}?` : undefined);
  return new ConfigError(`${file}: unknown key "${key}"${more === undefined ? '' : `; ${more}`}`, {
    kind: 'file',
    path: file,
  });
}

/** Reads and checks the file: JSON, an object, known keys only, no secrets. */
export async function readSettingsFile(
  located: Located,
  known: readonly AnySetting[],
): Promise<SettingsFile> {
  const { name } = located;
  const data = await readJsonFile(located.path, located.how);
  const source: Source = { kind: 'file', path: name };
  if (!isObject(data)) throw new ConfigError(`${name}: must be a JSON object of settings`, source);
  const byKey = new Map(known.map((s) => [s.key, s]));
  // Every leading part of a key (`judge` of `judge.timeout`) is a section: an object of settings.
  const prefixes = new Set<string>();
  for (const s of known) {
    const parts = s.key.split('.');
    for (let i = 1; i < parts.length; i++) prefixes.add(parts.slice(0, i).join('.'));
  }
  const values = new Map<string, unknown>();
  const walk = (obj: Record<string, unknown>, prefix: string): void => {
    for (const [k, v] of Object.entries(obj)) {
      const key = prefix === '' ? k : `${prefix}.${k}`;
      const s = byKey.get(key);
      if (s !== undefined) {
        if (s.secret) {
          throw new ConfigError(
            `${name}: ${key}: secrets are not read from files; set ${(s.env ?? []).join(' or ')}`,
            source,
          );
        }
        values.set(key, v);
      } else if (prefixes.has(key)) {
        if (!isObject(v)) throw new ConfigError(`${name}: ${key}: must be an object of settings`, source);
        walk(v, key);
      } else {
        throw unknownKey(name, key, v, known);
      }
    }
  };
  walk(data, '');
  return { name, dir: dirname(located.path), values };
}
