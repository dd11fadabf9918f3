/**
 * The CLI's commands as the main help knows them: name and one-line summary. A command's own module
 * (its settings, help and runner, and whatever it imports: data sets, servers, engines) is loaded only
 * when that command runs, so `gtalign --help` and a light command do not pay for the heavy ones.
 */
import type { Command } from './command.js';

export interface CommandEntry {
  /** One or two words, as typed ("reward score"). */
  readonly name: string;
  /** The line of the main help. */
  readonly summary: string;
  load(): Promise<Command>;
}

const entries: readonly CommandEntry[] = [
  {
    name: 'game analyze',
    summary: 'Pareto frontier, selection and Nash equilibria of payoff matrices',
    load: async () => (await import('./game-analyze.js')).gameAnalyzeCommand,
  },
  {
    name: 'reward score',
    summary: 'score model outputs with the mutual-welfare reward (offline verdicts or live judges)',
    load: async () => (await import('./reward-score.js')).rewardScoreCommand,
  },
  {
    name: 'reward serve',
    summary: 'serve the mutual-welfare reward to RL trainers (OpenRLHF /get_reward, batch JSON)',
    load: async () => (await import('./reward-serve.js')).rewardServeCommand,
  },
  {
    name: 'chat',
    summary: 'answer a question (or chat) with steering and true continuation',
    load: async () => (await import('./chat.js')).chatCommand,
  },
  {
    name: 'serve',
    summary: 'OpenAI-compatible endpoint that answers every request with a GTAlign turn',
    load: async () => (await import('./serve.js')).serveCommand,
  },
  {
    name: 'mcp',
    summary: 'an MCP server: solver, steering, decision, turn and reward as tools',
    load: async () => (await import('./mcp.js')).mcpCommand,
  },
  {
    name: 'demo',
    summary: 'one question under four pricing policies on the local engine (no download needed)',
    load: async () => (await import('./demo-command.js')).demoCommand,
  },
  {
    name: 'models pull',
    summary: 'download a small instruct GGUF model for the local backend',
    load: async () => (await import('./models.js')).modelsPullCommand,
  },
  {
    name: 'models tiny',
    summary: 'write the offline model (tiny, RANDOM weights) into the model cache',
    load: async () => (await import('./models.js')).modelsTinyCommand,
  },
  {
    name: 'data inspect',
    summary: 'show rows per data source, fields and an example of data set files',
    load: async () => (await import('./data-inspect.js')).dataInspectCommand,
  },
  {
    name: 'data export',
    summary: 'write data set rows for verl (parquet), OpenRLHF (prompt/label JSONL) or as JSONL',
    load: async () => (await import('./data-export.js')).dataExportCommand,
  },
  {
    name: 'data pull',
    summary: 'download the GTAlign data sets into a cache folder',
    load: async () => (await import('./data-pull.js')).dataPullCommand,
  },
  {
    name: 'eval run',
    summary: 'run a model over data sets, score it, keep a resumable run folder with metrics',
    load: async () => (await import('./eval-run.js')).evalRunCommand,
  },
  {
    name: 'eval score',
    summary: 'score outputs generated elsewhere into a run folder with metrics',
    load: async () => (await import('./eval-score.js')).evalScoreCommand,
  },
  {
    name: 'eval sweep',
    summary: 'run the same rows under a range of pricing-policy values (action mix, tokens, welfare)',
    load: async () => (await import('./eval-sweep.js')).evalSweepCommand,
  },
  {
    name: 'eval compare',
    summary: 'Pareto comparison (dominance, coverage, hypervolume, regret) and metric deltas between runs',
    load: async () => (await import('./eval-compare.js')).evalCompareCommand,
  },
  {
    name: 'eval report',
    summary: 'metrics, Markdown + HTML report with charts (PNG too) for one or more runs',
    load: async () => (await import('./eval-report.js')).evalReportCommand,
  },
  {
    name: 'studio',
    summary: 'local web app: steering playground, run viewer, user studies',
    load: async () => (await import('./studio.js')).studioCommand,
  },
];

/** Every command but `config show`, loaded (what `config show` looks commands up in). */
function loadOthers(): Promise<Command[]> {
  return Promise.all(entries.map((e) => e.load()));
}

/** Every command of the CLI, in the order the main help lists them. */
export const COMMAND_ENTRIES: readonly CommandEntry[] = [
  ...entries,
  {
    name: 'config show',
    summary: 'print the effective configuration and where each value comes from',
    load: async () => (await import('./config-show.js')).configShowCommand(await loadOthers()),
  },
];

/** The entry whose name is the longest run of words that starts `argv` (names have one or two words). */
export function findCommand(argv: readonly string[]): CommandEntry | undefined {
  let best: CommandEntry | undefined;
  for (const entry of COMMAND_ENTRIES) {
    const words = entry.name.split(' ');
    if (!words.every((w, i) => argv[i] === w)) continue;
    if (best === undefined || words.length > best.name.split(' ').length) best = entry;
  }
  return best;
}

/** Every command, loaded (for tests and tools that need all their settings at once). */
export function loadAllCommands(): Promise<Command[]> {
  return Promise.all(COMMAND_ENTRIES.map((e) => e.load()));
}
