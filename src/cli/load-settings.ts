import { ConfigError } from '../config/errors.js';
import { type Loaded, loadSettings } from '../config/load.js';
import type { Group, ValuesOf } from '../config/setting.js';
import { ALL_SETTINGS } from '../config/settings/index.js';
import type { CommandContext } from './command.js';
import { UsageError } from './errors.js';

/** A bad flag is reported like every usage error (with the pointer to --help); a bad file or variable as itself. */
export function asCliError(err: unknown): unknown {
  return err instanceof ConfigError && err.source.kind === 'flag' ? new UsageError(err.message) : err;
}

/** Loads a command's settings; a settings file may hold the settings of every command. */
export async function loadCommandSettings<const G extends readonly Group[]>(
  groups: G,
  args: readonly string[],
  ctx: CommandContext,
  allowPositionals: boolean,
): Promise<Loaded<ValuesOf<G>>> {
  try {
    return await loadSettings(groups, {
      args,
      env: ctx.env,
      cwd: ctx.cwd,
      allowPositionals,
      known: ALL_SETTINGS,
    });
  } catch (err) {
    throw asCliError(err);
  }
}
