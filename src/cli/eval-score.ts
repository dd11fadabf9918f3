import { basename, resolve } from 'node:path';
import { group, withDefault } from '../config/setting.js';
import {
  CONCURRENCY,
  DATA,
  RESPONSES,
  RESUME,
  RUN_NAME,
  RUN_OUT,
  TOKENIZER,
} from '../config/settings/eval.js';
import { JUDGE } from '../config/settings/judge.js';
import { NO_PROGRESS } from '../config/settings/output.js';
import { REWARD } from '../config/settings/reward.js';
import { expandInputs, loadRows } from '../data/load.js';
import { joinResponses, readResponsesFile, responsesProducer } from '../eval/score.js';
import type { RunConfig } from '../eval/store.js';
import { LineTooLongError } from '../io/lines.js';
import { readFailureReason } from '../io/read-failure.js';
import { VERSION } from '../version.js';
import { defineCommand } from './command.js';
import { InputError, UsageError } from './errors.js';
import {
  interruptible,
  judgeInfo,
  loadTokenizer,
  metricsTable,
  outcome,
  rewardInfo,
  runScored,
  tokenizerInfo,
} from './eval-common.js';
import { writeOut } from './io.js';
import { judgeConcurrencyOf, judgeSetup, rewardConfigOf } from './judge-options.js';

const LABEL = 'gtalign eval score';

const SETTINGS = [
  group('Options', [
    RESPONSES,
    DATA,
    RUN_OUT,
    withDefault(CONCURRENCY, 32, 'outputs being scored at once'),
    RESUME,
    RUN_NAME,
    TOKENIZER,
    NO_PROGRESS,
  ]),
  JUDGE,
  REWARD,
] as const;

export const evalScoreCommand = defineCommand({
  name: 'eval score',
  usage: 'Usage: gtalign eval score --responses FILE --data FILE… --out RUN_DIR [options]',
  about: `Scores outputs generated elsewhere with the same reward code as 'gtalign reward score', and keeps them
in a run folder like 'gtalign eval run' does (results.jsonl, config.json, metrics.json; resumable).

FILE is JSONL, one object per output: {"response": the full output, and one of "id" (the row's id, e.g.
"math-hard:test:300") or "index" (0-based position among the rows of the --data files, in the order
given); with neither, the line's own position}. Optional: "verdict" (the judge's verdict on the task's
native scale: used instead of asking the judge), "cell"/"action" (the chosen cell, for the action mix),
"trace". A run's own results.jsonl is such a file: score it again with another judge or reward config.
Every line must match a row, and no row twice; otherwise nothing is scored and each bad line is named.
--resume needs the same options and the same file.`,
  notes: `With --judge offline, outputs whose line has a "verdict", malformed outputs (reward 0) and math answers
equal to the ground truth are scored; the others are recorded with reward {"error": {"stage": "judge"}}.

Exit codes: 0 every output has a record, 1 a problem with a file (or records missing), 2 bad usage,
130 interrupted.`,
  settings: SETTINGS,
  positionals: true,
  async run(loaded, ctx) {
    const { values, positionals } = loaded;
    if (values.responses === undefined) throw new UsageError('--responses FILE is required');
    const responses = values.responses;
    const data = [...(values.data ?? []), ...positionals];
    if (data.length === 0) throw new UsageError('--data FILE… is required');
    if (values.out === undefined || values.out === '') throw new UsageError('--out RUN_DIR is required');
    const out = values.out;
    const { concurrency, tokenizer } = values;
    const judgeConcurrency = values['judge-concurrency'];
    const judge = await judgeSetup(loaded, judgeConcurrencyOf(loaded, 'judge-concurrency'), ctx.env, (m) =>
      ctx.stderr.write(`${LABEL}: ${m}\n`),
    );

    return interruptible(
      LABEL,
      ctx.stderr,
      async (signal) => {
        const reward = rewardConfigOf(loaded);
        let file: Awaited<ReturnType<typeof readResponsesFile>>;
        try {
          file = await readResponsesFile(responses);
        } catch (err) {
          if (err instanceof LineTooLongError) throw new InputError(err.message);
          throw new InputError(`cannot read ${responses}: ${readFailureReason(err)}`);
        }
        const [counter, dataFiles, allRows] = await Promise.all([
          loadTokenizer(tokenizer),
          expandInputs(data),
          loadRows(data),
        ]);
        const joined = joinResponses(file.lines, allRows, responses);
        if (joined.length === 0) throw new InputError(`${responses}: no responses`);
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
          responses: { file: resolve(responses), sha256: file.sha256 },
          runtime: { concurrency, judgeConcurrency },
        };
        const control = { resume: values.resume, concurrency };
        const context = {
          judge,
          reward,
          counter,
          control,
          signal,
          progress: !values['no-progress'],
          stderr: ctx.stderr,
        };
        const result = await runScored(LABEL, { out, config, rows, produce }, context);
        await writeOut(ctx.stdout, `${metricsTable(result.metrics)}\n`);
        return outcome(LABEL, result, ctx.stderr);
      },
      judge.close,
    );
  },
});
