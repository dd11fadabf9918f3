/**
 * The one loader: each setting a command takes gets its value from, in rising order, its default, the
 * settings file, the environment and the command line, parsed by the same rules everywhere, with errors
 * that name where the bad value came from.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { type Env, firstSet } from './env.js';
import { ConfigError } from './errors.js';
import { locateSettingsFile, readJsonFile, readSettingsFile, type SettingsFile } from './file.js';
import { nearNames } from './near.js';
import { type AnySetting, defaultOf, type Group, setting, type ValuesOf } from './setting.js';
import type { Source } from './source.js';
import { type Parsed, path } from './value-types.js';

/** `--config FILE`: every command takes it, and it decides which file the others come from. */
export const CONFIG_SETTING = setting({
  name: 'config',
  key: 'config',
  type: path(),
  env: ['GTALIGN_CONFIG'],
  arg: 'FILE',
  help: 'settings file (JSON, keys as `gtalign config show` lists them)',
  defaultText: './gtalign.config.json when there is one',
});

export interface LoadOptions {
  args: readonly string[];
  env: Env;
  cwd: string;
  allowPositionals?: boolean;
  /** Every setting a settings file may hold (all commands'), for its unknown-key check. */
  known: readonly AnySetting[];
}

export interface Loaded<V> {
  values: V;
  sources: { readonly [K in keyof V]: Source };
  positionals: string[];
  /** The settings file read, as messages name it. */
  file: string | undefined;
}

/** A JSON value as the file has it; a number too large for a double (`1e999`) reads as Infinity, not null. */
function asWritten(raw: unknown): string {
  return typeof raw === 'number' && !Number.isFinite(raw) ? String(raw) : JSON.stringify(raw);
}

/** `unknown --rule 'x' (one of …)`, `--port must be …, got 'x'`, `GTALIGN_PORT=x: must be …`, `FILE: key: must be …`. */
function message(
  s: AnySetting,
  source: Source,
  raw: unknown,
  failure: Parsed<unknown> & { ok: false },
): string {
  const { problem, issues } = failure;
  // Problems inside an object (a reward configuration) are named by their field paths.
  const fields = (prefix: string) =>
    (issues ?? [])
      .map((i) => `${[prefix, i.path].filter((p) => p !== '').join('.')}: ${i.message}`)
      .join('; ');
  switch (source.kind) {
    case 'flag':
      if (failure.unknownOf)
        return `unknown --${s.name} '${String(raw)}' (one of ${failure.unknownOf.join(', ')})`;
      if (issues) return `--${s.name} ${String(raw)}: ${fields('')}`;
      return `--${s.name} ${problem}, got '${String(raw)}'`;
    case 'env':
      return `${source.name}=${String(raw)}: ${issues ? fields('') : problem}`;
    case 'file':
      if (issues) return `${source.path}: ${fields(s.key)}`;
      return `${source.path}: ${s.key}: ${problem}, got ${asWritten(raw)}`;
    default:
      return `${s.key}: default ${problem}`;
  }
}

function orThrow<T>(s: AnySetting, source: Source, raw: unknown, parsed: Parsed<T>): T {
  if (parsed.ok) return parsed.value;
  throw new ConfigError(message(s, source, raw, parsed), source);
}

/** `; did you mean --max-tokens?` after an unknown option that is a typo of one this command takes. */
function typoHint(err: unknown, names: readonly string[]): string {
  if ((err as { code?: unknown }).code !== 'ERR_PARSE_ARGS_UNKNOWN_OPTION') return '';
  const given = /'--([^'=]+)/.exec((err as Error).message)?.[1];
  const near = given === undefined ? [] : nearNames(given, names);
  return near.length === 0 ? '' : `; did you mean ${near.map((n) => `--${n}`).join(' or ')}?`;
}

/** Reads the strict command line; its own errors (unknown option, missing value) name the option. */
function readFlags(settings: readonly AnySetting[], args: readonly string[], allowPositionals: boolean) {
  const options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean }> = {
    config: { type: 'string' },
  };
  for (const s of settings) {
    if (s.flag === false) continue;
    options[s.name] = { type: s.type.flagKind, ...(s.type.multiple ? { multiple: true } : {}) };
  }
  try {
    const { values, positionals } = parseArgs({ args: [...args], options, allowPositionals, strict: true });
    return { flags: values as Record<string, string | boolean | string[] | undefined>, positionals };
  } catch (err) {
    const text = err instanceof Error ? err.message.replace(/\. To specify.*$/s, '') : String(err);
    throw new ConfigError(`${text}${typoHint(err, Object.keys(options))}`, { kind: 'flag' });
  }
}

/** The declared setting whose value is an object holding `s` (`reward` for `reward.aggregator.name`). */
function parentOf(s: AnySetting, settings: readonly AnySetting[]): AnySetting | undefined {
  return settings.find((p) => p !== s && p.type.jsonFile && s.key.startsWith(`${p.key}.`));
}

