/**
 * `npm run demo`: one question answered the GTAlign way on the local backend under several pricing policies,
 * with the trace tables. Uses $GTALIGN_MODEL or the model pulled by `gtalign models pull`; without one it
 * generates a tiny random-weights model, so the whole pipeline runs on a fresh clone with no download.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { formatTrace } from '../assistant/format.js';
import { defaultModelsDir, ModelNotFoundError, resolveModelPath } from '../assistant/models.js';
import { writeTinyModel } from '../assistant/tiny-model.js';
import { RANDOM_WEIGHTS_GRAMMAR, runTurn, type TurnOptions } from '../assistant/turn.js';
import { DINOSAUR_MATRIX } from '../game/paper-example.js';
import { selectCell } from '../game/select.js';
import { createLocalModel } from '../llm/local.js';
import type { ChatModel } from '../llm/types.js';
import { steeredMatrix } from '../steering/apply.js';
import { compilePolicy } from '../steering/compile.js';
import { PRESETS, type PresetName } from '../steering/presets.js';
import { guardTerminal } from './terminal-stream.js';

const QUESTION = 'When did dinosaurs first appear?';

export interface DemoOptions {
  /** Policies to run, in order (default subscription, api, paper-api, paper-subscription). */
  policies?: readonly PresetName[];
  /** Force the tiny random model even when a real one is available. */
  tiny?: boolean;
  write?: (text: string) => void;
  /** Stops the turn in progress; the generated model is removed all the same. */
  signal?: AbortSignal;
  /** Where $GTALIGN_MODEL and the cache folder are read from (default process.env). */
  env?: Readonly<Record<string, string | undefined>>;
}

