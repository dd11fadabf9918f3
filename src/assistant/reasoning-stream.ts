/**
 * The model's reasoning as a stream of its own, for clients that show it apart from the answer (the
 * `reasoning_content` of reasoning models): the `<thinking>` text as stage 1 writes it, then the
 * `<analyze>` text (the model's as stage 2 writes it, or gtalign's when the solver writes it). The payoff
 * matrix is not part of it: steering may change it, and the turn's trace holds both versions.
 *
 * Each block's text is trimmed as {@link reasoningOf} trims it (leading whitespace dropped, trailing held
 * until more text follows) and blocks are joined by a blank line, so that, unless stage 1 was retried,
 * the streamed text is exactly {@link reasoningOf} of the turn's output. A retried stage 1's thinking is
 * streamed too, as a block of its own: the client saw the first attempt already.
 */
import { type BlockName, extractBlocks } from '../chain/blocks.js';
import { createBlockStream } from '../chain/stream.js';
import { createTrimmedEmitter, type TrimmedEmitter } from './turn-json.js';

/** The blocks a reasoning stream carries, in the order a turn writes them. */
const REASONING_BLOCKS: readonly BlockName[] = ['thinking', 'analyze'];

const SEPARATOR = '\n\n';

/** The reasoning of a whole four-block output: its `<thinking>` and `<analyze>` texts, trimmed. */
export function reasoningOf(output: string): string {
  const { blocks } = extractBlocks(output);
  return REASONING_BLOCKS.map((name) => blocks[name]?.content.trim() ?? '')
    .filter((text) => text !== '')
    .join(SEPARATOR);
}

export interface ReasoningStream {
  /**
   * A stage's raw text, piece by piece: only the text of `blocks` in it is streamed, and nothing after
   * the block `until` closes (stage 1 ends at `</payoff>`, even from a server that ignores the stop).
   */
  stage(blocks: readonly BlockName[], until?: BlockName): { push(text: string): void; end(): void };
  /** A whole block written by gtalign rather than the model (the solver's analysis). */
  block(text: string): void;
}

export function createReasoningStream(emit: (text: string) => void): ReasoningStream {
  /** Whether any block's text went out (the next block then starts after a blank line). */
  let any = false;
  /** The open block, trimmed as a response is (leading whitespace dropped, trailing held). */
  let current: TrimmedEmitter | undefined;
  const open = (): void => {
    let first = true;
    current = createTrimmedEmitter((body) => {
      emit(first && any ? SEPARATOR + body : body);
      first = false;
      any = true;
    });
  };
  const text = (piece: string): void => current?.push(piece);
  return {
    stage(blocks, until) {
      const parser = createBlockStream();
      let over = false;
      const feed = (events: ReturnType<typeof parser.push>): void => {
        for (const e of events) {
          if (over) return;
          if (e.type === 'close' && e.block === until) over = true;
          else if (e.type === 'open' && blocks.includes(e.block)) open();
          else if (e.type === 'text' && e.block !== null && blocks.includes(e.block)) text(e.text);
        }
      };
      return { push: (piece) => feed(parser.push(piece)), end: () => feed(parser.end()) };
    },
    block(whole) {
      open();
      text(whole);
    },
  };
}
