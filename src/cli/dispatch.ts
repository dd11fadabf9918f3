/** The command line: help, version, finding the command and turning its errors into exit codes. */
import { describeError, exitStatusOf, GtalignError } from '../errors.js';
import { VERSION } from '../version.js';
import type { CommandContext } from './command.js';
import { COMMAND_ENTRIES, findCommand } from './commands.js';
import { UsageError } from './errors.js';
import { guardContext } from './terminal-stream.js';

function mainHelp(): string {
  const lines = [
    `gtalign ${VERSION}: game-theoretic alignment for LLM assistants (GTAlign, arXiv 2510.08872)`,
    '',
    'Usage: gtalign <group> <command> [options]',
    '',
    'Commands:',
    ...COMMAND_ENTRIES.map((c) => `  ${c.name.padEnd(22)} ${c.summary}`),
    '',
    'Options:',
    '  --config FILE          settings file (default ./gtalign.config.json when there is one);',
    "                         'gtalign config show' prints every setting and where it comes from",
    '  -h, --help             show help (also after any command)',
    '  -v, --version          print the version',
    '',
    "Run 'gtalign <group> <command> --help' for a command's options.",
  ];
  return `${lines.join('\n')}\n`;
}

/**
 * `--config FILE` (or `--config=FILE`) before the command, split off: it goes right after the command's
 * name, where every command reads it (before a `--`, and before a later --config, which wins).
 */
function splitGlobalOptions(args: readonly string[]): { global: string[]; argv: string[] } {
  let i = 0;
  while (args[i] === '--config' || args[i]?.startsWith('--config=')) i += args[i] === '--config' ? 2 : 1;
  return { global: args.slice(0, i), argv: args.slice(i) };
}

/** The context of the running process: its environment, folder and standard streams. */
export function processContext(): CommandContext {
  return {
    env: process.env,
    cwd: process.cwd(),
    // Getters: Node opens a standard stream on first use, and most commands never read stdin.
    get stdin() {
      return process.stdin;
    },
    get stdout() {
      return process.stdout;
    },
    get stderr() {
      return process.stderr;
    },
  };
}

/**
 * Runs `gtalign ARGS…` in `context` (by default the process's environment, folder and standard streams)
 * and returns the exit code. What goes to a terminal has its control characters shown, not obeyed
 * (src/cli/terminal-stream.ts). It neither exits nor sets `process.exitCode`: the entry point (main.ts) does.
 */
export async function main(args: string[], context: CommandContext = processContext()): Promise<number> {
  const ctx = guardContext(context);
  const { global, argv } = splitGlobalOptions(args);
  if (argv.length === 0 && global.length > 0) {
    ctx.stderr.write(`gtalign: no command given (--config goes with one)\n\n${mainHelp()}`);
    return 2;
  }
  if (argv.length === 0 || argv[0] === '-h' || argv[0] === '--help' || argv[0] === 'help') {
    ctx.stdout.write(mainHelp());
    return argv.length === 0 ? 2 : 0;
  }
  if (argv[0] === '-v' || argv[0] === '--version') {
    ctx.stdout.write(`${VERSION}\n`);
    return 0;
  }
  const entry = findCommand(argv);
  if (!entry && argv[0]!.startsWith('-')) {
    // Only --config may come before the command; anything else there is not a command's name.
    ctx.stderr.write(
      `gtalign: unknown option '${argv[0]}' (a command's options go after its name)\n\n${mainHelp()}`,
    );
    return 2;
  }
  if (!entry) {
    const group = COMMAND_ENTRIES.filter((c) => c.name.startsWith(`${argv[0]} `));
    if (group.length > 0 && (argv[1] === undefined || argv[1] === '--help' || argv[1] === '-h')) {
      ctx.stdout.write(`${group.map((c) => `gtalign ${c.name.padEnd(20)} ${c.summary}`).join('\n')}\n`);
      return argv[1] === undefined ? 2 : 0;
    }
    ctx.stderr.write(`gtalign: unknown command '${argv.slice(0, 2).join(' ')}'\n\n${mainHelp()}`);
    return 2;
  }
  const command = await entry.load();
  const rest = [...global, ...argv.slice(command.name.split(' ').length)];
  // After `--` every word is an argument (`gtalign chat -- -h` asks about "-h").
  const end = rest.indexOf('--');
  const options = end < 0 ? rest : rest.slice(0, end);
  if (options.includes('--help') || options.includes('-h')) {
    ctx.stdout.write(command.help(ctx));
    return 0;
  }
  try {
    return await command.run(rest, ctx);
  } catch (err) {
    if (err instanceof UsageError) {
      ctx.stderr.write(`gtalign ${command.name}: ${err.message}\n(see 'gtalign ${command.name} --help')\n`);
      return err.exitCode;
    }
    // Every error a user can act on maps to its exit status here, in one place; anything else is a bug.
    if (err instanceof GtalignError) {
      ctx.stderr.write(`gtalign ${command.name}: ${describeError(err)}\n`);
      return exitStatusOf(err);
    }
    // Loaded only here, on the way out: start-up loads nothing a command may not need.
    const fsFailure = (await import('./fs-failure.js')).describeFsFailure(err);
    if (fsFailure !== undefined) {
      ctx.stderr.write(`gtalign ${command.name}: ${fsFailure}\n`);
      return 1;
    }
    throw err;
  }
}
