import { describe, expect, it } from 'vitest';
import { createProgress, formatDuration } from '../../src/eval/progress.js';
import type { RunProgress } from '../../src/eval/run.js';

function sink(isTTY: boolean) {
  const writes: string[] = [];
  return { writes, stream: { isTTY, write: (t: string) => writes.push(t) } };
}

const at = (written: number, extra: Partial<RunProgress> = {}): RunProgress => ({
  total: 100,
  resumed: 0,
  written,
  failed: 0,
  unscored: 0,
  ...extra,
});

describe('run progress', () => {
  it('prints plain lines at each tenth (not per row) with rate and ETA when not on a terminal', () => {
    let now = 0;
    const { writes, stream } = sink(false);
    const p = createProgress({ stream, label: 'run:', now: () => now });
    for (let i = 1; i <= 100; i++) {
      now = i * 100; // 10 rows a second
      p.update(at(i));
    }
    p.finish();
    // The first row, then each tenth: 11 lines for 100 rows.
    expect(writes.length).toBe(11);
    expect(writes.every((w) => w.endsWith('\n') && !w.includes('\r'))).toBe(true);
    expect(writes[5]).toBe('run: 50/100  50%  10.0 rows/s  ETA 0:05\n');
    expect(writes.at(-1)).toBe('run: 100/100 100%  10.0 rows/s  ETA 0:00\n');
  });

  it('prints a line at least every interval on a slow run, and the final state once', () => {
    let now = 0;
    const { writes, stream } = sink(false);
    const p = createProgress({ stream, intervalMs: 1000, now: () => now });
    now = 10;
    p.update(at(1, { total: 1000 }));
    now = 500;
    p.update(at(2, { total: 1000 }));
    now = 1500;
    p.update(at(3, { total: 1000 }));
    expect(writes).toHaveLength(2);
    expect(writes[1]).toMatch(/^3\/1000/);
    now = 1600;
    p.update(at(4, { total: 1000 }));
    expect(writes).toHaveLength(2);
    p.finish();
    expect(writes).toHaveLength(3);
    expect(writes[2]).toMatch(/^4\/1000/);
    p.finish();
    expect(writes).toHaveLength(3);
  });

  it('redraws a bar in place on a terminal, counting resumed and failed rows apart from the rate', () => {
    let now = 0;
    const { writes, stream } = sink(true);
    const p = createProgress({ stream, now: () => now });
    now = 2000;
    p.update(at(10, { resumed: 40, failed: 2 }));
    now = 2050; // within 100 ms: not redrawn
    p.update(at(11, { resumed: 40, failed: 2 }));
    p.finish();
    // What the terminal gets, drawn frame by frame: back to the line's start, the bar, erase the rest.
    const frames = writes.join('').split('\r');
    expect(frames[0]).toBe('');
    expect(frames[1]).toBe(
      `[${'#'.repeat(15)}${'-'.repeat(15)}] 50/100  50%  5.0 rows/s  ETA 0:10  (40 resumed, 2 failed)\x1b[K`,
    );
    expect(frames).toHaveLength(3);
    expect(frames[2]).toContain('51/100');
    expect(frames[2]!.endsWith('\x1b[K\n')).toBe(true);
  });

  it('prints a message on its own line: the bar is cleared first and redrawn after it', () => {
    let now = 0;
    const { writes, stream } = sink(true);
    const p = createProgress({ stream, now: () => now });
    now = 1000;
    p.update(at(10));
    p.log('run: row-7: HTTP 503');
    expect(writes.join('')).toMatch(
      // biome-ignore lint/suspicious/noControlCharactersInRegex: the erase-line sequence is what is checked
      /^\r\[#+-+\] 10\/100[^\r\n]*\x1b\[K\r\x1b\[Krun: row-7: HTTP 503\n\r\[#+-+\] 10\/100[^\r\n]*\x1b\[K$/,
    );
    const plain = sink(false);
    const q = createProgress({ stream: plain.stream, now: () => now });
    q.log('run: row-7: HTTP 503');
    expect(plain.writes).toEqual(['run: row-7: HTTP 503\n']);
  });

  it('formats durations', () => {
    expect(formatDuration(5)).toBe('0:05');
    expect(formatDuration(125)).toBe('2:05');
    expect(formatDuration(3725)).toBe('1:02:05');
    expect(formatDuration(Number.POSITIVE_INFINITY)).toBe('?');
  });
});
