import { chatCommand } from './chat.js';
import type { Command } from './command.js';
import { configShowCommand } from './config-show.js';
import { dataExportCommand } from './data-export.js';
import { dataInspectCommand } from './data-inspect.js';
import { dataPullCommand } from './data-pull.js';
import { evalCompareCommand } from './eval-compare.js';
import { evalReportCommand } from './eval-report.js';
import { evalRunCommand } from './eval-run.js';
import { evalScoreCommand } from './eval-score.js';
import { evalSweepCommand } from './eval-sweep.js';
import { gameAnalyzeCommand } from './game-analyze.js';
import { mcpCommand } from './mcp.js';
import { modelsPullCommand, modelsTinyCommand } from './models.js';
import { rewardScoreCommand } from './reward-score.js';
import { rewardServeCommand } from './reward-serve.js';
import { serveCommand } from './serve.js';
import { studioCommand } from './studio.js';

const commands: readonly Command[] = [
  gameAnalyzeCommand,
  rewardScoreCommand,
  rewardServeCommand,
  chatCommand,
  serveCommand,
  mcpCommand,
  modelsPullCommand,
  modelsTinyCommand,
  dataInspectCommand,
  dataExportCommand,
  dataPullCommand,
  evalRunCommand,
  evalScoreCommand,
  evalSweepCommand,
  evalCompareCommand,
  evalReportCommand,
  studioCommand,
];

/** Every command of the CLI, in the order the main help lists them; `config show` looks the others up. */
export const COMMANDS: readonly Command[] = [...commands, configShowCommand(commands)];
