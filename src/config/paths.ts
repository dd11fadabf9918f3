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
  return join(xdg !== undefined && xdg !== '' ? xdg : join(homedir(), '.cache'), 'gtalign', kind);
}