function lookup(obj: unknown, path: readonly string[]): unknown {
  let at = obj;
  for (const part of path) {
    if (typeof at !== 'object' || at === null || Array.isArray(at)) return undefined;
    at = (at as Record<string, unknown>)[part];
  }
  return at;
}

interface Context {
  env: Env;
  cwd: string;
  file: SettingsFile | undefined;
}

/** Bad content of the JSON file `name` (a weights file): its own fields are named, not settings keys. */
function contentError(name: string, failure: Parsed<unknown> & { ok: false }): ConfigError {
  const { problem, issues } = failure;
  const what = issues?.map((i) => (i.path === '' ? i.message : `${i.path}: ${i.message}`)).join('; ');
  return new ConfigError(`${name}: ${what ?? problem}`, { kind: 'file', path: name });
}

/** A text value from the command line or the environment. */
async function fromText(
  s: AnySetting,
  texts: readonly string[],
  source: Source,
  ctx: Context,
): Promise<unknown> {
  if (s.type.jsonFile) {
    const at = texts[0]!;
    const name = source.kind === 'flag' ? `--${s.name} ${at}` : `${(source as { name: string }).name}=${at}`;
    const parsed = s.type.fromJson(await readJsonFile(resolve(ctx.cwd, at), name));
    if (parsed.ok) return parsed.value;
    // The path was fine; the file's content is bad input (exit 1), as when it cannot be read.
    throw contentError(name, parsed);
  }
  if (s.type.multiple) return texts.flatMap((t) => orThrow(s, source, t, s.type.fromText(t)) as unknown[]);
  return orThrow(s, source, texts[0], s.type.fromText(texts[0]!));
}

/** A JSON value from the settings file; its paths are relative to the file's folder. */
async function fromFile(s: AnySetting, raw: unknown, file: SettingsFile): Promise<unknown> {
  const source: Source = { kind: 'file', path: file.name };
  if (s.type.jsonFile && typeof raw === 'string') {
    const name = `${file.name}: ${s.key}: ${raw}`;
    const parsed = s.type.fromJson(await readJsonFile(resolve(file.dir, raw), name));
    if (parsed.ok) return parsed.value;
    throw contentError(name, parsed);
  }
  const value = orThrow(s, source, raw, s.type.fromJson(raw));
  if (!s.type.path || s.type.jsonFile) return value;
  const names = s.type.names;
  if (names !== undefined && typeof value === 'string') {
    if (names.includes(value)) return value;
    // A bare word that names no file here is a name (a mistyped preset), as the flag's reader takes it.
    const inDir = resolve(file.dir, value);
    if (!/[/\\.]/.test(value) && !existsSync(inDir)) return value;
    return inDir;
  }
  const inFolder = (p: string) => (p === '-' ? p : resolve(file.dir, p));
  return Array.isArray(value) ? value.map((p) => inFolder(String(p))) : inFolder(String(value));
}

async function resolveOne(
  s: AnySetting,
  flags: Record<string, string | boolean | string[] | undefined>,
  ctx: Context,
  parent: { value: unknown; source: Source; key: string } | undefined,
  valueAt: (key: string) => unknown = () => undefined,
): Promise<{ value: unknown; source: Source }> {
  const flag = s.flag === false ? undefined : flags[s.name];
  if (flag !== undefined) {
    const source: Source = { kind: 'flag' };
    if (typeof flag === 'boolean') return { value: flag, source };
    return { value: await fromText(s, Array.isArray(flag) ? flag : [flag], source, ctx), source };
  }
  const set = s.envWhen === undefined || s.envWhen(valueAt) ? firstSet(ctx.env, s.env ?? []) : undefined;
  if (set !== undefined) {
    const source: Source = { kind: 'env', name: set.name };
    return { value: await fromText(s, [set.value], source, ctx), source };
  }
  if (parent !== undefined) {
    // Inside an object setting: the object from wherever it came decides, as a whole.
    const raw = lookup(parent.value, s.key.slice(parent.key.length + 1).split('.'));
    if (raw !== undefined)
      return { value: orThrow(s, parent.source, raw, s.type.fromJson(raw)), source: parent.source };
  } else if (ctx.file?.values.has(s.key)) {
    return {
      value: await fromFile(s, ctx.file.values.get(s.key), ctx.file),
      source: { kind: 'file', path: ctx.file.name },
    };
  }
  return { value: defaultOf(s, ctx.env), source: { kind: 'default' } };
}

/** Loads the heavy checkers (see `ValueType.prepare`) of the settings about to be read. */
async function prepareTypes(settings: readonly AnySetting[]): Promise<void> {
  await Promise.all(settings.map((s) => s.type.prepare?.()));
}

