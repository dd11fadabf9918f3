import { join } from 'node:path';
import { givenAsFlag } from '../config/load.js';
import { describedAs, group, withDefault } from '../config/setting.js';
import { BACKEND } from '../config/settings/backend.js';
import { MODE, POLICY_PARAM, RUN } from '../config/settings/eval.js';
import { GENERATION } from '../config/settings/generation.js';
import { JUDGE } from '../config/settings/judge.js';
import { PROMPT_SETTINGS } from '../config/settings/prompt.js';
import { REWARD } from '../config/settings/reward.js';
import { SIM } from '../config/settings/sim.js';
import { ANALYSIS, CONTINUATION, POLICY, PROFILE, RULE } from '../config/settings/steering.js';
import type { Metrics } from '../eval/metrics.js';
import { conversationSweepTable } from '../eval/report/conversation-tables.js';
import { tableToText } from '../eval/report/table.js';
import {
  type ParamRange,
  parseParamRange,
  planSweep,
  SweepError,
  type SweepFile,
  writeSweep,
} from '../eval/sweep.js';
import { paperLength } from '../eval/tokens.js';
import type { ChatModel } from '../llm/types.js';
import { backendChoice, loadSteering, turnFlags } from './backend-options.js';
import { defineCommand } from './command.js';
import { InputError, UsageError } from './errors.js';
import {
  closeModelAndJudge,
  formatTable,
  interruptible,
  loadGenerationInputs,
  num,
  outcome,
  pct,
  producerFor,
  runConfig,
  runFlags,
  runScored,
  scoringContext,
} from './eval-common.js';
import { checkSimFlags, evaluateConversationRun, type SimSetup, simSetup } from './eval-conversation.js';
import { writeOut } from './io.js';
import { judgeConcurrencyOf, judgeSetup, rewardConfigOf } from './judge-options.js';
import { givenSetting, settingConflict } from './setting-conflict.js';

const LABEL = 'gtalign eval sweep';

const SETTINGS = [
  group('Sweep', [POLICY_PARAM]),
  group(RUN.title, [
    ...RUN.settings,
    describedAs(MODE, 'assistant: the only mode a sweep can use (raw mode has no steering)'),
  ]),
  BACKEND,
  group('Steering', [
    withDefault(POLICY, 'api', 'the pricing policy the swept values are set in'),
    PROFILE,
    RULE,
    ANALYSIS,
    CONTINUATION,
  ]),
  PROMPT_SETTINGS,
  GENERATION,
  JUDGE,
  REWARD,
  SIM,
] as const;

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
      // Every output's total length (reasoning + response): known without a verdict, like the action mix
      // (see metrics.ts).
      num(paperLength(g.output_tokens ?? g.tokens), 0),
      num(g.welfare),
      num(g.user_welfare),
      num(g.llm_welfare),
      num(g.answer_score),
    ]);
  }
  const table = formatTable(rows);
  // A conversation sweep: how the price moves the turns and the final accuracy.
  const conversations = conversationSweepTable(sweep.param, sweep.points);
  return conversations === undefined
    ? table
    : `${table}\n\nConversations (mean per conversation; correct = final answer against the held intent)\n${tableToText(conversations).trimEnd()}`;
}

