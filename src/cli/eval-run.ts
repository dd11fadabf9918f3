import { givenAsFlag } from '../config/load.js';
import { group } from '../config/setting.js';
import { BACKEND } from '../config/settings/backend.js';
import { MODE, RUN } from '../config/settings/eval.js';
import { GENERATION } from '../config/settings/generation.js';
import { JUDGE } from '../config/settings/judge.js';
import { PROMPT_SETTINGS } from '../config/settings/prompt.js';
import { REWARD } from '../config/settings/reward.js';
import { SIM } from '../config/settings/sim.js';
import { STEERING } from '../config/settings/steering.js';
import type { ChatModel } from '../llm/types.js';
import { backendChoice, loadSteering, turnFlags } from './backend-options.js';
import { defineCommand } from './command.js';
import {
  closeModelAndJudge,
  interruptible,
  loadGenerationInputs,
  metricsTable,
  outcome,
  producerFor,
  runConfig,
  runFlags,
  runScored,
  scoringContext,
} from './eval-common.js';
import { checkSimFlags, runConversations } from './eval-conversation.js';
import { writeOut } from './io.js';
import { judgeConcurrencyOf, judgeSetup, rewardConfigOf } from './judge-options.js';
import { givenSetting, settingConflict } from './setting-conflict.js';

const LABEL = 'gtalign eval run';

const SETTINGS = [
  group(RUN.title, [...RUN.settings, MODE]),
  BACKEND,
  STEERING,
  PROMPT_SETTINGS,
  GENERATION,
  JUDGE,
  REWARD,
  SIM,
] as const;

/** Raw mode sends the row's prompt as is: steering and grammar flags would be silently ignored. */
const ASSISTANT_ONLY = [
  'policy',
  'profile',
  'rule',
  'analysis',
  'continuation',
  'max-chars',
  'no-grammar',
  'prompt',
  'prompt-from',
] as const;

export const evalRunCommand = defineCommand({
  name: 'eval run',
  usage: 'Usage: gtalign eval run --data FILE… --out RUN_DIR [options]',
  about: `Runs a model over data-set rows, scores every output with the mutual-welfare reward, and keeps it all
in a run folder that survives a crash: each finished row is one line of RUN_DIR/results.jsonl, written
and flushed to disk before the next is acknowledged; --resume skips every row already there, and judges
again from its stored output a record whose judge call failed (a later line with "supersedes" replaces
the record once it is scored). At the end
RUN_DIR/metrics.json holds the paper's metrics per data source and overall, and a table is printed.

Modes (--mode):
  assistant (default)      one GTAlign turn per row: stage 1 to </payoff>, the pricing policy edits the
                           matrix, a cell is selected, stage 2 continues the same turn. Stage 1 sends
                           the row's own prompt messages (--prompt row, the default), so a checkpoint
                           trained on the data runs on its own distribution; --prompt gtalign or
                           --prompt-from FILE build it from the row's question and conversation: the
                           last user message of extra_info.chat_history and the messages before it
                           (else single_turn_prompt, else the prompt's last user message)
  raw                      the row's own prompt messages (they hold the four-block instruction) in one
                           request; the output is scored as the model wrote it

An output without a valid payoff matrix or <response> is recorded and scored (reward 0: the format
score counts it). A backend failure leaves the row without a record (see RUN_DIR/errors.jsonl); --resume
generates it again.

Conversations (--turns N): each row, once per --persona, becomes a conversation with a simulated user
(a model given the persona and a hidden intent from the row) that answers the assistant's questions, until
the assistant answers, the user stops, or N assistant turns; RUN_DIR/turns.jsonl keeps every finished
turn (--resume goes on inside a conversation, and judges again from its stored output a turn whose
judge call failed), results.jsonl one scored record per conversation (a later line with "supersedes"
replaces it once such a turn is scored), and metrics.json the conversation metrics under
"conversations" (see the README).

Verdicts: --judge-url URL --judge-model NAME asks a judge (OpenAI-compatible) for each output. With
--judge offline no judge is called: outputs that need no verdict are scored (malformed outputs get 0,
math answers equal to the ground truth get 1), the others are recorded with reward
{"error": {"stage": "judge", "reason": "no-judge"}}; score them later with
  gtalign eval score --responses RUN_DIR/results.jsonl --data … --out NEW_DIR --judge-url …`,
  notes: `Exit codes: 0 every row has a record (metrics.json written), 1 incomplete (backend failures, a stop)
or a problem with a file or the backend, 2 bad usage, 130 interrupted (--resume finishes the run).`,
  settings: SETTINGS,
  positionals: true,
  async run(loaded, ctx) {
    const { values } = loaded;
    const flags = runFlags(loaded, values['judge-concurrency'], loaded.positionals);
    const { mode } = values;
    if (mode === 'raw') {
      const unused = ASSISTANT_ONLY.filter((name) => givenAsFlag(loaded, name));
      if (unused.length > 0) {
        const list = unused.map((f) => `--${f}`).join(', ');
        throw settingConflict(
          [givenSetting(loaded, 'mode', 'eval.mode', true)],
          (m) => `${list} ${unused.length === 1 ? 'goes' : 'go'} with --mode assistant, not ${m}`,
        );
      }
    }
    const turn = turnFlags(loaded, 'eval');
    const choice = backendChoice(loaded, turn.seed);
    checkSimFlags(loaded, mode, choice);
    const judge = await judgeSetup(loaded, judgeConcurrencyOf(loaded, 'judge-concurrency'), ctx.env, (m) =>
      ctx.stderr.write(`${LABEL}: ${m}\n`),
    );

    let model: ChatModel | undefined;
    return interruptible(
      LABEL,
      ctx.stderr,
      async (signal) => {
        const reward = rewardConfigOf(loaded);
        const steering = await loadSteering(turn);
        const { counter, dataFiles, rows, backend } = await loadGenerationInputs(
          flags,
          choice,
          ctx.env,
          (m) => ctx.stderr.write(`${LABEL}: ${m}\n`),
        );
        model = backend.model;
        const { produce, generation } = producerFor(mode, backend.model, turn, steering);
        if (values.turns !== undefined) {
          const inputs = { counter, dataFiles, rows, backend, generation, judge, reward, signal };
          return runConversations({
            label: LABEL,
            loaded,
            flags,
            mode,
            turn,
            steering,
            choice,
            env: ctx.env,
            stdout: ctx.stdout,
            stderr: ctx.stderr,
            ...inputs,
          });
        }
        const config = runConfig({
          flags,
          out: flags.out,
          dataFiles,
          mode,
          backend: backend.description,
          generation,
          judge,
          reward,
          counter,
        });
        const context = scoringContext(flags, { judge, reward, counter, signal, stderr: ctx.stderr });
        const result = await runScored(LABEL, { out: flags.out, config, rows, produce }, context);
        await writeOut(ctx.stdout, `${metricsTable(result.metrics)}\n`);
        return outcome(LABEL, result, ctx.stderr);
      },
      closeModelAndJudge(() => model, judge),
    );
  },
});
