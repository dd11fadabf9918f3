import { basename, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { expandInputs, loadRows } from '../data/load.js';
import { joinResponses, readResponsesFile, responsesProducer } from '../eval/score.js';
import type { RunConfig } from '../eval/store.js';
import { TOKENIZER_NAMES } from '../eval/tokens.js';
import { LineTooLongError } from '../io/lines.js';
import { VERSION } from '../version.js';
import { positiveInt, usageErrors } from './args.js';
import { oneOf } from './backend-options.js';
import type { Command } from './command.js';
import { InputError, UsageError } from './errors.js';
import {
  asEvalInputError,
  evaluateWithProgress,
  interruptSignal,
  judgeInfo,
  loadTokenizer,
  metricsTable,
  outcome,
  rewardInfo,
  scoringOf,
  tokenizerInfo,
} from './eval-common.js';
import { writeOut } from './io.js';
import {
  JUDGE_OPTIONS,
  judgeFromFlags,
  judgeHelp,
  loadRewardConfig,
  REWARD_OPTIONS,
} from './judge-options.js';

const LABEL = 'gtalign eval score';

const HELP = `Usage: gtalign eval score --responses FILE --data FILE… --out RUN_DIR [options]

Scores outputs generated elsewhere with the same reward code as 'gtalign reward score', and keeps them
in a run folder like 'gtalign eval run' does (results.jsonl, config.json, metrics.json; resumable).

FILE is JSONL, one object per output: {"response": the full output, and one of "id" (the row's id, e.g.
"math-hard:test:300") or "index" (0-based position among the rows of the --data files, in the order
given); with neither, the line's own position}. Optional: "verdict" (the judge's verdict on the task's
native scale: used instead of asking the judge), "cell"/"action" (the chosen cell, for the action mix),
"trace". A run's own results.jsonl is such a file: score it again with another judge or reward config.
Every line must match a row, and no row twice; otherwise nothing is scored and each bad line is named.

Options:
  --responses FILE         the outputs (JSONL)                                       (required)
  --data FILE…             the data files the outputs answer (parquet or JSONL)       (required)
  --out RUN_DIR            the run folder                                             (required)
  --concurrency N          outputs being scored at once (default 32)
  --judge-concurrency N    judge calls in flight (default 16)
  --resume                 finish the run in RUN_DIR (the options and the file must be the same)
  --name NAME              the run's name in reports (default: the folder's name)
  --tokenizer NAME         ${TOKENIZER_NAMES.join(', ')} (default auto)
  --no-progress            no progress on stderr

${judgeHelp('')}
With --judge offline, outputs whose line has a "verdict", malformed outputs (reward 0) and math answers
equal to the ground truth are scored; the others are recorded with reward {"error": {"stage": "judge"}}.

Exit codes: 0 every output has a record, 1 a problem with a file (or records missing), 2 bad usage,
130 interrupted.
`;

export const evalScoreCommand: Command = {
  name: 'eval score',
  summary: 'score outputs generated elsewhere into a run folder with metrics',
  help: HELP,
  async run(args) {
    const { values, positionals } = usageErrors(() =>
      parseArgs({
        args,
        allowPositionals: true,
        options: {
          responses: { type: 'string' },
          data: { type: 'string', multiple: true },
          out: { type: 'string' },
          concurrency: { type: 'string' },
          'judge-concurrency': { type: 'string' },
          resume: { type: 'boolean', default: false },
          name: { type: 'string' },
          tokenizer: { type: 'string' },
          'no-progress': { type: 'boolean', default: false },
          ...JUDGE_OPTIONS,
          ...REWARD_OPTIONS,
        },
      }),
    );
    if (values.responses === undefined) throw new UsageError('--responses FILE is required');
    const data = [...(values.data ?? []), ...positionals];
    if (data.length === 0) throw new UsageError('--data FILE… is required');
    if (values.out === undefined || values.out === '') throw new UsageError('--out RUN_DIR is required');
    const out = values.out;
    const concurrency = positiveInt('concurrency', values.concurrency, 32);
    const judgeConcurrency = positiveInt('judge-concurrency', values['judge-concurrency'], 16);
    const tokenizer = oneOf('tokenizer', values.tokenizer, TOKENIZER_NAMES, 'auto');
    const judge = judgeFromFlags(values, judgeConcurrency);

    const interrupt = interruptSignal(LABEL);
    try {
      const reward = await loadRewardConfig(values.config, values.aggregate, values.alpha);
      let file: Awaited<ReturnType<typeof readResponsesFile>>;
      try {
        file = await readResponsesFile(values.responses);
      } catch (err) {
        if (err instanceof LineTooLongError) throw new InputError(err.message);
        const code = (err as NodeJS.ErrnoException).code;
        throw new InputError(
          `cannot read ${values.responses}: ${code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : String(err)}`,
        );
      }
      const [counter, dataFiles, allRows] = await Promise.all([
        loadTokenizer(tokenizer),
        expandInputs(data),
        loadRows(data),
      ]);
      const joined = joinResponses(file.lines, allRows, values.responses);
      if (joined.length === 0) throw new InputError(`${values.responses}: no responses`);
      const { rows, produce } = responsesProducer(joined, allRows);
      const config: RunConfig = {
        schema: 'gtalign.run/1',
        name: values.name ?? basename(resolve(out)),
        command: 'eval score',
        gtalign: VERSION,
        createdAt: new Date().toISOString(),
        data: { files: dataFiles.map((f) => resolve(f)), dataSources: [], limit: null },
        mode: 'responses',
        backend: { kind: 'responses' },
        judge: judgeInfo(judge.description),
        reward: rewardInfo(reward, judge.mathCheck),
        tokenizer: tokenizerInfo(counter),
        responses: { file: resolve(values.responses), sha256: file.sha256 },
        runtime: { concurrency, judgeConcurrency },
      };
      const result = await evaluateWithProgress(
        LABEL,
        {
          out,
          config,
          rows,
          produce,
          scoring: scoringOf(judge, reward),
          tokenCounter: counter,
          resume: values.resume === true,
          concurrency,
          signal: interrupt.signal,
        },
        values['no-progress'] !== true,
      );
      await writeOut(`${metricsTable(result.metrics)}\n`);
      return outcome(LABEL, result);
    } catch (err) {
      throw asEvalInputError(err);
    } finally {
      interrupt.dispose();
    }
  },
};
