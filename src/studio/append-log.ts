/**
 * An append-only JSONL file whose lines count only once they are on disk: each append is written whole
 * and synced (fdatasync) before it resolves. An append that fails is cut back off the file, and the log
 * then refuses further appends (the state of the disk is unknown), so no line that was not acknowledged
 * stays behind. Opening a log cuts off a torn last line (an append a crash interrupted, never
 * acknowledged) and returns the lines before it.
 *
 * The log does not order appends: its owner runs them one at a time.
 */
import { writeAll } from '../io/checked-write.js';
import type { FileOps, OpenFile } from '../io/file-ops.js';

export class AppendLogError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AppendLogError';
  }
}

export interface LogLine {
  /** 1-based line number in the file. */
  number: number;
  value: unknown;
}

export class AppendLog {
  private file: OpenFile | undefined;
  private failed: Error | undefined;

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
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      buffer = Buffer.alloc(0);
    }
    const end = buffer.lastIndexOf(0x0a) + 1;
    if (end < buffer.length) await fs.truncate(path, end);
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
    if (this.failed !== undefined)
      throw new AppendLogError(`${this.path}: an earlier write failed (${this.failed.message})`);
    const bytes = Buffer.from(`${JSON.stringify(value)}\n`, 'utf8');
    try {
      this.file ??= await this.fs.open(this.path, 'a');
      await writeAll(this.file, bytes);
      await this.file.datasync();
    } catch (err) {
      this.failed = err as Error;
      // Leave the file as it was before this append, so no unacknowledged line remains.
      await this.file?.truncate(this.size).catch(() => undefined);
      throw new AppendLogError(`cannot write ${this.path}: ${(err as Error).message}`);
    }
    this.size += bytes.length;
  }

  async close(): Promise<void> {
    await this.file?.close().catch(() => undefined);
    this.file = undefined;
  }
}
