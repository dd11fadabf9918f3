import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { guardTerminal, unguarded } from '../../src/cli/terminal-stream.js';
import { terminalSafe } from '../../src/cli/terminal-text.js';
import { createProgress } from '../../src/eval/progress.js';
import { runCliInProcess } from '../support/cli-in-process.js';

/** A stream that keeps what it gets, and says it is a terminal when `tty`. */
function sink(tty: boolean): { stream: Writable & { isTTY?: boolean }; text(): string } {
  const chunks: Buffer[] = [];
  const stream = new Writable({
    write(chunk: Buffer | string, encoding, callback) {
      chunks.push(typeof chunk === 'string' ? Buffer.from(chunk, encoding) : Buffer.from(chunk));
      callback();
    },
  }) as Writable & { isTTY?: boolean };
  if (tty) Object.defineProperty(stream, 'isTTY', { value: true });
  return { stream, text: () => Buffer.concat(chunks).toString('utf8') };
}

// ESC ] 0 ; … BEL retitles the window; ESC [ 2 J clears the screen; U+009B is a one-character CSI.
const HOSTILE = 'hi \x1b]0;pwned\x07 and \x1b[2J and \u009b31m, tab\tline\n';
const SHOWN = 'hi \\x1b]0;pwned\\x07 and \\x1b[2J and \\x9b31m, tab\tline\n';

describe('guardTerminal', () => {
  it('leaves a pipe or a file alone: the same stream, the bytes as they are', () => {
    const out = sink(false);
    expect(guardTerminal(out.stream)).toBe(out.stream);
  });

  it('on a terminal, shows control characters instead of sending them; tabs and line feeds stay', async () => {
    const out = sink(true);
    const guarded = guardTerminal(out.stream);
    guarded.write(HOSTILE);
    guarded.write(Buffer.from(HOSTILE));
    await new Promise<void>((resolve) => guarded.end('end\r\n', () => resolve()));
    expect(out.text()).toBe(`${SHOWN}${SHOWN}end\\x0d\n`);
  });

  it('passes the redraw sequences a progress bar writes on their own, and nothing else with them', () => {
    const out = sink(true);
    const guarded = guardTerminal(out.stream);
    for (const w of ['\r', 'bar', '\x1b[K', '\r\x1b[K', '\r\x1b[Kx', 'y\r']) guarded.write(w);
    expect(out.text()).toBe('\rbar\x1b[K\r\x1b[K\\x0d\\x1b[Kxy\\x0d');
  });

  it('decodes bytes across writes: a character split between chunks is whole, a split C1 control is shown', () => {
    const out = sink(true);
    const guarded = guardTerminal(out.stream);
    const bytes = Buffer.from('é€😀\u009b');
    for (let i = 0; i < bytes.length; i++) guarded.write(bytes.subarray(i, i + 1));
    guarded.write('!');
    expect(out.text()).toBe('é€😀\\x9b!');
  });

  it('is the stream for everything but writing: events, properties, piping into it, the terminal behind it', async () => {
    const out = sink(true);
    const guarded = guardTerminal(out.stream);
    expect(guarded.isTTY).toBe(true);
    expect(guarded).toBeInstanceOf(Writable);
    expect(unguarded(guarded)).toBe(out.stream);
    expect(unguarded(out.stream)).toBe(out.stream);
    let finished = false;
    guarded.on('finish', () => {
      finished = true;
    });
    await pipeline(Readable.from([Buffer.from('a\x1b'), Buffer.from('[31mb')]), guarded);
    expect(out.text()).toBe('a\\x1b[31mb');
    expect(finished).toBe(true);
  });

  it("keeps a progress bar's redraws on a terminal while its label and logged lines are shown", () => {
    const out = sink(true);
    const progress = createProgress({ stream: guardTerminal(out.stream), label: 'run\x1b[8m', now: () => 0 });
    progress.update({ total: 2, resumed: 0, written: 1, failed: 0, unscored: 0 });
    progress.log('row 1 failed: \x1b]52;c;cm0gLXJmIH4=\x07');
    progress.finish();
    const text = out.text();
    expect(text).toContain('\r');
    expect(text).toContain('\x1b[K');
    expect(text).toContain('run\\x1b[8m [');
    expect(text).toContain('row 1 failed: \\x1b]52;c;cm0gLXJmIH4=\\x07\n');
    // The only raw ESC left is in the erase-line sequences the bar writes itself.
    expect(text.replaceAll('\x1b[K', '')).not.toContain('\x1b');
  });
});

describe('the CLI on a terminal', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gtalign-terminal-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  // JSON.parse quotes the text it stopped at in its message, which the command's error repeats.
  const file = join(dir, 'matrix.json');
  writeFileSync(file, '\x1b]0;pwned\x07\x1b[2J{"DQ_DA": 1}');

  it('shows the control characters of a hostile file quoted in an error', async () => {
    const r = await runCliInProcess(['game', 'analyze', file], { tty: true });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('not valid JSON');
    expect(r.stderr).toContain('\\x1b]0;pwned\\x07');
    // No control character is left but line feeds and tabs.
    expect(r.stderr).toBe(terminalSafe(r.stderr));
  });

  it('writes the same error unchanged into a pipe (the bytes are data there)', async () => {
    const r = await runCliInProcess(['game', 'analyze', file]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('\x1b]0;pwned\x07');
  });
});
