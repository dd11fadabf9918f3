/**
 * A command's standard output and error as a terminal should get them. Much of what the CLI prints comes
 * from hostile text: model outputs, data set rows, file contents quoted in an error (`JSON.parse` quotes
 * the bytes it stopped at), an upstream server's error body. On a terminal, a control character in such
 * text is an instruction (ESC starts the sequences that recolour, move the cursor, retitle the window or
 * write the clipboard), so every write to a terminal has its control characters made visible (`\x1b`),
 * as `terminalSafe` does for the chat. A pipe or a file gets the bytes as they are: that is data.
 *
 * The CLI's own redraws (the progress bars) write their control sequences as writes of their own:
 * a write that is exactly one of {@link REDRAW_CONTROLS} passes unchanged.
 */
import { StringDecoder } from 'node:string_decoder';
import type { CommandContext, OutputStream } from './command.js';
import { terminalSafe } from './terminal-text.js';

/** Back to the line's start, erase to its end, and both: what a progress bar redraws with. */
export const REDRAW_CONTROLS: ReadonlySet<string> = new Set(['\r', '\x1b[K', '\r\x1b[K']);

/** The key under which a guarded stream gives the stream itself (see {@link unguarded}). */
const UNGUARDED = Symbol('unguarded terminal stream');

type WriteCallback = (error?: Error | null) => void;

/**
 * `stream` itself when it is not a terminal; on a terminal, the same stream seen through a proxy whose
 * `write` (and `end` with a chunk) shows control characters instead of sending them. Everything else
 * (events, `isTTY`, `columns`, piping into it) is the stream's own.
 */
export function guardTerminal<S extends OutputStream>(stream: S): S {
  if (stream.isTTY !== true) return stream;
  // Bytes are decoded across writes, so a character split between two chunks is not damaged.
  const decoder = new StringDecoder('utf8');
  const shown = (chunk: unknown, encoding: unknown): string => {
    if (typeof chunk === 'string') {
      // Bytes left from an earlier write end where a string write starts.
      const text =
        encoding === undefined || encoding === 'utf8' || encoding === 'utf-8'
          ? chunk
          : Buffer.from(chunk, encoding as BufferEncoding).toString('utf8');
      return decoder.end() + text;
    }
    if (chunk instanceof Uint8Array)
      return decoder.write(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    return String(chunk);
  };
  const safe = (chunk: unknown, encoding: unknown): string => {
    const text = shown(chunk, encoding);
    return REDRAW_CONTROLS.has(text) ? text : terminalSafe(text);
  };
  const write = (chunk: unknown, encoding?: unknown, callback?: unknown): boolean => {
    const done = (typeof encoding === 'function' ? encoding : callback) as WriteCallback | undefined;
    const enc = typeof encoding === 'string' ? encoding : undefined;
    return done === undefined ? stream.write(safe(chunk, enc)) : stream.write(safe(chunk, enc), done);
  };
  const end = (chunk?: unknown, encoding?: unknown, callback?: unknown): S => {
    if (typeof chunk === 'function' || chunk === undefined || chunk === null) {
      const rest = decoder.end();
      if (rest !== '') stream.write(terminalSafe(rest));
      stream.end(chunk as WriteCallback | undefined);
      return stream;
    }
    const done = (typeof encoding === 'function' ? encoding : callback) as WriteCallback | undefined;
    const text =
      safe(chunk, typeof encoding === 'string' ? encoding : undefined) + terminalSafe(decoder.end());
    stream.end(text, done);
    return stream;
  };
  return new Proxy(stream, {
    get(target, key) {
      if (key === UNGUARDED) return target;
      if (key === 'write') return write;
      if (key === 'end') return end;
      const value = Reflect.get(target, key, target) as unknown;
      // The stream's own methods run on the stream itself, whose internal state they keep.
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

/** `ctx` with its standard output and error guarded (each looked at on first use, as `processContext` opens them). */
export function guardContext(ctx: CommandContext): CommandContext {
  let stdout: OutputStream | undefined;
  let stderr: OutputStream | undefined;
  return {
    env: ctx.env,
    cwd: ctx.cwd,
    get stdin() {
      return ctx.stdin;
    },
    get stdout() {
      stdout ??= guardTerminal(ctx.stdout);
      return stdout;
    },
    get stderr() {
      stderr ??= guardTerminal(ctx.stderr);
      return stderr;
    },
  };
}

/**
 * The terminal itself behind a guarded stream, for a writer that draws with control sequences of its own
 * and writes nothing hostile: readline, which echoes what the user types and redraws the prompt line.
 */
export function unguarded<S extends OutputStream>(stream: S): S {
  return ((stream as unknown as Record<symbol, unknown>)[UNGUARDED] as S | undefined) ?? stream;
}
