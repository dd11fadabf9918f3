import { createInterface } from 'node:readline';
import { formatOutcome, formatSteering } from '../assistant/format.js';
import { createSession, type SessionOptions } from '../assistant/session.js';
import type { TurnResult } from '../assistant/turn.js';
import { describedAs, group } from '../config/setting.js';
import { BACKEND } from '../config/settings/backend.js';
import { GENERATION } from '../config/settings/generation.js';
import { JSON_OUTPUT, SHOW_REASONING, TRACE } from '../config/settings/output.js';
import { PROMPT_SETTINGS } from '../config/settings/prompt.js';
import { STEERING } from '../config/settings/steering.js';
import { GtalignError } from '../errors.js';
import { exceedsContext } from '../llm/context-overflow.js';
import { type ChatModel, ChatModelError } from '../llm/types.js';
import {
  asInputError,
  backendChoice,
  backendLine,
  createBackend,
  loadSteering,
  RANDOM_WEIGHTS_NOTE,
  turnFlags,
  turnOptionsOf,
} from './backend-options.js';
import { defineCommand, type OutputStream } from './command.js';
import { InputError, UsageError } from './errors.js';
import { writeOut } from './io.js';
import { unguarded } from './terminal-stream.js';
import { terminalSafe } from './terminal-text.js';

const SETTINGS = [
  BACKEND,
  STEERING,
  PROMPT_SETTINGS,
  GENERATION,
  group('Output', [
    TRACE,
    SHOW_REASONING,
    describedAs(
      JSON_OUTPUT,
      "print each turn's whole result as one JSON object per line:\nquestion, response, action, cell, output, trace, backend\n(a failed turn: question and error)",
    ),
  ]),
] as const;

/**
 * Writes streamed response text to `out`, dropping the whitespace the block starts with; `before` runs
 * once, before its first text (the end of the reasoning, when it was shown).
 */
function responseWriter(
  stdout: OutputStream,
  before: () => void,
): { write(text: string): void; started(): boolean } {
  let started = false;
  return {
    write(text) {
      const out = started ? text : text.replace(/^\s+/, '');
      if (out === '') return;
      if (!started) before();
      started = true;
      stdout.write(terminalSafe(out));
    },
    started: () => started,
  };
}

export interface ChatLoopOptions {
  /** One question per line. */
  input: NodeJS.ReadableStream;
  /** A terminal: prompts go to `output`, and ctrl-c stops the reply in progress (or leaves when idle). */
  tty: boolean;
  output?: NodeJS.WritableStream;
  /** Runs one turn; must stop soon after `signal` aborts. */
  ask(question: string, signal: AbortSignal): Promise<unknown>;
  reset(): void;
  /** Reports a failed turn (one line). */
  report(message: string): void;
}

/**
 * The interactive session: reads questions line by line until `/quit` or the end of input, and returns the
 * exit code (1 when a turn failed). A failed turn (no valid matrix, the server down) is reported and the
 * session goes on. On a terminal, ctrl-c aborts the turn in progress and returns to the prompt; at the
 * prompt it leaves. Without a terminal, ctrl-c is a signal to the process, as for any filter.
 */
export async function chatLoop(options: ChatLoopOptions): Promise<number> {
  const { tty } = options;
  const rl = createInterface({
    input: options.input,
    terminal: tty,
    ...(tty && options.output !== undefined ? { output: options.output } : {}),
  });
  let current: AbortController | undefined;
  // With a terminal, readline reads ctrl-c as a key; without this listener it would only close the input,
  // and the reply in progress would run on to its token limit.
  rl.on('SIGINT', () => {
    if (current === undefined) rl.close();
    else current.abort(new Error('interrupted'));
  });
  if (tty) {
    rl.setPrompt('you> ');
    rl.prompt();
  }
  let failed = 0;
  try {
    for await (const line of rl) {
      const text = line.trim();
      if (text === '/quit' || text === '/exit') break;
      if (text === '/reset') options.reset();
      else if (text !== '') {
        const controller = new AbortController();
        current = controller;
        try {
          await options.ask(text, controller.signal);
        } catch (err) {
          if (controller.signal.aborted) {
            options.report('interrupted; the turn is not kept in the conversation');
          } else {
            const reported = asInputError(err);
            if (!(reported instanceof InputError)) throw err;
            failed++;
            // A conversation grown past the model's context: starting it over is the way on in a session.
            // (the embedded engine's refusal, or a server's in its own words).
            const full = err instanceof ChatModelError && exceedsContext(err);
            options.report(
              full ? `${reported.message}; /reset starts the conversation over` : reported.message,
            );
          }
        } finally {
          current = undefined;
        }
      }
      if (tty) rl.prompt();
    }
  } finally {
    rl.close();
  }
  return failed > 0 ? 1 : 0;
}