/** Every value with its source, in the order of `settings`. */
async function resolveSettings(
  settings: readonly AnySetting[],
  flags: Record<string, string | boolean | string[] | undefined>,
  options: LoadOptions,
): Promise<{ file: string | undefined; resolved: Array<{ value: unknown; source: Source }> }> {
  const ctx: Context = { env: options.env, cwd: options.cwd, file: undefined };
  const named = await resolveOne(CONFIG_SETTING, flags, ctx, undefined);
  const located = locateSettingsFile(
    named.value === undefined ? undefined : { path: String(named.value), source: named.source },
    options.cwd,
  );
  // The command's own variants of a setting (another default, another flag) check the file's values.
  const byKey = new Map(options.known.map((s) => [s.key, s]));
  for (const s of settings) byKey.set(s.key, s);
  // A settings file may hold (and is checked for) any known setting; otherwise only the command's own are read.
  await prepareTypes(located === undefined ? settings : [...byKey.values()]);
  const file = located === undefined ? undefined : await readSettingsFile(located, [...byKey.values()]);
  ctx.file = file;
  // The whole file is checked, also the settings this command does not take.
  for (const [key, raw] of file?.values ?? []) {
    const s = byKey.get(key)!;
    if (!(s.type.jsonFile && typeof raw === 'string'))
      orThrow(s, { kind: 'file', path: file!.name }, raw, s.type.fromJson(raw));
  }
  const resolved = new Map<AnySetting, { value: unknown; source: Source }>();
  const byOwnKey = new Map(settings.map((s) => [s.key, s]));
  const valueAt = (key: string) => {
    const s = byOwnKey.get(key);
    return s === undefined ? undefined : resolved.get(s)?.value;
  };
  // Object settings first: the settings inside them read from the object that won; settings whose
  // variables depend on other values last.
  const order = (s: AnySetting) =>
    s.envWhen !== undefined ? 2 : parentOf(s, settings) !== undefined ? 1 : 0;
  for (const s of [...settings].sort((a, b) => order(a) - order(b))) {
    const p = parentOf(s, settings);
    const at = p === undefined ? undefined : resolved.get(p)!;
    const parent = p === undefined || at === undefined ? undefined : { ...at, key: p.key };
    resolved.set(s, await resolveOne(s, flags, ctx, parent, valueAt));
  }
  return { file: file?.name, resolved: settings.map((s) => resolved.get(s)!) };
}

/** The resolved values and their sources as two records keyed by `id`. */
function keyed(
  settings: readonly AnySetting[],
  resolved: ReadonlyArray<{ value: unknown; source: Source }>,
  id: (s: AnySetting) => string,
): { values: Record<string, unknown>; sources: Record<string, Source> } {
  const values: Record<string, unknown> = {};
  const sources: Record<string, Source> = {};
  settings.forEach((s, i) => {
    values[id(s)] = resolved[i]!.value;
    sources[id(s)] = resolved[i]!.source;
  });
  return { values, sources };
}

/** Loads the settings of a command that takes `groups` from `args`, the environment and the settings file. */
export async function loadSettings<const G extends readonly Group[]>(
  groups: G,
  options: LoadOptions,
): Promise<Loaded<ValuesOf<G>>> {
  const settings = groups.flatMap((g) => g.settings);
  const names = new Set<string>([CONFIG_SETTING.name]);
  for (const s of settings) {
    if (names.has(s.name)) throw new Error(`setting --${s.name} declared twice`);
    names.add(s.name);
  }
  const { flags, positionals } = readFlags(settings, options.args, options.allowPositionals === true);
  const { file, resolved } = await resolveSettings(settings, flags, options);
  const { values, sources } = keyed(settings, resolved, (s) => s.name);
  return {
    values: values as ValuesOf<G>,
    sources: sources as Loaded<ValuesOf<G>>['sources'],
    positionals,
    file,
  };
}

/**
 * Every setting of `settings` (flag names may repeat across commands), keyed by setting key, from the
 * settings file, the environment and defaults; the only flag is --config.
 */
export async function loadByKey(
  settings: readonly AnySetting[],
  options: LoadOptions,
): Promise<{ file: string | undefined; values: Record<string, unknown>; sources: Record<string, Source> }> {
  const { flags } = readFlags([], options.args, false);
  const { file, resolved } = await resolveSettings(settings, flags, options);
  return { file, ...keyed(settings, resolved, (s) => s.key) };
}

/** Whether the user gave `name` on this command line (not from a file, the environment or a default). */
export function givenAsFlag<V>(loaded: Pick<Loaded<V>, 'sources'>, name: keyof V): boolean {
  return loaded.sources[name].kind === 'flag';
}

/** The values and sources of some settings of a command: what a helper for one group takes. */
export type LoadedOf<S extends readonly AnySetting[]> = Pick<
  Loaded<ValuesOf<readonly [Group<S>]>>,
  'values' | 'sources'
>;
