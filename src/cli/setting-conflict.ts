/**
 * Settings that cannot go together, one that needs another, or values that do not fit together (a sweep's
 * ranges, a game's strategies), reported by where each came from: all
 * typed as flags, it is bad usage (exit 2, `--base-url goes with --backend openai`); when one came from
 * the environment or the settings file, the user typed no such flag, so the message names the variable
 * or the file and key, and it is a setting to fix (exit 1).
 */
import { ConfigError } from '../config/errors.js';
import type { Source } from '../config/source.js';
import { settingAsGiven } from '../config/source.js';
import { UsageError } from './errors.js';

/** One setting in a conflict: its flag, its settings-file key and where its value came from. */
export interface GivenSetting {
  readonly flag: string;
  readonly key: string;
  readonly source: Source;
  /** The value, when the message shows it (`--backend local`, `$GTALIGN_BACKEND=local`). */
  readonly value?: string | number | boolean;
}

/** The setting `name` of a command's loaded settings, with `key` as the settings file holds it. */
export function givenSetting<V>(
  loaded: { values: V; sources: { readonly [K in keyof V]: Source } },
  name: keyof V & string,
  key: string,
  withValue = false,
): GivenSetting {
  const value = loaded.values[name];
  const shown =
    withValue && (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean')
      ? { value }
      : {};
  return { flag: name, key, source: loaded.sources[name], ...shown };
}

/**
 * A setting as a message names it: `--backend local`, `$GTALIGN_BACKEND=local`,
 * `backend.kind "local" in FILE`, `--backend local (default)`; without a value as settingAsGiven does.
 */
export function nameSetting(s: GivenSetting): string {
  if (s.value === undefined) return settingAsGiven(s.flag, s.key, s.source);
  // A switch is named by its flag alone (`--gpu`, not `--gpu true`).
  const asFlag = s.value === true ? `--${s.flag}` : `--${s.flag} ${String(s.value)}`;
  switch (s.source.kind) {
    case 'flag':
      return asFlag;
    case 'env':
      return `$${s.source.name}=${String(s.value)}`;
    case 'file':
      return `${s.key} ${JSON.stringify(s.value)} in ${s.source.path}`;
    default:
      return `${asFlag} (default)`;
  }
}

type Names<P extends readonly GivenSetting[]> = { [I in keyof P]: string };

/**
 * The error for settings `parts` that conflict, worded by `text` from their names (see nameSetting):
 * a usage error when every part was typed as a flag (or is a default), else a setting to fix naming
 * the first part that came from the environment or the settings file.
 */
export function settingConflict<const P extends readonly GivenSetting[]>(
  parts: P,
  text: (...names: Names<P>) => string,
): UsageError | ConfigError {
  const message = text(...(parts.map(nameSetting) as Names<P>));
  const set = parts.find((p) => p.source.kind === 'env' || p.source.kind === 'file');
  return set === undefined ? new UsageError(message) : new ConfigError(message, set.source);
}
