import type { Readable, Writable } from 'node:stream';
import type { Env } from '../config/env.js';
import { optionsHelp } from '../config/help.js';
import type { Loaded } from '../config/load.js';
import type { Group, ValuesOf } from '../config/setting.js';
import { loadCommandSettings } from './load-settings.js';

/** An output stream as a command sees it: a terminal (`isTTY`), a pipe or a file, or a test's buffer. */
export type OutputStream = Writable & { readonly isTTY?: boolean };
/** An input stream as a command sees it: a terminal (`isTTY`), a pipe or a file, or a test's text. */
export type InputStream = Readable & { readonly isTTY?: boolean };

/**
 * What a command reads from and writes to outside its arguments: the environment, the current folder and
 * the standard streams. Commands use these, never `process.*`, so that a test can run them in-process.
 */
export interface CommandContext {
  readonly env: Env;
  /**
   * Where ./gtalign.config.json is looked for. File paths in arguments are opened as given, so a relative
   * one is relative to the process's folder.
   */
  readonly cwd: string;
  readonly stdin: InputStream;
  readonly stdout: OutputStream;
  readonly stderr: OutputStream;
}

/** One CLI command: a name (one or two words), its settings, help and runner (its summary is in commands.ts). */
export interface Command {
  readonly name: string;
  /** The settings it takes; its flags, the option lines of its help and `config show` come from them. */
  readonly settings: readonly Group[];
  /** The help text; it needs no streams (it shows the defaults, which the environment may set). */
  help(ctx: Pick<CommandContext, 'env' | 'cwd'>): string;
  /** Runs with the arguments after the command's name; returns the exit code. */
  run(args: string[], ctx: CommandContext): Promise<number>;
}

export interface CommandSpec<G extends readonly Group[]> {
  name: string;
  /** The help's usage line(s). */
  usage: string;
  /** What the command does, before the options. */
  about?: string;
  /** After the options: exit codes and anything the options need. */
  notes?: string;
  settings: G;
  positionals?: boolean;
  run(loaded: Loaded<ValuesOf<G>>, ctx: CommandContext): Promise<number>;
}

/** A command whose settings are loaded (defaults < file < environment < flags) before it runs. */
export function defineCommand<const G extends readonly Group[]>(spec: CommandSpec<G>): Command {
  return {
    name: spec.name,
    settings: spec.settings,
    help: (ctx) =>
      [spec.usage, spec.about, optionsHelp(spec.settings, ctx.env).trimEnd(), spec.notes]
        .filter((part): part is string => part !== undefined && part !== '')
        .map((part) => part.trimEnd())
        .join('\n\n')
        .concat('\n'),
    async run(args, ctx) {
      const loaded = await loadCommandSettings(spec.settings, args, ctx, spec.positionals === true);
      return spec.run(loaded, ctx);
    },
  };
}