export const evalSweepCommand = defineCommand({
  name: 'eval sweep',
  usage: 'Usage: gtalign eval sweep --data FILE… --out DIR --policy-param NAME=FROM:TO:STEPS […] [options]',
  about: `Runs the same rows under a range of pricing-policy values: one run folder per value (DIR/NAME=VALUE,
each a resumable 'gtalign eval run' folder), then DIR/sweep.json with every point's metrics, and
prints the action mix, tokens and welfare against the value.

Under the default sum rule a per-token price the user pays the provider is a transfer: it moves the
user's and the provider's payoffs by the same amount in opposite directions and changes no choice.
Sweep a real cost (computeCostPerMillion, userTimeCostPerTurn) or use a rule that weighs the user
(--rule) to see the mix move. Fields given as defaults move only when swept: sweeping
computeCostPerMillion leaves computeCostPerMillionInput as the base policy has it.

With --turns N (and the simulated-user flags of 'eval run --turns') every point is a conversation run:
each row, once per --persona, a conversation with a simulated user, and the summary adds per point the
mean turns, the share answered, the turns to the answer, the final-answer correctness against the
user's held intent, the user's tokens and W_γ: how the price moves the number of turns and the final
accuracy.`,
  notes: `Exit codes: 0 every point complete (sweep.json written), 1 a point incomplete or a problem with a file
or the backend, 2 bad usage, 130 interrupted (--resume finishes the sweep).`,
  settings: SETTINGS,
  positionals: true,
  async run(loaded, ctx) {
    const { values } = loaded;
    const flags = runFlags(loaded, values['judge-concurrency'], loaded.positionals);
    // A sweep runs assistant turns only; `raw` from the settings file or the environment is eval run's.
    if (values.mode === 'raw' && givenAsFlag(loaded, 'mode'))
      throw new UsageError('a sweep varies the steering of the assistant turn; --mode raw has none');
    const mode = 'assistant' as const;
    const turn = turnFlags(loaded, 'eval');
    const choice = backendChoice(loaded, turn.seed);
    checkSimFlags(loaded, mode, choice);
    const judge = await judgeSetup(loaded, judgeConcurrencyOf(loaded, 'judge-concurrency'), ctx.env, (m) =>
      ctx.stderr.write(`${LABEL}: ${m}\n`),
    );
    const specs = values['policy-param'] ?? [];
    if (specs.length === 0) throw new UsageError('--policy-param NAME=FROM:TO:STEPS is required');
    let ranges: ParamRange[];
    try {
      ranges = specs.map(parseParamRange);
    } catch (err) {
      if (err instanceof SweepError) {
        // Ranges from the settings file are named by its key, not by a flag the user did not type.
        throw settingConflict([givenSetting(loaded, 'policy-param', 'evalSweep.policyParam')], (p) =>
          p === '--policy-param' ? err.message : `${p}: ${err.message.replace(/^--policy-param /, '')}`,
        );
      }
      throw err;
    }

    let model: ChatModel | undefined;
    let sim: SimSetup | undefined;
    const closeModel = closeModelAndJudge(() => model, judge);
    return interruptible(
      LABEL,
      ctx.stderr,
      async (signal) => {
        const reward = rewardConfigOf(loaded);
        const base = await loadSteering(turn);
        let plan: ReturnType<typeof planSweep>;
        try {
          plan = planSweep(base.policy, ranges);
        } catch (err) {
          if (err instanceof SweepError) throw new InputError(err.message);
          throw err;
        }
        const { counter, dataFiles, rows, backend } = await loadGenerationInputs(
          flags,
          choice,
          ctx.env,
          (m) => ctx.stderr.write(`${LABEL}: ${m}\n`),
        );
        model = backend.model;
        // Conversations: one simulated-user setup (and user model) for every point.
        if (values.turns !== undefined) sim = await simSetup({ loaded, backend, choice, env: ctx.env });
        const context = scoringContext(flags, { judge, reward, counter, signal, stderr: ctx.stderr });
        const sweep: SweepFile = {
          param: ranges[0]!.name,
          params: ranges,
          policy: base.policy.name ?? turn.policyRef,
          points: [],
        };
        for (const point of plan) {
          const out = join(flags.out, point.run);
          const { produce, generation } = producerFor(mode, backend.model, turn, {
            ...base,
            policy: point.policy,
          });
          const pointFlags = {
            ...flags,
            ...(flags.name === undefined ? {} : { name: `${flags.name} ${point.run}` }),
          };
          const extra = { sweep: { param: sweep.param, value: point.value, values: point.values } };
          const label = `${LABEL} ${point.run}`;
          const inputs = { flags: pointFlags, dataFiles, mode, generation, judge, reward, counter, extra };
          const result =
            sim === undefined
              ? await runScored(
                  label,
                  { out, config: runConfig({ ...inputs, out, backend: backend.description }), rows, produce },
                  context,
                )
              : await evaluateConversationRun(
                  {
                    ...inputs,
                    label,
                    out,
                    turn,
                    steering: { ...base, policy: point.policy },
                    backend,
                    rows,
                    signal,
                    stderr: ctx.stderr,
                  },
                  sim,
                );
          const code = outcome(label, result, ctx.stderr);
          if (code !== 0) return code;
          sweep.points.push({
            value: point.value,
            values: point.values,
            run: point.run,
            metrics: result.metrics,
          });
        }
        const path = await writeSweep(flags.out, sweep);
        ctx.stderr.write(`${LABEL}: wrote ${path}\n`);
        await writeOut(ctx.stdout, `${sweepTable(sweep)}\n`);
        return 0;
      },
      async () => {
        await sim?.close();
        await closeModel();
      },
    );
  },
});
