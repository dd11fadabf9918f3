import { group } from '../config/setting.js';
import { EXPORT_DATA_SOURCE, EXPORT_LIMIT, EXPORT_OUT, FORMAT, LABEL } from '../config/settings/data.js';
import { DataError } from '../data/errors.js';
import { containerFor, EXPORT_FORMATS, exportRows, outPathProblem } from '../data/export.js';
import { iterateRows } from '../data/load.js';
import type { DatasetRow } from '../data/row.js';
import { defineCommand } from './command.js';
import { InputError, UsageError } from './errors.js';
import { givenSetting, settingConflict } from './setting-conflict.js';

const SETTINGS = [group('Options', [FORMAT, EXPORT_OUT, EXPORT_LIMIT, EXPORT_DATA_SOURCE, LABEL])] as const;

async function* counted(
  rows: AsyncIterable<DatasetRow>,
  counts: Map<string, number>,
): AsyncGenerator<DatasetRow> {
  for await (const row of rows) {
    counts.set(row.data_source, (counts.get(row.data_source) ?? 0) + 1);
    yield row;
  }
}

export const dataExportCommand = defineCommand({
  name: 'data export',
  usage:
    'Usage: gtalign data export --format verl|openrlhf|skyrl|areal|nemo-rl|jsonl --out PATH [options] FILE|DIR|GLOB...',
  about: `Writes data set rows (verl parquet, or JSONL in the verl or the flat layout) in the shape a trainer reads.
The output is written under a temporary name and renamed into place when complete. A parquet export
reads the rows twice (its schema comes from all of them): they are parked beside PATH in between, taking
about the size of a JSONL export on disk, and written one row group at a time, so memory stays bounded.

Formats:
  verl       the verl RLHF layout: prompt (chat messages), data_source, ability, reward_model
             {ground_truth, style}, extra_info, plus the source's other columns. Parquet, or JSONL with
             the same fields when PATH ends in .jsonl (verl reads both through HF datasets).
  openrlhf   OpenRLHF prompt data, one JSON object per line:
             {"id", "input": [chat messages], "label", "datasource"}.
             Train with (OpenRLHF 0.11): --data.prompt_dataset PATH --data.input_key input
             --data.label_key label --data.apply_chat_template (older versions: --prompt_data …)
             The label (handed to your reward function or --reward.remote_url server) is by default a JSON
             string {"id", "data_source", "ground_truth", "extra_info"}: all the GTAlign reward needs.
             --label json-with-prompt adds the chat messages as extra_info.prompt, so that
             reward serve --lookahead gives its policy the data set's own prompt.
  skyrl      SkyRL (skyrl-gym) rows: prompt (chat messages), env_class "gtalign", reward_spec
             {method "rule", ground_truth}, data_source, extra_info. Parquet, or JSONL when PATH ends in
             .jsonl. Register the environment with gtalign_reward.register_skyrl_env().
  areal      AReaL rows, JSONL: messages (chat messages), data_source, ground_truth, extra_info (the
             reward function gtalign_reward.areal_reward receives them as keyword arguments).
  nemo-rl    NeMo-RL rows, JSONL: messages (chat messages), data_source, and extra_env_info (the
             reward's inputs as a JSON string). Load them as a ResponseDataset with processor "gtalign"
             and env_name "gtalign", registered by gtalign_reward.register_nemo_rl().
  jsonl      our normalized rows: {"id", "data_source", "prompt", "ground_truth", "extra_info",
             "reward_style", "conv_id", "turn_id", "adversarial", "ability", "columns"};
             read back by every gtalign command that takes data files.`,
  notes:
    'Exit codes: 0 written, 1 bad or unreadable input (the message names file, row/line and field), 2 bad usage.',
  settings: SETTINGS,
  positionals: true,
  async run(loaded, ctx) {
    const { values, positionals } = loaded;
    const { format, out, limit } = values;
    if (format === undefined) throw new UsageError(`--format is required (${EXPORT_FORMATS.join(', ')})`);
    if (out === undefined || out === '') throw new UsageError('--out is required');
    if (positionals.length === 0) throw new UsageError('give at least one data file, directory or glob');
    // A label mode from a settings file serves the openrlhf exports and is left aside by the others.
    const formatGiven = givenSetting(loaded, 'format', 'dataExport.format', true);
    if (loaded.sources.label.kind === 'flag' && format !== 'openrlhf') {
      throw settingConflict([formatGiven], (f) => `--label applies to --format openrlhf only, not ${f}`);
    }
    if (outPathProblem(format, out) !== undefined) {
      throw settingConflict(
        [formatGiven, givenSetting(loaded, 'out', 'dataExport.out', true)],
        (f, o) => `${f} writes JSONL, not parquet: give an --out path ending in .jsonl (not ${o})`,
      );
    }
    const label = values.label;
    const dataSources = values['data-source'] ?? [];
    const counts = new Map<string, number>();
    try {
      const rows = iterateRows(positionals, { ...(limit !== undefined ? { limit } : {}), dataSources });
      const result = await exportRows(counted(rows, counts), { format, out, label });
      for (const note of result.notes) ctx.stderr.write(`note: ${note}\n`);
      const perSource = [...counts].map(([k, n]) => `${k} ${n}`).join(', ');
      ctx.stderr.write(
        `wrote ${result.rows} rows to ${result.path} (${format}, ${containerFor(format, out)}): ${perSource}\n`,
      );
      return 0;
    } catch (err) {
      if (err instanceof DataError) throw new InputError(err.message);
      throw err;
    }
  },
});
