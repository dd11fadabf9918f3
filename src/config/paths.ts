/**
 * The one rule for gtalign's cache folders (models, judge replies, data sets):
 * `$XDG_CACHE_HOME/gtalign/<kind>` when XDG_CACHE_HOME is set, else `~/.cache/gtalign/<kind>`.
 */
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Env } from './env.js';

export type CacheKind = 'models' | 'judge' | 'data';

export function cacheFolder(kind: CacheKind, env: Env): string {
  const xdg = env.XDG_CACHE_HOME;
  // HOME from `env` (what os.homedir() reads on POSIX), so that a given environment is the whole input.
  const home = env.HOME !== undefined && env.HOME !== '' ? env.HOME : homedir();
  return join(xdg !== undefined && xdg !== '' ? xdg : join(home, '.cache'), 'gtalign', kind);
}
