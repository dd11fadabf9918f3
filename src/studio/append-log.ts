/**
 * An append-only JSONL file whose lines count only once they are on disk: each append is written whole
 * and synced (fdatasync) before it resolves. An append that fails is cut back off the file, so no line
 * that was not acknowledged stays behind; once the file is back at its size the next append tries again
 * (a full disk may have been freed). If it cannot be cut back, the end of the file is unknown and the log
 * refuses further appends until it is opened again. Opening a log cuts off a torn last line (an append a
 * crash interrupted, never acknowledged) and returns the lines before it. A last line that is whole JSON
 * but lacks its newline (a file edited by hand and saved so) is kept and given its newline: a proper
 * prefix of a JSON object is never JSON, so such a line cannot be a torn append.
 *
 * The log does not order appends: its owner runs them one at a time.
 */

import { writeAll } from '../io/checked-write.js';
import type { FileOps, OpenFile } from '../io/file-ops.js';
import { fsFailureReason } from '../io/fs-reason.js';

export class AppendLogError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AppendLogError';
  }
}

/** Why a file operation failed, in the words the CLI uses for a refused one (`permission denied (EACCES)`). */
export function failureReason(err: unknown): string {
  return fsFailureReason(err) ?? (err instanceof Error ? err.message : String(err));
}

export interface LogLine {
  /** 1-based line number in the file. */
  number: number;
  value: unknown;
}

function isJson(bytes: Buffer): boolean {
  try {
    JSON.parse(bytes.toString('utf8'));
    return true;
  } catch {
    return false;
  }
}

/** Ends the file's last line, synced. */
async function appendNewline(fs: FileOps, path: string): Promise<void> {
  const file = await fs.open(path, 'a');
  try {
    await writeAll(file, Buffer.from('\n'));
    await file.datasync();
  } finally {
    await file.close().catch(() => undefined);
  }
}

export class AppendLog {
  private file: OpenFile | undefined;
  /** Set when a failed append could not be cut back off: why the log refuses appends until it is reopened. */
  private broken: string | undefined;

  private constructor(
    private readonly fs: FileOps,
    readonly path: string,
    private size: number,
  ) {}

  /** Opens `path` (a missing file is an empty log), cutting off a torn last line. */
  static async open(fs: FileOps, path: string): Promise<{ log: AppendLog; lines: LogLine[] }> {
    let buffer: Buffer;
    try {
      buffer = await fs.readFile(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
        throw new AppendLogError(`cannot read ${path}: ${failureReason(err)}`);
      buffer = Buffer.alloc(0);
    }
    let end = buffer.lastIndexOf(0x0a) + 1;
    if (end < buffer.length && isJson(buffer.subarray(end))) {
      try {
        await appendNewline(fs, path);
      } catch (err) {
        throw new AppendLogError(
          `cannot end the last line of ${path} (whole, but without its newline): ${failureReason(err)}`,
        );
      }
      buffer = Buffer.concat([buffer, Buffer.from('\n')]);
      end = buffer.length;
    }
    if (end < buffer.length) {
      try {
        await fs.truncate(path, end);
      } catch (err) {
        // A read-only copy of a study, say: its owner decides what becomes of it, not a crash at start.
        throw new AppendLogError(
          `cannot cut the torn last line (a write a crash interrupted) off ${path}: ${failureReason(err)}`,
        );
      }
    }
    const lines: LogLine[] = [];
    buffer
      .subarray(0, end)
      .toString('utf8')
      .split('\n')
      .forEach((text, i) => {
        if (text.trim() === '') return;
        try {
          lines.push({ number: i + 1, value: JSON.parse(text) });
        } catch (err) {
          throw new AppendLogError(`${path}:${i + 1}: not valid JSON (${(err as Error).message})`);
        }
      });
    return { log: new AppendLog(fs, path, end), lines };
  }

  /** Appends `value` as one line and syncs it; throws an {@link AppendLogError} naming the file on failure. */
  async append(value: unknown): Promise<void> {
    if (this.broken !== undefined) throw new AppendLogError(this.broken);
    const bytes = Buffer.from(`${JSON.stringify(value)}\n`, 'utf8');
    try {
      this.file ??= await this.fs.open(this.path, 'a');
      await writeAll(this.file, bytes);
      await this.file.datasync();
    } catch (err) {
      const reason = failureReason(err);
      const notCut = await this.cutBack();
      if (notCut === undefined) throw new AppendLogError(`cannot write ${this.path}: ${reason}`);
      const broken =
        `${reason}; cutting its partial line back off failed too: ${notCut}; the log takes no more lines ` +
        'until the studio is restarted, which repairs it (opening the log cuts off a torn last line)';
      this.broken = `${this.path}: an earlier write failed: ${broken}`;
      throw new AppendLogError(`cannot write ${this.path}: ${broken}`);
    }
    this.size += bytes.length;
  }

  /**
   * Leaves the file as it was before a failed append, so no unacknowledged line remains: what went wrong,
   * or undefined once the file is back at its size (synced, so the line cannot come back after a crash).
   */
  private async cutBack(): Promise<string | undefined> {
    const file = this.file;
    if (file === undefined) return undefined; // the open failed: nothing was written
    // The next append opens the file again rather than trust a handle whose write or sync failed.
    this.file = undefined;
    try {
      await file.truncate(this.size);
      await file.datasync();
      const { size } = await file.stat();
      return size === this.size ? undefined : `the file is ${size} bytes, not ${this.size}`;
    } catch (err) {
      return failureReason(err);
    } finally {
      await file.close().catch(() => undefined);
    }
  }

  async close(): Promise<void> {
    await this.file?.close().catch(() => undefined);
    this.file = undefined;
  }
}