export async function runDemo(options: DemoOptions = {}): Promise<void> {
  // A real model's text goes to the terminal too: its control characters are shown, not obeyed.
  const stdout = guardTerminal(process.stdout);
  const write = options.write ?? ((text: string) => stdout.write(text));
  const policies = options.policies ?? (['subscription', 'api', 'paper-api', 'paper-subscription'] as const);
  let modelPath: string | undefined;
  if (!options.tiny) {
    try {
      modelPath = (await resolveModelPath({ env: options.env ?? process.env })).path;
    } catch (err) {
      if (!(err instanceof ModelNotFoundError)) throw err;
    }
  }
  const tiny = modelPath === undefined;
  // Generated afresh for each run (it takes well under a second) and removed afterwards, so a model file left
  // by another version of the generator can never be picked up.
  const tinyDir = tiny ? await mkdtemp(join(tmpdir(), 'gtalign-demo-')) : undefined;
  if (tinyDir !== undefined) {
    // The model of `gtalign models tiny`, flagged as of random weights (the engine and the turn read the flag).
    modelPath = (await writeTinyModel(tinyDir)).path;
    write(
      [
        options.tiny
          ? 'Forced to the tiny model.'
          : `No local model found ($GTALIGN_MODEL is not set and ${defaultModelsDir(options.env)} holds no .gguf file).`,
        "Run 'gtalign models pull' (or set GTALIGN_MODEL to a GGUF file) to see real answers; without internet,",
        "'gtalign models tiny' saves this random model in the cache, so 'gtalign chat \"…\"' runs offline too.",
        'Running instead on a tiny model generated for this run, with RANDOM weights:',
        'its text is random because its weights are, but everything around it is real: the grammar keeps',
        'the four-block format, the matrix is parsed and steered, and stage 2 continues the same turn in the',
        'same KV cache. The model writes one matrix (same prompt, same seed); each policy steers it differently.',
        '',
        '',
      ].join('\n'),
    );
  } else {
    write(`Model: ${modelPath}\n\n`);
  }
  let model: ChatModel;
  try {
    options.signal?.throwIfAborted();
    model = await createLocalModel({
      modelPath: modelPath!,
      threads: tiny ? 1 : Math.min(4, availableParallelism()),
      seed: 1,
    });
  } catch (err) {
    if (tinyDir !== undefined) await rm(tinyDir, { recursive: true, force: true });
    throw err;
  }
  // The offline model from the cache (gtalign models tiny) is random too: same settings, same warnings.
  const random = tiny || model.randomWeights === true;
  if (!tiny && random)
    write('This model has RANDOM weights (gtalign models tiny): its text means nothing.\n\n');
  try {
    const base: Omit<TurnOptions, 'policy'> = random
      ? {
          model,
          question: QUESTION,
          // Short blocks keep the random text readable and the demo fast (every turn on such a model
          // gets them); one integer digit keeps payoffs within ±9.9, where the policies' edits tell.
          grammar: RANDOM_WEIGHTS_GRAMMAR,
          maxTokens: 400,
          temperature: 1,
          seed: 7,
        }
      : { model, question: QUESTION, maxTokens: 768, temperature: 0.7, seed: 7 };
    const picks: string[] = [];
    for (const name of policies) {
      write(`=== policy ${name}: ${PRESETS[name].description ?? ''}\n`);
      write(`Question: ${QUESTION}\n\n`);
      const result = await runTurn({
        ...base,
        policy: PRESETS[name],
        ...(options.signal === undefined ? {} : { signal: options.signal }),
      });
      write(`${formatTrace(result)}\n\n`);
      const stage1 = result.trace.stages.find((s) => s.name !== 'stage2');
      const stage2 = result.trace.stages.find((s) => s.name === 'stage2');
      if (stage1 !== undefined && stage2 !== undefined) {
        write(
          `Stage 2 evaluated ${stage2.promptTokens - stage2.cachedPromptTokens} of its ${stage2.promptTokens} prompt tokens; ` +
            `the other ${stage2.cachedPromptTokens} came from stage 1's KV cache.\n`,
        );
      }
      // Random bytes may hold control characters: show them escaped.
      write(`Response: ${random ? `${JSON.stringify(result.response)} (random text)` : result.response}\n\n`);
      picks.push(`${name} → ${result.cell}`);
    }
    write(
      `Summary: ${picks.join(', ')}.\n` +
        'Under the sum rule a per-token price paid by the user to the provider is a transfer: it cancels in\n' +
        "LLM + user, so 'subscription' and 'api' differ only in how the payoffs are split (try --rule product\n" +
        "with 'gtalign chat'); the paper's fixed edits move the sum itself.\n",
    );
    if (random) {
      // Random payoffs are far apart, so the policies' edits (a few tenths) seldom move the pick; on the
      // paper's own matrix they do, which is what steering is for.
      const paper = policies.map((name) => {
        const after = steeredMatrix(DINOSAUR_MATRIX, compilePolicy(PRESETS[name]));
        return `${name} → ${selectCell(after, 'sum').selected[0]}`;
      });
      write(
        `On the paper's worked example (GTALIGN.md §5: its matrix, no edits → ${selectCell(DINOSAUR_MATRIX, 'sum').selected[0]}), ` +
          `the same policies pick: ${paper.join(', ')}.\n`,
      );
    }
  } finally {
    await model.close();
    if (tinyDir !== undefined) await rm(tinyDir, { recursive: true, force: true });
  }
}

/**
 * Runs the demo until it ends or ctrl-c stops it: the turn in progress stops and the generated model is
 * removed (the default SIGINT would kill the process first). Every ctrl-c, not just the first: under
 * `npm run demo`, tsx relays the terminal's signal once more. Resolves 0, or 130 when interrupted.
 */
export async function runDemoInterruptibly(
  options: Omit<DemoOptions, 'signal'>,
  stderr: (text: string) => void,
): Promise<number> {
  const stop = new AbortController();
  const interrupt = () => stop.abort(new Error('interrupted'));
  process.on('SIGINT', interrupt);
  try {
    await runDemo({ ...options, signal: stop.signal });
    return 0;
  } catch (err) {
    if (!stop.signal.aborted) throw err;
    stderr('demo interrupted\n');
    return 130;
  } finally {
    process.off('SIGINT', interrupt);
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  runDemoInterruptibly({}, (text) => process.stderr.write(text)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`demo failed: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
