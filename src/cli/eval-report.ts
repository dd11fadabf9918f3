import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { describedAs, group } from '../config/setting.js';
import { NO_PNG, NO_WRITE_METRICS, REPORT_OUT, SCALE, TOKENIZER } from '../config/settings/eval.js';
import { compareRuns } from '../eval/compare.js';
import {
  computeConversationMetrics,
  isConversationRun,
  readConversationMetrics,
} from '../eval/conversation-metrics.js';
import { computeMetrics, isFailedReward, type Metrics } from '../eval/metrics.js';
import { buildReport, writeReport } from '../eval/report/build.js';
import { checkCompleteness, incompleteText, type RunCompleteness } from '../eval/report/completeness.js';
import { type RunDir, RunDirError, readRunDir, uniqueNames, writeMetrics } from '../eval/run-dir.js';
import { LOCK_FILE } from '../eval/store.js';
import {
  approxTokenCounter,
  loadTokenCounter,
  type TokenCounter,
  type TokenizerName,
  TokenizerUnavailableError,
} from '../eval/tokens.js';
import { lockHolder } from '../io/pid-lock.js';
import { defineCommand, type OutputStream } from './command.js';
import { InputError, UsageError } from './errors.js';
import { terminalSafe } from './terminal-text.js';

const SETTINGS = [
  group('Options', [
    REPORT_OUT,
    describedAs(
      TOKENIZER,
      'tokenizer for records without token counts (auto: cl100k_base when js-tiktoken\nis installed, else approx, with a warning); records that carry counts use them',
    ),
    NO_PNG,
    SCALE,
    NO_WRITE_METRICS,
  ]),
] as const;

/** Reads run folders, turning their problems into InputErrors; names are made unique. */
export async function loadRuns(dirs: readonly string[], stderr: OutputStream): Promise<RunDir[]> {
  const runs: RunDir[] = [];
  for (const dir of dirs) {
    try {
      runs.push(await readRunDir(dir));
    } catch (err) {
      // The message quotes the folder's own text (a bad line, config.json's name): shown, never obeyed.
      if (err instanceof RunDirError)
        throw new InputError(terminalSafe(`cannot read run ${dir}:\n${err.message}`));
      throw err;
    }
  }
  const names = uniqueNames(runs.map((r) => r.name));
  runs.forEach((r, i) => {
    r.name = names[i]!;
    for (const w of r.warnings) stderr.write(`warning: ${terminalSafe(w)}\n`);
  });
  return runs;
}

/** A sweep folder has no config.json of its own: its first point's stands for it (the sweep varies one field). */
async function sweepConfig(run: RunDir): Promise<Record<string, unknown> | undefined> {
  const point = run.sweep?.points.find((p) => p.run !== undefined);
  if (point === undefined) return undefined;
  const path = join(run.dir, point.run!, 'config.json');
  if (!existsSync(path)) return undefined;
  try {
    const value: unknown = JSON.parse(await readFile(path, 'utf8'));
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    // The settings table then says the settings are unknown; the sweep itself is still drawn.
    return undefined;
  }
}

/** The exact tokenizer a run's config.json says its records' token counts come from. */
function recordedEncoding(run: RunDir): 'cl100k_base' | 'o200k_base' | 'approx' | undefined {
  const tokenizer = run.config?.tokenizer;
  if (typeof tokenizer !== 'object' || tokenizer === null) return undefined;
  const name = (tokenizer as { name?: unknown }).name;
  return name === 'cl100k_base' || name === 'o200k_base' || name === 'approx' ? name : undefined;
}

/** Whether some output of the runs has no token counts of its own (every output's length is measured). */
function needsCounting(runs: readonly RunDir[]): boolean {
  return runs.some((r) =>
    r.records.some((x) => x.tokens === undefined && (!isFailedReward(x.reward) || x.response !== '')),
  );
}

/**
 * The token counter for the metrics. With `auto` and every scored record carrying its own counts, it is
 * the tokenizer the runs counted them with (from config.json), so that metrics.json keeps naming it;
 * otherwise the one asked for (`auto`: cl100k_base when installed).
 */
export async function counterFor(
  runs: readonly RunDir[],
  name: TokenizerName,
  stderr: OutputStream,
): Promise<TokenCounter> {
  const needed = needsCounting(runs);
  let wanted: TokenizerName = name;
  if (!needed && name === 'auto') {
    const recorded = new Set(runs.filter((r) => r.records.length > 0).map(recordedEncoding));
    const only = recorded.size === 1 ? [...recorded][0] : undefined;
    if (only === undefined || only === 'approx') return approxTokenCounter;
    wanted = only;
  }
  try {
    const counter = await loadTokenCounter(wanted);
    if (needed && counter.note !== undefined) stderr.write(`warning: ${counter.note}\n`);
    return counter;
  } catch (err) {
    if (err instanceof TokenizerUnavailableError) {
      // Nothing is counted here: only the name is needed, and the records carry the counts.
      if (!needed && name === 'auto') return approxTokenCounter;
      throw new UsageError(err.message, 1);
    }
    throw err;
  }
}

