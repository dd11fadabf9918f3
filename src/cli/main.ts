#!/usr/bin/env node
import { describeError, exitStatusOf, GtalignError } from '../errors.js';
import { VERSION } from '../version.js';
import { chatCommand } from './chat.js';
import type { Command } from './command.js';
import { dataExportCommand } from './data-export.js';
import { dataInspectCommand } from './data-inspect.js';
import { dataPullCommand } from './data-pull.js';
import { UsageError } from './errors.js';
import { evalCompareCommand } from './eval-compare.js';
import { evalReportCommand } from './eval-report.js';
import { evalRunCommand } from './eval-run.js';
import { evalScoreCommand } from './eval-score.js';
import { evalSweepCommand } from './eval-sweep.js';
import { gameAnalyzeCommand } from './game-analyze.js';
import { modelsPullCommand } from './models.js';
import { rewardScoreCommand } from './reward-score.js';
import { rewardServeCommand } from './reward-serve.js';
import { serveCommand } from './serve.js';

const COMMANDS: Command[] = [
  gameAnalyzeCommand,
  rewardScoreCommand,
  rewardServeCommand,
  chatCommand,
  serveCommand,
  modelsPullCommand,
  dataInspectCommand,
  dataExportCommand,
  dataPullCommand,
  evalRunCommand,
  evalScoreCommand,
  evalSweepCommand,
  evalCompareCommand,
  evalReportCommand,
];

function mainHelp(): string {
  const lines = [
    `gtalign ${VERSION}: game-theoretic alignment for LLM assistants (GTAlign, arXiv 2510.08872)`,
    '',
    'Usage: gtalign <group> <command> [options]',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(22)} ${c.summary}`),
    '',
    'Options:',
    '  -h, --help             show help (also after any command)',
    '  -v, --version          print the version',
    '',
    "Run 'gtalign <group> <command> --help' for a command's options.",
  ];
  return `${lines.join('\n')}\n`;
}

export async function main(argv: string[]): Promise<number> {
  if (argv.length === 0 || argv[0] === '-h' || argv[0] === '--help' || argv[0] === 'help') {
    process.stdout.write(mainHelp());
    return argv.length === 0 ? 2 : 0;
  }
  if (argv[0] === '-v' || argv[0] === '--version') {
    process.stdout.write(`${VERSION}\n`);
    return 0;
  }
  // Commands are two words ("game analyze"); match the longest name that prefixes argv.
  const command = COMMANDS.find((c) => {
    const words = c.name.split(' ');
    return words.every((w, i) => argv[i] === w);
  });
  if (!command) {
    const group = COMMANDS.filter((c) => c.name.startsWith(`${argv[0]} `));
    if (group.length > 0 && (argv[1] === undefined || argv[1] === '--help' || argv[1] === '-h')) {
      process.stdout.write(`${group.map((c) => `gtalign ${c.name.padEnd(20)} ${c.summary}`).join('\n')}\n`);
      return argv[1] === undefined ? 2 : 0;
    }
    process.stderr.write(`gtalign: unknown command '${argv.slice(0, 2).join(' ')}'\n\n${mainHelp()}`);
    return 2;
  }
  const rest = argv.slice(command.name.split(' ').length);
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(command.help);
    return 0;
  }
  try {
    return await command.run(rest);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(
        `gtalign ${command.name}: ${err.message}\n(see 'gtalign ${command.name} --help')\n`,
      );
      return err.exitCode;
    }
    // Every error a user can act on maps to its exit status here, in one place; anything else is a bug.
    if (err instanceof GtalignError) {
      process.stderr.write(`gtalign ${command.name}: ${describeError(err)}\n`);
      return exitStatusOf(err);
    }
    throw err;
  }
}

// A reader that goes away (`| head -1`) ends a command quietly instead of with a stack trace. Commands
// that handle their own output errors (reward score) add a listener of their own and this one steps aside.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
    if (stream.listenerCount('error') === 1) process.exit(process.exitCode ?? 0);
  });
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(
      `gtalign: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    process.exitCode = 70;
  },
);
