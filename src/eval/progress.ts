/**
 * Progress of a run on stderr: a bar redrawn in place with the rate and the ETA on a terminal; plain
 * lines otherwise (a log file, CI): one at each tenth of the run and at least every `intervalMs`.
 * The rate counts only rows finished by this process, so a resumed run's ETA is not skewed by the
 * rows it found done.
 */
import type { RunProgress } from './run.js';

export interface ProgressOptions {
  /** Where to write (default process.stderr). */
  stream?: { write(text: string): unknown; isTTY?: boolean };
  /** Redraw in place (default: whether the stream is a terminal). */
  tty?: boolean;
  /** A label in front of every line, e.g. the run folder. */
  label?: string;
  /** Plain mode: the longest silence between two lines (default 10 s). */
  intervalMs?: number;
  /** Clock in ms (tests). */
  now?: () => number;
}

export interface ProgressReporter {
  update(progress: Readonly<RunProgress>): void;
  /** Writes a message line (a row's failure) without breaking the bar: on a terminal the bar is cleared, then redrawn. */
  log(text: string): void;
  /** Draws the final state and ends the line. */
  finish(): void;
}

/** `1:02:03` / `2:03` style duration. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
}

function formatRate(perSecond: number): string {
  if (perSecond >= 100) return `${Math.round(perSecond)} rows/s`;
  if (perSecond >= 1) return `${perSecond.toFixed(1)} rows/s`;
  if (perSecond > 0) return `${(60 * perSecond).toFixed(1)} rows/min`;
  return '- rows/s';
}

export function createProgress(options: ProgressOptions = {}): ProgressReporter {
  const stream = options.stream ?? process.stderr;
  const tty = options.tty ?? stream.isTTY === true;
  const now = options.now ?? (() => performance.now());
  const interval = options.intervalMs ?? 10_000;
  const label = options.label === undefined ? '' : `${options.label} `;
  const started = now();
  let last: RunProgress | undefined;
  let lastDraw = Number.NEGATIVE_INFINITY;
  let lastTenth = -1;
  let drawn = false;
  // The last update was not drawn (plain mode skips most).
  let stale = false;

  const line = (p: Readonly<RunProgress>): { bar: string; text: string } => {
    const done = p.resumed + p.written;
    const share = p.total > 0 ? done / p.total : 1;
    const seconds = Math.max(1e-3, (now() - started) / 1000);
    const rate = p.written / seconds;
    const remaining = p.total - done - p.failed;
    const eta = rate > 0 ? formatDuration(Math.max(0, remaining) / rate) : '?';
    const extra = [
      p.resumed > 0 ? `${p.resumed} resumed` : '',
      p.failed > 0 ? `${p.failed} failed` : '',
      p.unscored > 0 ? `${p.unscored} unscored` : '',
    ].filter((s) => s !== '');
    const filled = Math.round(Math.min(1, share) * 30);
    return {
      bar: `[${'#'.repeat(filled)}${'-'.repeat(30 - filled)}]`,
      text: `${done}/${p.total} ${(share * 100).toFixed(0).padStart(3)}%  ${formatRate(rate)}  ETA ${eta}${
        extra.length > 0 ? `  (${extra.join(', ')})` : ''
      }`,
    };
  };

  const draw = (p: Readonly<RunProgress>) => {
    const { bar, text } = line(p);
    // The control sequences go in writes of their own: a guarded terminal (src/cli/terminal-stream.ts)
    // passes them and shows any control character in the label or the text.
    if (tty) {
      stream.write('\r');
      stream.write(`${label}${bar} ${text}`);
      stream.write('\x1b[K');
    } else stream.write(`${label}${text}\n`);
    drawn = true;
    stale = false;
  };

  return {
    update(progress) {
      last = { ...progress };
      stale = true;
      const t = now();
      const done = progress.resumed + progress.written;
      if (tty) {
        // At most 10 redraws a second.
        if (t - lastDraw < 100 && done < progress.total) return;
      } else {
        const tenth = progress.total > 0 ? Math.floor((10 * done) / progress.total) : 10;
        if (tenth === lastTenth && t - lastDraw < interval) return;
        lastTenth = tenth;
      }
      lastDraw = t;
      draw(progress);
    },
    log(text) {
      const line = text.endsWith('\n') ? text : `${text}\n`;
      if (tty && drawn) {
        stream.write('\r\x1b[K');
        stream.write(line);
        if (last !== undefined) draw(last);
      } else stream.write(line);
    },
    finish() {
      if (last === undefined) return;
      if (tty) {
        draw(last);
        stream.write('\n');
      } else if (!drawn || stale) {
        draw(last);
      }
    },
  };
}
