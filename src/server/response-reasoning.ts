/**
 * The Responses API's reasoning item, for `gtalign.reasoning: "separate"`: the turn's reasoning (thinking,
 * then analysis; assistant/reasoning-stream.ts) as a `reasoning` output item with one `reasoning_text`
 * part, ahead of the message (shapes of the official `openai` package's types, 6.49.0:
 * `ResponseReasoningItem`, `response.reasoning_text.delta` and `.done`). Its events, live or replayed:
 * `output_item.added`, `content_part.added`, `reasoning_text.delta`…, `reasoning_text.done`,
 * `content_part.done`, `output_item.done`, all at `output_index` 0.
 */

import { isPlainObject, kindOf } from './body-check.js';
import { badRequest } from './errors.js';

export interface ResponseReasoningText {
  type: 'reasoning_text';
  text: string;
}

export interface ResponseReasoningItem {
  id: string;
  type: 'reasoning';
  summary: never[];
  content: ResponseReasoningText[];
  status: 'in_progress' | 'completed' | 'incomplete';
}

/**
 * The text of a reasoning item a client adds to a conversation: its `reasoning_text` parts, joined. What
 * cannot be kept as that text (a summary, encrypted content, another part) is refused by name rather than
 * dropped, so that listing the conversation gives back what was added.
 */
export function readReasoningText(item: Record<string, unknown>, path: string): string {
  const summary = item.summary;
  if (summary !== undefined && summary !== null && !(Array.isArray(summary) && summary.length === 0))
    throw badRequest(
      `${path}.summary: gtalign serve keeps a reasoning item's reasoning_text content only; send the summary as content or leave it out`,
      `${path}.summary`,
    );
  if (item.encrypted_content !== undefined && item.encrypted_content !== null)
    throw badRequest(
      `${path}.encrypted_content: gtalign serve cannot keep encrypted reasoning; send its text as reasoning_text content`,
      `${path}.encrypted_content`,
    );
  const content = item.content;
  if (!Array.isArray(content) || content.length === 0)
    throw badRequest(
      `${path}.content: expected a list of reasoning_text parts, got ${kindOf(content)}`,
      `${path}.content`,
    );
  return content
    .map((part, j) => {
      const at = `${path}.content.${j}`;
      if (!isPlainObject(part) || part.type !== 'reasoning_text' || typeof part.text !== 'string')
        throw badRequest(`${at}: expected {"type": "reasoning_text", "text": "…"}`, at);
      return part.text;
    })
    .join('');
}

/** Where the events go (a response's `ResponseEvents`). */
interface EventSink {
  send(type: string, payload: Record<string, unknown>): void;
}

export function reasoningItem(
  id: string,
  text: string,
  status: ResponseReasoningItem['status'],
): ResponseReasoningItem {
  return { id, type: 'reasoning', summary: [], content: [{ type: 'reasoning_text', text }], status };
}

/** A reasoning item streamed as it is written: opened by the first delta, then done once. */
export interface ReasoningItemStream {
  delta(text: string): void;
  /**
   * Ends the item (once; later calls return the same item); undefined when it never opened, and then none
   * opens later (the message has begun: nothing may stand before it any more).
   */
  done(status: ResponseReasoningItem['status']): ResponseReasoningItem | undefined;
  /** The text sent so far. */
  readonly text: string;
  readonly opened: boolean;
  readonly closed: boolean;
}

export function reasoningItemStream(events: EventSink, id: string): ReasoningItemStream {
  const at = { item_id: id, output_index: 0, content_index: 0 };
  let text = '';
  let opened = false;
  let closed = false;
  let ended: ResponseReasoningItem | undefined;
  return {
    delta(piece) {
      if (closed || piece === '') return;
      if (!opened) {
        opened = true;
        events.send('response.output_item.added', {
          output_index: 0,
          item: { ...reasoningItem(id, '', 'in_progress'), content: [] },
        });
        events.send('response.content_part.added', { ...at, part: { type: 'reasoning_text', text: '' } });
      }
      text += piece;
      events.send('response.reasoning_text.delta', { ...at, delta: piece });
    },
    done(status) {
      if (closed) return ended;
      closed = true;
      if (!opened) return undefined;
      ended = reasoningItem(id, text, status);
      events.send('response.reasoning_text.done', { ...at, text });
      events.send('response.content_part.done', { ...at, part: ended.content[0] });
      events.send('response.output_item.done', { output_index: 0, item: ended });
      return ended;
    },
    get text() {
      return text;
    },
    get opened() {
      return opened;
    },
    get closed() {
      return closed;
    },
  };
}

/** A kept reasoning item's events, as a stream of it would have sent them: the text in one delta. */
export function replayReasoningItem(events: EventSink, item: ResponseReasoningItem): void {
  const stream = reasoningItemStream(events, item.id);
  stream.delta(item.content[0]?.text ?? '');
  stream.done(item.status);
}