export const evalReportCommand = defineCommand({
  name: 'eval report',
  usage: 'Usage: gtalign eval report RUN_DIR [RUN_DIR...] [--out DIR] [options]',
  about: `Computes each run's metrics and writes a report of one run or a comparison of several. metrics.json
is written into a run folder only when the run is complete, as 'eval run' does: every row the run
selected (counted again from config.json's data files) has a record, and errors.jsonl lists no row
without one. An incomplete run is reported as such (rows missing, rows failed, and how to finish it
with --resume), with the metrics of the records it has, and its metrics.json is left as it was.
Files written:
  DIR/report.md       Markdown summary: each run's settings (from config.json) and completeness,
                      headline metrics per data source, behaviour tables, action mix, conversations
                      (runs of eval run --turns N: turns, turns to answer, final-answer correctness,
                      tokens, discounted welfare per group, actions by turn index, how they ended),
                      Pareto comparison and metric deltas (two runs or more; conversation runs side by
                      side with paired statistics, and a note when their simulated users differ or
                      are unknown, as eval compare says it), sweeps (with turns and accuracy for
                      conversation sweeps), failures
  DIR/report.html     the same, self-contained (inline CSS and SVG charts, no script, no external URL)
  DIR/charts/*.png    every chart as PNG (and *.svg): per-source (U, L) scatter with each run's frontier,
                      action-mix bars, welfare bars, turns and accuracy bars of conversation runs,
                      sweep curves (when a run folder holds sweep.json; conversation sweeps add turns
                      and final accuracy against the swept value);
                      the PNG is the SVG rendered by resvg with the bundled DejaVu Sans fonts. Where
                      resvg's native binding cannot load, the charts are SVG only (with a warning)

A run folder holds results.jsonl (one record per row) and config.json; a folder with only sweep.json
(a sweep's top folder) is drawn as sweep curves.`,
  notes:
    'Exit codes: 0 written, 1 unreadable run folder (the message names file, line and field), 2 bad usage.',
  settings: SETTINGS,
  positionals: true,
  async run({ values, positionals }, ctx) {
    if (positionals.length === 0) throw new UsageError('give at least one RUN_DIR');
    const { tokenizer, scale } = values;
    const runs = await loadRuns(positionals, ctx.stderr);
    const counter = await counterFor(runs, tokenizer, ctx.stderr);
    // Each run's metrics.json names the tokenizer of its own counts: runs counted with different ones
    // have no shared name, and the common counter would be approx for all of them.
    const counters = await Promise.all(
      runs.map((r) =>
        tokenizer === 'auto' && !needsCounting([r]) ? counterFor([r], tokenizer, ctx.stderr) : counter,
      ),
    );
    // A conversation run's metrics.json holds its conversation metrics too, as `eval run --turns` writes it.
    const metrics: Metrics[] = runs.map((r, i) => {
      const m = computeMetrics(r.records, { tokenCounter: counters[i]! });
      return isConversationRun(r.records)
        ? { ...m, conversations: computeConversationMetrics(r.records) }
        : m;
    });
    for (const r of runs) {
      for (const [i, p] of (r.sweep?.points ?? []).entries()) {
        const c = readConversationMetrics(p.metrics);
        if (c instanceof Error)
          throw new InputError(
            `cannot read run ${r.dir}:\n${join(r.dir, 'sweep.json')}: points[${i}].metrics: ${c.message}`,
          );
      }
    }
    // A sweep's top folder holds no records of its own: its points are run folders, checked by their runs.
    const completeness: Array<RunCompleteness | undefined> = await Promise.all(
      runs.map((r) => (r.sweep !== undefined && r.records.length === 0 ? undefined : checkCompleteness(r))),
    );
    for (const [i, r] of runs.entries()) {
      const c = completeness[i];
      const incomplete = c === undefined ? undefined : incompleteText(c, r.dir);
      if (incomplete !== undefined) {
        // The metrics of part of a run are not the run's: metrics.json is for finished runs only.
        const stale = existsSync(join(r.dir, 'metrics.json'))
          ? ` (the metrics.json already in ${r.dir} is from before and does not describe a finished run either)`
          : '';
        ctx.stderr.write(
          `warning: ${terminalSafe(`${r.name}: incomplete run: ${incomplete}; metrics.json not written${stale}`)}\n`,
        );
      } else if (!values['no-write-metrics'] && r.records.length > 0) {
        // A run being written (a resume judging records again) writes its own metrics.json when done;
        // one written here now would describe records about to change.
        const writer = await lockHolder(join(r.dir, LOCK_FILE));
        if (writer === undefined) await writeMetrics(r.dir, metrics[i]!);
        else
          ctx.stderr.write(
            `warning: ${terminalSafe(`${r.name}: process ${writer} is writing ${r.dir}; metrics.json not written (the run writes it when done)`)}\n`,
          );
      }
    }
    const configs = await Promise.all(runs.map(async (r) => r.config ?? (await sweepConfig(r))));
    const withRecords = runs.filter((r) => r.records.length > 0);
    const comparison =
      withRecords.length > 1 ? compareRuns(withRecords, { tokenCounter: counter }) : undefined;
    const png = !values['no-png'];
    const report = buildReport(
      runs.map((r, i) => ({
        name: r.name,
        dir: r.dir,
        records: r.records,
        metrics: metrics[i]!,
        ...(r.sweep ? { sweep: r.sweep } : {}),
        ...(configs[i] === undefined ? {} : { config: configs[i] }),
        ...(completeness[i] === undefined ? {} : { completeness: completeness[i] }),
      })),
      {
        ...(comparison ? { comparison } : {}),
        generatedAt: new Date().toISOString(),
        chartFormat: png ? 'png' : 'svg',
      },
    );
    const out = resolve(values.out ?? `${runs[0]!.dir}/report`);
    // report.md links the PNGs; if resvg cannot load, writeReport writes SVG only, links those and warns.
    const files = await writeReport(out, report, {
      png,
      scale,
      warn: (message) => ctx.stderr.write(`warning: ${message}\n`),
    });
    ctx.stdout.write(
      `gtalign eval report: ${runs.length} run(s), ${report.charts.length} chart(s) → ${out}/report.html, ${out}/report.md (${files.length} files)\n`,
    );
    return 0;
  },
});
