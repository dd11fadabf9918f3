import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ResponseTooLargeError } from '../../src/llm/http.js';
import { createSseParser, readSse, type SseEvent } from '../../src/llm/sse.js';

function parseAll(pieces: string[]): SseEvent[] {
  const parser = createSseParser();
  const out: SseEvent[] = [];
  for (const p of pieces) out.push(...parser.push(p));
  out.push(...parser.end());
  return out;
}

function streamOf(chunks: Uint8Array[]): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(controller) {
      for (const c of chunks) controller.enqueue(c);
      controller.close();
    },
  });
}

async function collect(body: ReadableStream<Uint8Array>): Promise<SseEvent[]> {
  const out: SseEvent[] = [];
  for await (const ev of readSse(body)) out.push(ev);
  return out;
}

const SAMPLE =
  '\uFEFF: keep-alive\r\n' +
  'data: {"a":1}\r\n\r\n' +
  'event: update\nid: 7\ndata: line one\ndata:line two\n\n' +
  ':comment\r' +
  'data: lone cr\r\r' +
  'data\n\n' +
  'retry: 100\n\n' +
  'data: [DONE]\n\n';

const SAMPLE_EVENTS: SseEvent[] = [
  { event: 'message', data: '{"a":1}' },
  { event: 'update', data: 'line one\nline two', id: '7' },
  { event: 'message', data: 'lone cr' },
  { event: 'message', data: '' },
  { event: 'message', data: '[DONE]' },
];

describe('createSseParser', () => {
  it('reads data, event and id fields; skips comments and retry; accepts LF, CRLF and lone CR', () => {
    expect(parseAll([SAMPLE])).toEqual(SAMPLE_EVENTS);
  });

  it('gives the same events however the text is cut into pieces', () => {
    fc.assert(
      fc.property(fc.array(fc.nat(SAMPLE.length), { maxLength: 12 }), (cuts) => {
        const points = [...new Set(cuts)].sort((a, b) => a - b);
        const pieces: string[] = [];
        let last = 0;
        for (const p of points) {
          pieces.push(SAMPLE.slice(last, p));
          last = p;
        }
        pieces.push(SAMPLE.slice(last));
        expect(parseAll(pieces)).toEqual(SAMPLE_EVENTS);
      }),
    );
  });

  it('treats a CR at the end of one piece and an LF at the start of the next as one line end', () => {
    expect(parseAll(['data: a\r', '\ndata: b\r', '\n\r', '\n'])).toEqual([
      { event: 'message', data: 'a\nb' },
    ]);
  });

  it('dispatches an event left open when the stream ends, and drops a dangling comment', () => {
    expect(parseAll(['data: last'])).toEqual([{ event: 'message', data: 'last' }]);
    expect(parseAll([': ping'])).toEqual([]);
  });
});

describe('readSse', () => {
  it('decodes UTF-8 characters split across byte chunks', async () => {
    const text = 'data: héllo → 世界 🎉\n\ndata: [DONE]\n\n';
    const bytes = new TextEncoder().encode(text);
    const chunks: Uint8Array[] = [];
    for (let i = 0; i < bytes.length; i++) chunks.push(bytes.slice(i, i + 1));
    expect(await collect(streamOf(chunks))).toEqual([
      { event: 'message', data: 'héllo → 世界 🎉' },
      { event: 'message', data: '[DONE]' },
    ]);
  });

  it('cancels the byte stream when the reader stops early', async () => {
    let cancelled = false;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        controller.enqueue(new TextEncoder().encode('data: x\n\n'));
      },
      cancel() {
        cancelled = true;
      },
    });
    for await (const ev of readSse(body)) {
      expect(ev.data).toBe('x');
      break;
    }
    expect(cancelled).toBe(true);
  });
});

describe('limits', () => {
  it('a line longer than maxEventChars throws, however it is cut; one at the limit is read', () => {
    const parser = createSseParser({ maxEventChars: 20 });
    expect(parser.push(`data: ${'x'.repeat(14)}\n\n`)).toEqual([{ event: 'message', data: 'x'.repeat(14) }]);
    const cut = createSseParser({ maxEventChars: 20 });
    cut.push('data: xxxxxxxxxx');
    expect(() => cut.push('xxxxxxxxxx')).toThrow(ResponseTooLargeError);
    expect(() => createSseParser({ maxEventChars: 20 }).push(`: ${'c'.repeat(30)}\n`)).toThrow(
      /an SSE line longer than 20 characters/,
    );
  });

  it('an event whose data lines together pass maxEventChars throws; the newlines that join them count', () => {
    const ok = createSseParser({ maxEventChars: 20 });
    // 9 + 1 + 10 = 20 characters of data.
    expect(ok.push('data: 123456789\ndata: 1234567890\n\n')).toEqual([
      { event: 'message', data: '123456789\n1234567890' },
    ]);
    const over = createSseParser({ maxEventChars: 20 });
    expect(() => over.push('data: 1234567890\ndata: 1234567890\n')).toThrow(
      /an SSE event longer than 20 characters/,
    );
  });

  it('the default limit is 1 Mi characters (a line counts its field name)', () => {
    const parser = createSseParser();
    const line = `data: ${'x'.repeat((1 << 20) - 6)}`;
    expect(parser.push(`${line}\n\n`)).toHaveLength(1);
    expect(() => parser.push(`${line}x\n`)).toThrow(ResponseTooLargeError);
  });

  it('readSse cancels the byte stream when a line is over the limit', async () => {
    let cancelled = false;
    const chunk = new TextEncoder().encode('x'.repeat(1024));
    const endless = new ReadableStream<Uint8Array>({
      pull(controller) {
        controller.enqueue(chunk);
      },
      cancel() {
        cancelled = true;
      },
    });
    await expect(
      (async () => {
        for await (const _ of readSse(endless, { maxEventChars: 10_000 })) {
          // no event ever completes
        }
      })(),
    ).rejects.toThrow(ResponseTooLargeError);
    expect(cancelled).toBe(true);
  });
});
