import { optionsHelp } from '../config/help.js';
import { loadByKey } from '../config/load.js';
import { type AnySetting, describedAs, type Group, group } from '../config/setting.js';
import { ALL_GROUPS, ALL_SETTINGS } from '../config/settings/index.js';
import { JSON_OUTPUT } from '../config/settings/output.js';
import { type ShownSetting, showSettings } from '../config/show.js';
import { describeSource, type Source } from '../config/source.js';
import type { Command, CommandContext } from './command.js';
import { UsageError } from './errors.js';
import { writeOut } from './io.js';
import { asCliError, loadCommandSettings } from './load-settings.js';

const SETTINGS = [group('Options', [describedAs(JSON_OUTPUT, 'print one JSON object')])] as const;

const ABOUT = `Prints the configuration a command would run with: each setting's key (as the settings file
spells it), its flag, its value, and where the value comes from: default, file PATH, env NAME or flag.
Values come, in rising order, from the defaults, the settings file (./gtalign.config.json, or --config
FILE, or $GTALIGN_CONFIG), the environment and the command line. API keys are masked.

With COMMAND (e.g. 'reward score'), its settings, and flags of that command may follow to see their
effect (--json stays this command's); without, every setting of every command.`;

type Lookup = (s: AnySetting) => { value: unknown; source: Source };

/** Aligns key, flag, value and source into columns under each group's title. */
function textOf(sections: Array<{ title: string; settings: ShownSetting[] }>): string {
  const rows = sections.flatMap((g) => g.settings);
  const width = (pick: (r: ShownSetting) => string) => Math.max(0, ...rows.map((r) => pick(r).length));
  const wk = width((r) => r.key);
  const wf = width((r) => r.flag ?? '');
  const wv = Math.min(
    48,
    width((r) => r.text),
  );
  return sections
    .map((g) =>
      [
        `${g.title}:`,
        ...g.settings.map((r) =>
          `  ${r.key.padEnd(wk)}  ${(r.flag ?? '').padEnd(wf)}  ${(r.text === '' ? '-' : r.text).padEnd(wv)}  ${describeSource(r.source)}`.trimEnd(),
        ),
      ].join('\n'),
    )
    .join('\n\n');
}

/** The options of this command and --config FILE at the start of `args`, before any command's name. */
function leadingOptions(args: readonly string[]): string[] {
  let i = 0;
  while (i < args.length) {
    const a = args[i]!;
    if (a === '--json' || a.startsWith('--config=')) i += 1;
    else if (a === '--config' && i + 1 < args.length) i += 2;
    else break;
  }
  return args.slice(0, i);
}

/** `unknown command 'x'`, or for a group's first word, the group's commands. */
function unknownCommand(word: string, commands: readonly Command[]): string {
  const inGroup = commands.filter((c) => c.name.startsWith(`${word} `)).map((c) => `'${c.name}'`);
  return inGroup.length > 0
    ? `'${word}' is a group of commands: name one of ${inGroup.join(', ')}`
    : `unknown command '${word}'`;
}

/** `gtalign config show`; it looks commands up in `commands`, the CLI's list. */
export function configShowCommand(commands: readonly Command[]): Command {
  return {
    name: 'config show',
    settings: SETTINGS,
    help: (ctx) =>
      `Usage: gtalign config show [COMMAND…] [--json] [COMMAND's options]\n\n${ABOUT}\n\n${optionsHelp(SETTINGS, ctx.env)}`,
    async run(args: string[], ctx: CommandContext) {
      // --json and --config FILE may also come before the command (`config show --json chat`).
      const lead = leadingOptions(args);
      const after = args.slice(lead.length);
      const target = commands.find((c) => c.name.split(' ').every((w, i) => after[i] === w));
      const rest = [...lead, ...after.slice(target === undefined ? 0 : target.name.split(' ').length)];
      const json = rest.includes('--json');
      const forward = rest.filter((a) => a !== '--json');
      let groups: readonly Group[];
      let lookup: Lookup;
      let file: string | undefined;
      if (target === undefined) {
        const word = after[0];
        if (word !== undefined && !word.startsWith('-')) throw new UsageError(unknownCommand(word, commands));
        try {
          const loaded = await loadByKey(ALL_SETTINGS, {
            args: forward,
            env: ctx.env,
            cwd: ctx.cwd,
            known: ALL_SETTINGS,
          });
          groups = ALL_GROUPS;
          lookup = (s) => ({ value: loaded.values[s.key], source: loaded.sources[s.key]! });
          file = loaded.file;
        } catch (err) {
          throw asCliError(err);
        }
      } else {
        const loaded = await loadCommandSettings(target.settings, forward, ctx, true);
        const values = loaded.values as Record<string, unknown>;
        const sources = loaded.sources as Record<string, Source>;
        groups = target.settings;
        lookup = (s) => ({ value: values[s.name], source: sources[s.name]! });
        file = loaded.file;
      }
      const sections = showSettings(groups, lookup);
      if (json) {
        const settings = sections.flatMap((g) =>
          g.settings.map(({ text: _text, ...s }) => ({ group: g.title, ...s, flag: s.flag ?? null })),
        );
        await writeOut(
          ctx.stdout,
          `${JSON.stringify({ command: target?.name ?? null, file: file ?? null, settings })}\n`,
        );
        return 0;
      }
      const head = [
        `settings file: ${file ?? 'none (no ./gtalign.config.json, no --config, no $GTALIGN_CONFIG)'}`,
        ...(target === undefined ? [] : [`command: gtalign ${target.name}`]),
      ];
      await writeOut(ctx.stdout, `${head.join('\n')}\n\n${textOf(sections)}\n`);
      return 0;
    },
  };
}