export const chatCommand = defineCommand({
  name: 'chat',
  usage: 'Usage: gtalign chat [QUESTION] [options]',
  about: `Answers QUESTION the GTAlign way: the model writes its reasoning and payoff matrix, the pricing
policy edits the matrix, a cell is selected, and the same assistant turn continues from the
edited matrix. Without QUESTION, starts an interactive session (one question per line; /reset
forgets the conversation, /quit or end of input leaves).`,
  notes:
    'Exit codes: 0 ok, 1 a model, policy or backend problem (the message says which), 2 bad usage, 130 interrupted (ctrl-c).',
  settings: SETTINGS,
  positionals: true,
  async run(loaded, ctx) {
    const { values, positionals } = loaded;
    if (positionals.length > 1) {
      throw new UsageError(`expected at most one QUESTION (quote it), got ${positionals.length} words`);
    }
    const turn = turnFlags(loaded);
    const choice = backendChoice(loaded, turn.seed);
    const question = positionals[0];
    if (question !== undefined && question.trim() === '') throw new UsageError('QUESTION is empty');

    let model: ChatModel | undefined;
    try {
      const steering = await loadSteering(turn);
      const { policy } = steering;
      const backend = await createBackend(choice, ctx.env);
      model = backend.model;
      // Which server kind runs and why (detected or given): a line of the trace, a field of each JSON line.
      const backendJson = { ...backend.description, line: backendLine(backend.description) };
      if (values.trace && !values.json) ctx.stdout.write(`${backendJson.line}\n\n`);
      const random = model.randomWeights === true;
      if (random) ctx.stderr.write(`gtalign chat: ${RANDOM_WEIGHTS_NOTE}\n`);
      const options: SessionOptions = { model, ...turnOptionsOf(turn, steering) };
      const session = createSession(options);
      const ask = async (q: string, signal?: AbortSignal): Promise<TurnResult> => {
        const extra = signal === undefined ? {} : { signal };
        if (values.json) {
          // Every question gets a line, its own or its failure's, so a script that pipes N questions reads
          // N lines and knows which one failed (the error is also reported on stderr, as without --json).
          let result: TurnResult;
          try {
            result = await session.ask(q, extra);
          } catch (err) {
            await writeOut(
              ctx.stdout,
              `${JSON.stringify({ question: q, error: jsonFailure(err, signal) })}\n`,
            );
            throw err;
          }
          const line = {
            question: q,
            ...result,
            backend: backendJson,
            ...(random ? { randomWeights: true } : {}),
          };
          await writeOut(ctx.stdout, `${JSON.stringify(line)}\n`);
          return result;
        }
        // The reasoning as it is written (--show-reasoning), ended by a blank line before the response.
        let reasoning = false;
        const endReasoning = (): void => {
          if (reasoning) ctx.stdout.write('\n\n');
          reasoning = false;
        };
        const writer = responseWriter(ctx.stdout, endReasoning);
        let result: TurnResult;
        try {
          result = await session.ask(q, {
            ...extra,
            ...(values.trace
              ? {
                  onSteered: (s) => {
                    endReasoning();
                    ctx.stdout.write(`${formatSteering(s)}\n\n`);
                  },
                }
              : {}),
            onResponseText: (t) => writer.write(t),
            ...(values['show-reasoning']
              ? {
                  onReasoningText: (t: string) => {
                    // After the trace's tables, the analysis starts a paragraph of its own.
                    ctx.stdout.write(terminalSafe(reasoning ? t : t.replace(/^\n+/, '')));
                    reasoning = true;
                  },
                }
              : {}),
          });
        } catch (err) {
          // End the line of a reply cut short (ctrl-c, a dropped connection) before the error is reported.
          if (writer.started()) await writeOut(ctx.stdout, '\n');
          throw err;
        }
        // A backend that delivered nothing while streaming (or a re-ask read for blocks) still gets its text out.
        if (!writer.started()) {
          endReasoning();
          ctx.stdout.write(terminalSafe(result.response));
        }
        if (result.response === '') ctx.stderr.write('gtalign chat: the model wrote an empty <response>\n');
        await writeOut(ctx.stdout, values.trace ? `\n\n${formatOutcome(result)}\n` : '\n');
        return result;
      };

      if (question !== undefined) {
        // Ctrl-c stops the turn (the model request with it) and says so, and the model is closed below.
        const stop = new AbortController();
        const interrupt = () => stop.abort(new Error('interrupted'));
        process.once('SIGINT', interrupt);
        try {
          await ask(question, stop.signal);
        } catch (err) {
          if (!stop.signal.aborted) throw err;
          ctx.stderr.write('gtalign chat: interrupted; the turn was stopped\n');
          return 130;
        } finally {
          process.off('SIGINT', interrupt);
        }
        return 0;
      }
      const tty = ctx.stdin.isTTY === true;
      if (tty) {
        ctx.stderr.write(
          `gtalign chat with ${model.id} (policy ${policy.name ?? policy.kind}); /reset, /quit, ctrl-c stops a reply\n`,
        );
      }
      return await chatLoop({
        input: ctx.stdin,
        tty,
        // readline draws the prompt line with control sequences, and echoes only what the user types.
        ...(tty ? { output: unguarded(ctx.stderr) } : {}),
        ask,
        reset: () => session.reset(),
        report: (message) => ctx.stderr.write(`gtalign chat: ${message}\n`),
      });
    } catch (err) {
      throw asInputError(err);
    } finally {
      await model?.close();
    }
  },
});

/** A failed turn as a `--json` line's `error`: its message and, for gtalign's own errors, its code. */
function jsonFailure(err: unknown, signal: AbortSignal | undefined): { message: string; code?: string } {
  if (signal?.aborted === true) return { message: 'interrupted; the turn was stopped', code: 'interrupted' };
  const message = err instanceof Error ? err.message : String(err);
  return err instanceof GtalignError ? { message, code: err.code } : { message };
}
