/** The Responses API's reasoning item events, on their own. */
import { describe, expect, it } from 'vitest';
import { reasoningItemStream, replayReasoningItem } from '../../src/server/response-reasoning.js';

function sink() {
  const events: Array<{ type: string; payload: Record<string, unknown> }> = [];
  return { events, send: (type: string, payload: Record<string, unknown>) => events.push({ type, payload }) };
}

describe('reasoningItemStream', () => {
  it('opens with the first text, ends once, and its replay sends the same events with the text in one delta', () => {
    const live = sink();
    const stream = reasoningItemStream(live, 'rs_1');
    stream.delta('');
    expect(live.events).toEqual([]);
    stream.delta('Think');
    stream.delta('ing.');
    const item = stream.done('completed');
    expect(stream.done('incomplete')).toBe(item);
    stream.delta('late');
    expect(item).toEqual({
      id: 'rs_1',
      type: 'reasoning',
      summary: [],
      content: [{ type: 'reasoning_text', text: 'Thinking.' }],
      status: 'completed',
    });
    expect(live.events.map((e) => e.type)).toEqual([
      'response.output_item.added',
      'response.content_part.added',
      'response.reasoning_text.delta',
      'response.reasoning_text.delta',
      'response.reasoning_text.done',
      'response.content_part.done',
      'response.output_item.done',
    ]);
    expect(live.events.every((e) => e.payload.output_index === 0)).toBe(true);
    const replayed = sink();
    replayReasoningItem(replayed, item!);
    expect(replayed.events.map((e) => e.type)).toEqual(
      live.events.map((e) => e.type).filter((t, i, all) => !(t.endsWith('.delta') && all[i - 1] === t)),
    );
    expect(replayed.events.at(-1)!.payload).toEqual(live.events.at(-1)!.payload);
  });

  it('ended before any text, it stays unopened: nothing may stand before a message that has begun', () => {
    const out = sink();
    const stream = reasoningItemStream(out, 'rs_2');
    expect(stream.done('completed')).toBeUndefined();
    stream.delta('too late');
    expect(out.events).toEqual([]);
    expect([stream.opened, stream.closed, stream.text]).toEqual([false, true, '']);
  });
});
