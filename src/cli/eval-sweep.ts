import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { expandInputs } from '../data/load.js';
import type { Metrics } from '../eval/metrics.js';
import {
  type ParamRange,
  parseParamRange,
  planSweep,
  SWEEPABLE_FIELDS,
  SweepError,
  type SweepFile,
  writeSweep,
} from '../eval/sweep.js';
import type { ChatModel } from '../llm/types.js';
import { usageErrors } from './args.js';
import {
  BACKEND_HELP,
  BACKEND_OPTIONS,
  createBackend,
  GENERATION_HELP,
  GENERATION_OPTIONS,
  loadSteering,
  oneOf,
  parseBackendFlags,
  parseTurnFlags,
  STEERING_HELP,
  STEERING_OPTIONS,
} from './backend-options.js';
import type { Command } from './command.js';
import { InputError, UsageError } from './errors.js';
import {
  asEvalInputError,
  evaluateWithProgress,
  formatTable,
  interruptSignal,
  loadSelectedRows,
  loadTokenizer,
  MODES,
  num,
  outcome,
  parseRunFlags,
  pct,
  producerFor,
  RUN_HELP,
  RUN_OPTIONS,
  runConfig,
  scoringOf,
} from './eval-common.js';
import { writeOut } from './io.js';
import {
  JUDGE_OPTIONS,
  judgeFromFlags,
  judgeHelp,
  loadRewardConfig,
  REWARD_OPTIONS,
} from './judge-options.js';

const LABEL = 'gtalign eval sweep';

const HELP = `Usage: gtalign eval sweep --data FILE… --out DIR --policy-param NAME=FROM:TO:STEPS […] [options]

Runs the same rows under a range of pricing-policy values: one run folder per value (DIR/NAME=VALUE,
each a resumable 'gtalign eval run' folder), then DIR/sweep.json with every point's metrics, and
prints the action mix, tokens and welfare against the value.

  --policy-param NAME=FROM:TO:STEPS
                           a field of the pricing policy and STEPS evenly spaced values from FROM to TO,
                           ends included (e.g. computeCostPerMillion=0:12:7). Fields:
                           ${SWEEPABLE_FIELDS.slice(0, 3).join(', ')},
                           ${SWEEPABLE_FIELDS.slice(3).join(', ')}.
                           Several --policy-param move together (same STEPS): point i sets each to its
                           i-th value
  --policy NAME|FILE       the pricing policy the values are set in (default api)

Under the default sum rule a per-token price the user pays the provider is a transfer: it moves the
user's and the provider's payoffs by the same amount in opposite directions and changes no choice.
Sweep a real cost (computeCostPerMillion, userTimeCostPerTurn) or use a rule that weighs the user
(--rule) to see the mix move. Fields given as defaults move only when swept: sweeping
computeCostPerMillion leaves computeCostPerMillionInput as the base policy has it.

${RUN_HELP}  --mode assistant         the only mode a sweep can use (raw mode has no steering)
  --judge-concurrency N    judge calls in flight (default 16)

${BACKEND_HELP}
${STEERING_HELP}
${GENERATION_HELP}
${judgeHelp('')}
Exit codes: 0 every point complete (sweep.json written), 1 a point incomplete or a problem with a file
or the backend, 2 bad usage, 130 interrupted (--resume finishes the sweep).
`;

/** The sweep's table: one line per point. */
export function sweepTable(sweep: SweepFile): string {
  const rows = [[sweep.param, 'n', 'DA', 'CQ', 'AQ', 'unknown', 'tokens', 'W', 'U', 'L', 'answer']];
  for (const p of sweep.points) {
    const g: Metrics['overall'] = p.metrics.overall;
    const shares = g.action_mix.overall.shares;
    rows.push([
      String(p.value),
      String(g.n),
      pct(shares.DA),
      pct(shares.CQ),
      pct(shares.AQ),
      // Records without a known action, so that the shares add up to 100%.
      pct(shares.unknown),
      // Every output's length: known without a verdict, like the action mix (see metrics.ts).
      num((g.output_tokens ?? g.tokens)?.total, 0),
      num(g.welfare),
      num(g.user_welfare),
      num(g.llm_welfare),
      num(g.answer_score),
    ]);
  }
  return formatTable(rows);
}

