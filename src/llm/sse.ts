/**
 * A Server-Sent Events reader (the `text/event-stream` format of the WHATWG HTML spec), written for
 * streamed chat completions:
 *
 * - input may be cut anywhere: inside a line, inside a CRLF pair, inside a multi-byte UTF-8 character;
 * - lines end with LF, CRLF or a lone CR;
 * - `:` lines are comments (keep-alives) and are skipped;
 * - `data:` lines accumulate (joined by `\n`) until a blank line dispatches the event;
 * - a leading UTF-8 BOM is dropped.
 *
 * One leniency beyond the spec: an event still open when the stream ends (no blank line after its last
 * `data:` line) is dispatched instead of dropped, because some servers close right after the last line.
 *
 * One limit: a line, or an event's `data:` lines together, longer than `maxEventChars` (default 1 Mi
 * characters of decoded text) throws a {@link ResponseTooLargeError}. Without it a stream that never
 * ends a line or an event would be buffered whole, until memory runs out.
 */
import { type BodySource, ResponseTooLargeError } from './http.js';

/** Default longest SSE line or event, in characters (1 Mi; a chat completion chunk is well under 1 Ki). */
export const DEFAULT_MAX_EVENT_CHARS = 1 << 20;

export interface SseOptions {
  /** Longest line, and longest event (its `data:` lines joined), in characters of decoded text. */
  maxEventChars?: number;
}

export interface SseEvent {
  /** The `event:` field, `message` when absent. */
  event: string;
  /** The `data:` lines joined by `\n`. */
  data: string;
  /** The `id:` field of this event, when it had one. */
  id?: string;
}

export interface SseParser {
  /** Feeds decoded text; returns the events completed by it. */
  push(text: string): SseEvent[];
  /** Ends the stream; returns the event left open, if any. */
  end(): SseEvent[];
}

export function createSseParser(options: SseOptions = {}): SseParser {
  const maxChars = options.maxEventChars ?? DEFAULT_MAX_EVENT_CHARS;
  const tooLong = (what: string): ResponseTooLargeError =>
    new ResponseTooLargeError(`an SSE ${what} longer than ${maxChars} characters`, maxChars);
  let buffer = '';
  /** Characters of `buffer` already known to hold no line terminator. */
  let scanned = 0;
  /** The previous chunk ended with CR: a LF at the start of the next one belongs to the same terminator. */
  let skipLeadingLf = false;
  let atStart = true;
  let data: string[] = [];
  /** Characters of the event's data so far, with the newlines that will join its lines. */
  let dataChars = 0;
  let eventType = '';
  let eventId: string | undefined;

  const dispatch = (out: SseEvent[]): void => {
    if (data.length > 0) {
      const ev: SseEvent = { event: eventType === '' ? 'message' : eventType, data: data.join('\n') };
      if (eventId !== undefined) ev.id = eventId;
      out.push(ev);
    }
    data = [];
    dataChars = 0;
    eventType = '';
    eventId = undefined;
  };

  const line = (text: string, out: SseEvent[]): void => {
    if (text.length > maxChars) throw tooLong('line');
    if (text === '') {
      dispatch(out);
      return;
    }
    if (text.charCodeAt(0) === 58 /* : */) return; // comment / keep-alive
    const colon = text.indexOf(':');
    const field = colon === -1 ? text : text.slice(0, colon);
    let value = colon === -1 ? '' : text.slice(colon + 1);
    if (value.charCodeAt(0) === 32 /* space */) value = value.slice(1);
    if (field === 'data') {
      dataChars += value.length + 1;
      if (dataChars > maxChars + 1) throw tooLong('event');
      data.push(value);
    } else if (field === 'event') eventType = value;
    else if (field === 'id' && !value.includes('\0')) eventId = value;
    // `retry` and unknown fields are ignored.
  };

  return {
    push(text) {
      const out: SseEvent[] = [];
      let chunk = text;
      if (atStart && chunk.length > 0) {
        atStart = false;
        if (chunk.charCodeAt(0) === 0xfeff) chunk = chunk.slice(1);
      }
      if (skipLeadingLf && chunk.length > 0) {
        skipLeadingLf = false;
        if (chunk.charCodeAt(0) === 10) chunk = chunk.slice(1);
      }
      buffer += chunk;
      let start = 0;
      for (let i = scanned; i < buffer.length; i++) {
        const c = buffer.charCodeAt(i);
        if (c !== 10 && c !== 13) continue;
        line(buffer.slice(start, i), out);
        if (c === 13) {
          if (i + 1 < buffer.length) {
            if (buffer.charCodeAt(i + 1) === 10) i++;
          } else {
            skipLeadingLf = true;
          }
        }
        start = i + 1;
      }
      buffer = buffer.slice(start);
      scanned = buffer.length;
      // A line not ended yet is held in `buffer`: it must not grow without bound either.
      if (buffer.length > maxChars) throw tooLong('line');
      return out;
    },
    end() {
      const out: SseEvent[] = [];
      if (buffer !== '') line(buffer, out);
      buffer = '';
      scanned = 0;
      dispatch(out);
      return out;
    },
  };
}

/**
 * The events of a byte stream (e.g. a fetch `Response.body`). Cancelling the iteration (break, throw),
 * and a line or event over the limit, cancel the underlying stream.
 */
export async function* readSse(
  body: ReadableStream<Uint8Array>,
  options: SseOptions = {},
): AsyncGenerator<SseEvent> {
  const reader = body.getReader();
  try {
    yield* sseEvents(
      {
        async read() {
          const { done, value } = await reader.read();
          return done ? undefined : value;
        },
        cancel: () => reader.cancel().catch(() => undefined),
      },
      options,
    );
  } finally {
    reader.releaseLock();
  }
}

/** {@link readSse} of any body source (the HTTP client's exchange, read without a web stream). */
export async function* sseEvents(body: BodySource, options: SseOptions = {}): AsyncGenerator<SseEvent> {
  const decoder = new TextDecoder('utf-8');
  const parser = createSseParser(options);
  let finished = false;
  try {
    for (;;) {
      const value = await body.read();
      if (value === undefined) break;
      for (const ev of parser.push(decoder.decode(value, { stream: true }))) yield ev;
    }
    finished = true;
    for (const ev of parser.push(decoder.decode())) yield ev;
    for (const ev of parser.end()) yield ev;
  } finally {
    if (!finished) await body.cancel();
  }
}
