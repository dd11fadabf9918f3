/**
 * The playground's two halves of one GTAlign turn, on the library's `runTurn`:
 *
 * - `stage1` runs the turn through a model wrapper that streams stage 1 (thinking + payoff) as it is
 *   written and records each backend call, and stops the turn in `onSteered`, right after the matrix is
 *   parsed, before stage 2. The page then steers that matrix in the browser under any policy.
 * - `stage2` runs the same turn again with the chosen policy through a wrapper that replays the recorded
 *   stage-1 calls (no new stage 1: the same text, the same matrix) and passes stage 2 to the backend, so the
 *   model continues the same assistant turn from the edited matrix. Two policies can continue one stage 1.
 *
 * Stage-1 results are kept in memory (the most recent {@link MAX_KEPT}); nothing is written to disk.
 */
import { randomUUID } from 'node:crypto';
import { runTurn, type TurnOptions, type TurnResult } from '../assistant/turn.js';
import type { ConversationTurn } from '../chain/prompt.js';
import type { PayoffMatrix } from '../game/spec.js';
import type { ChatModel, GenerateRequest, GenerateResult, StreamEvent } from '../llm/types.js';

export const MAX_KEPT = 64;

/** The turn settings the studio was started with (everything but model, question, history, policy). */
export type PlaygroundDefaults = Omit<
  TurnOptions,
  'model' | 'question' | 'history' | 'policy' | 'onResponseText' | 'onSteered' | 'signal'
>;

export interface Stage1Result {
  id: string;
  matrix: PayoffMatrix;
  /** Stage 1's text through `</payoff>`. */
  text: string;
  notes: string[];
}

interface Kept {
  question: string;
  history: ConversationTurn[];
  calls: GenerateResult[];
}

class Stage1Done extends Error {}

/** Collects a stream into a result, forwarding text. */
async function streamed(
  model: ChatModel,
  request: GenerateRequest,
  onText: (text: string) => void,
): Promise<GenerateResult> {
  for await (const event of model.stream(request) as AsyncIterable<StreamEvent>) {
    if (event.type === 'text') onText(event.text);
    else return event.result;
  }
  throw new Error(`${model.id}: the stream ended without a result`);
}

/** A model that streams and records its calls (stage 1). */
function recording(inner: ChatModel, calls: GenerateResult[], onText: (text: string) => void): ChatModel {
  return {
    id: inner.id,
    capabilities: inner.capabilities,
    ...(inner.about === undefined ? {} : { about: inner.about }),
    async generate(request) {
      const result = await streamed(inner, request, onText);
      calls.push(result);
      return result;
    },
    stream: (request) => inner.stream(request),
    close: async () => {},
  };
}

/** A model that answers its first calls from the record and passes the rest to `inner` (stage 2). */
function replaying(inner: ChatModel, calls: readonly GenerateResult[]): ChatModel {
  let next = 0;
  const recorded = (): GenerateResult | undefined => (next < calls.length ? calls[next++] : undefined);
  return {
    id: inner.id,
    capabilities: inner.capabilities,
    ...(inner.about === undefined ? {} : { about: inner.about }),
    async generate(request) {
      return recorded() ?? inner.generate(request);
    },
    async *stream(request) {
      const result = recorded();
      if (result !== undefined) {
        yield { type: 'done', result };
        return;
      }
      yield* inner.stream(request);
    },
    close: async () => {},
  };
}

export interface Playground {
  stage1(
    input: { question: string; history: ConversationTurn[] },
    onText: (text: string) => void,
    signal?: AbortSignal,
  ): Promise<Stage1Result>;
  stage2(
    input: { id: string; policy: NonNullable<TurnOptions['policy']>; rule?: TurnOptions['rule'] },
    onText: (text: string) => void,
    signal?: AbortSignal,
  ): Promise<TurnResult>;
  /**
   * Stage 1 once, then stage 2 under each of `arms` in turn, without keeping anything: what a live study's
   * turn needs (its two continuations never wait on the kept stage 1s, which other users may push out).
   */
  answerWith(
    input: { question: string; history: ConversationTurn[] },
    arms: readonly { policy: NonNullable<TurnOptions['policy']>; rule?: TurnOptions['rule'] }[],
    signal?: AbortSignal,
  ): Promise<{ stage1: Stage1Result; results: TurnResult[] }>;
  /** Whether a stage-1 id is still kept. */
  has(id: string): boolean;
}

export class UnknownStage1Error extends Error {}

export function createPlayground(model: () => Promise<ChatModel>, defaults: PlaygroundDefaults): Playground {
  const kept = new Map<string, Kept>();
  const keep = (id: string, value: Kept): void => {
    kept.set(id, value);
    while (kept.size > MAX_KEPT) kept.delete(kept.keys().next().value as string);
  };
  /** Stage 1 of a turn: its text streams to `onText`; the backend calls are recorded to be replayed. */
  const firstStage = async (
    input: { question: string; history: ConversationTurn[] },
    onText: (text: string) => void,
    signal?: AbortSignal,
  ): Promise<{ result: Omit<Stage1Result, 'id'>; entry: Kept }> => {
    const inner = await model();
    const calls: GenerateResult[] = [];
    let matrix: PayoffMatrix | undefined;
    try {
      await runTurn({
        ...defaults,
        model: recording(inner, calls, onText),
        question: input.question,
        history: input.history,
        policy: { kind: 'none', name: 'none' },
        ...(signal === undefined ? {} : { signal }),
        onSteered: (steering) => {
          matrix = steering.matrixBefore;
          throw new Stage1Done();
        },
      });
    } catch (err) {
      if (!(err instanceof Stage1Done)) throw err;
    }
    if (matrix === undefined) throw new Error('stage 1 ended without a matrix');
    const notes =
      calls.length > 1 ? ['stage 1 gave no valid payoff matrix at first; retried once under a grammar'] : [];
    return {
      result: { matrix, text: calls[calls.length - 1]!.text, notes },
      entry: { question: input.question, history: input.history, calls },
    };
  };
  /** Stage 2 of a recorded stage 1 under `policy`: the same turn, continued from the steered matrix. */
  const secondStage = async (
    entry: Kept,
    arm: { policy: NonNullable<TurnOptions['policy']>; rule?: TurnOptions['rule'] },
    onText: (text: string) => void,
    signal?: AbortSignal,
  ): Promise<TurnResult> => {
    const inner = await model();
    return runTurn({
      ...defaults,
      ...(arm.rule === undefined ? {} : { rule: arm.rule }),
      model: replaying(inner, entry.calls),
      question: entry.question,
      history: entry.history,
      policy: arm.policy,
      onResponseText: onText,
      ...(signal === undefined ? {} : { signal }),
    });
  };
  return {
    has: (id) => kept.has(id),
    async stage1(input, onText, signal) {
      const { result, entry } = await firstStage(input, onText, signal);
      const id = randomUUID();
      keep(id, entry);
      return { id, ...result };
    },
    async stage2(input, onText, signal) {
      const entry = kept.get(input.id);
      if (entry === undefined)
        throw new UnknownStage1Error(`no stage 1 with id ${input.id} (restarted, or too old)`);
      return secondStage(entry, input, onText, signal);
    },
    async answerWith(input, arms, signal) {
      const quiet = (): void => {};
      const { result, entry } = await firstStage(input, quiet, signal);
      const results: TurnResult[] = [];
      for (const arm of arms) results.push(await secondStage(entry, arm, quiet, signal));
      return { stage1: { id: randomUUID(), ...result }, results };
    },
  };
}