export const evalSweepCommand: Command = {
  name: 'eval sweep',
  summary: 'run the same rows under a range of pricing-policy values (action mix, tokens, welfare)',
  help: HELP,
  async run(args) {
    const { values, positionals } = usageErrors(() =>
      parseArgs({
        args,
        allowPositionals: true,
        options: {
          ...RUN_OPTIONS,
          ...BACKEND_OPTIONS,
          ...STEERING_OPTIONS,
          ...GENERATION_OPTIONS,
          ...JUDGE_OPTIONS,
          ...REWARD_OPTIONS,
          'policy-param': { type: 'string', multiple: true },
        },
      }),
    );
    const flags = parseRunFlags(values, positionals);
    const mode = oneOf('mode', values.mode, MODES, 'assistant');
    if (mode === 'raw')
      throw new UsageError('a sweep varies the steering of the assistant turn; --mode raw has none');
    const turn = parseTurnFlags({ ...values, policy: values.policy ?? 'api' });
    const backendChoice = parseBackendFlags(values, turn.seed);
    const judge = judgeFromFlags(values, flags.judgeConcurrency);
    const specs = values['policy-param'] ?? [];
    if (specs.length === 0) throw new UsageError('--policy-param NAME=FROM:TO:STEPS is required');
    let ranges: ParamRange[];
    try {
      ranges = specs.map(parseParamRange);
    } catch (err) {
      if (err instanceof SweepError) throw new UsageError(err.message);
      throw err;
    }

    let model: ChatModel | undefined;
    const interrupt = interruptSignal(LABEL);
    try {
      const reward = await loadRewardConfig(values.config, values.aggregate, values.alpha);
      const base = await loadSteering(turn);
      let plan: ReturnType<typeof planSweep>;
      try {
        plan = planSweep(base.policy, ranges);
      } catch (err) {
        if (err instanceof SweepError) throw new InputError(err.message);
        throw err;
      }
      const [counter, dataFiles, rows] = await Promise.all([
        loadTokenizer(flags.tokenizer),
        expandInputs(flags.data),
        loadSelectedRows(flags),
      ]);
      const backend = await createBackend(backendChoice);
      model = backend.model;
      const sweep: SweepFile = {
        param: ranges[0]!.name,
        params: ranges,
        policy: base.policy.name ?? turn.policyRef,
        points: [],
      };
      for (const point of plan) {
        const out = join(flags.out, point.run);
        const { produce, generation } = producerFor(mode, model, turn, {
          policy: point.policy,
          ...(base.profile === undefined ? {} : { profile: base.profile }),
        });
        const config = runConfig({
          flags: { ...flags, ...(flags.name === undefined ? {} : { name: `${flags.name} ${point.run}` }) },
          out,
          dataFiles,
          mode,
          backend: backend.description,
          generation,
          judge,
          reward,
          counter,
          extra: { sweep: { param: sweep.param, value: point.value, values: point.values } },
        });
        const label = `${LABEL} ${point.run}`;
        const result = await evaluateWithProgress(
          label,
          {
            out,
            config,
            rows,
            produce,
            scoring: scoringOf(judge, reward),
            tokenCounter: counter,
            resume: flags.resume,
            concurrency: flags.concurrency,
            maxFailures: flags.maxFailures,
            signal: interrupt.signal,
          },
          flags.progress,
        );
        const code = outcome(label, result);
        if (code !== 0) return code;
        sweep.points.push({
          value: point.value,
          values: point.values,
          run: point.run,
          metrics: result.metrics,
        });
      }
      const path = await writeSweep(flags.out, sweep);
      process.stderr.write(`${LABEL}: wrote ${path}\n`);
      await writeOut(`${sweepTable(sweep)}\n`);
      return 0;
    } catch (err) {
      throw asEvalInputError(err);
    } finally {
      interrupt.dispose();
      await model?.close();
    }
  },
};
