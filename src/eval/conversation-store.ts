/**
 * The turn log of a conversation run: RUN_DIR/turns.jsonl, one line per finished turn (an assistant turn
 * with its reward, or a simulated user's reply), append-only, with the durability rules of results.jsonl
 * (see store.ts): each line is written whole (a short write is continued) and `fdatasync`ed before the
 * append resolves; appends are written one after another. On resume a last line without its newline is
 * cut off (that turn was never acknowledged, so it is generated again), and every other line must read
 * back; a failed append cuts the file back to its last acknowledged line and refuses later appends.
 *
 * A turn is identified by its conversation, role and index ({@link turnKey}). An assistant turn whose
 * judge call failed and that a resume judged again gets a second, whole line with the new reward and
 * `"supersedes": true`: the last line of a turn is the turn (every reader takes it). Any other second line
 * of a turn is corruption, reported with its line number.
 *
 * The folder's lock, config.json and results.jsonl (one scored record per finished conversation) are the
 * run store's; this file lives beside them, opened after the store took the lock.
 */
import { join } from 'node:path';
import { writeAll } from '../io/checked-write.js';
import { type FileOps, nodeFileOps, type OpenFile } from '../io/file-ops.js';
import { fileOp, RunStoreError, storeIoError } from './store-error.js';
import type { RunReward } from './types.js';

export const TURNS_FILE = 'turns.jsonl';

/** An assistant turn of a conversation, as turns.jsonl keeps it. */
export interface AssistantTurnRecord {
  conversation: string;
  /** 1-based index of the assistant turn. */
  turn: number;
  role: 'assistant';
  /** The whole four-block output. */
  output: string;
  /** The `<response>` text (what the user sees); '' when the output has none. */
  response: string;
  cell?: string;
  action?: string;
  tokens: { reasoning: number; response: number; total: number };
  /** The reward of this turn (the final turn's verdict is the held intent's, see conversation-run.ts). */
  reward: RunReward;
  /** What the user does next, decided by the persona's rules. */
  next: 'answer' | 'insist' | 'end';
  /** Why the conversation ends here (`next: 'end'`). */
  end?: string;
  trace?: unknown;
  durationMs: number;
  /**
   * On turn 1: what of the row the conversation was made from a resume checks against the data files
   * (the conversation has no record until it finishes). Absent in logs written before it was kept.
   */
  row?: { data_source: string; ground_truth: string; label?: string };
  /** Set on a line that replaces the turn's earlier line: its reward judged again on resume. */
  supersedes?: true;
}

/** A simulated user's reply. */
export interface UserTurnRecord {
  conversation: string;
  /** The assistant turn it replies to. */
  turn: number;
  role: 'user';
  mode: 'answer' | 'insist';
  /** The reply as the user's model wrote it (cleaned); '' when it wrote nothing. */
  text: string;
  /** Set when the reply was empty (the assistant was sent a placeholder, see conversation-run.ts). */
  empty?: true;
  /** Tokens of `text` (0 for an empty reply). */
  tokens: number;
  usage: { promptTokens: number; completionTokens: number };
  durationMs: number;
}

export type TurnRecord = AssistantTurnRecord | UserTurnRecord;

export interface TurnLog {
  readonly path: string;
  /**
   * Every turn on disk (read on resume, then acknowledged since), in the order the turns first appeared;
   * a turn with a superseding line is that line.
   */
  readonly turns: readonly TurnRecord[];
  /** Bytes of a cut-off last line removed on resume. */
  readonly truncatedBytes: number;
  /** Appends one turn; resolves once it is on disk. Rejects a turn the log already holds. */
  append(turn: TurnRecord): Promise<void>;
  /**
   * Appends `turn` (an assistant turn the log holds, with a new reward) as the turn's superseding line
   * (`"supersedes": true`); resolves once it is on disk.
   */
  supersede(turn: AssistantTurnRecord): Promise<void>;
  close(): Promise<void>;
}

/** What identifies a turn in the log: its conversation, role and index. */
export function turnKey(turn: Pick<TurnRecord, 'conversation' | 'role' | 'turn'>): string {
  return `${turn.conversation}\u0000${turn.role}\u0000${turn.turn}`;
}

/**
 * Why `line` (marked "supersedes") cannot replace `earlier`, the turn's line before it, or undefined: a
 * superseding line scores the same output again (as in results.jsonl, run-dir.ts), so a conversation's
 * turns stay the ones its user saw.
 */
export function supersedeProblem(earlier: TurnRecord, line: AssistantTurnRecord): string | undefined {
  if (earlier.role !== 'assistant') return 'it replaces a user turn';
  const changed = (['output', 'response', 'action', 'next'] as const).filter((k) => earlier[k] !== line[k]);
  return changed.length === 0
    ? undefined
    : `"supersedes" replaces a turn with its output scored again, and it differs in ${changed.join(', ')}`;
}

/** Whether a parsed line of turns.jsonl is a turn record (the shape every reader relies on). */
export function isTurn(v: unknown): v is TurnRecord {
  if (typeof v !== 'object' || v === null) return false;
  const r = v as Record<string, unknown>;
  if (typeof r.conversation !== 'string' || !Number.isSafeInteger(r.turn) || (r.turn as number) < 1)
    return false;
  if (r.role === 'assistant') {
    return (
      (r.supersedes === undefined || r.supersedes === true) &&
      typeof r.output === 'string' &&
      typeof r.response === 'string' &&
      typeof r.reward === 'object' &&
      r.reward !== null &&
      (r.next === 'answer' || r.next === 'insist' || r.next === 'end')
    );
  }
  return r.role === 'user' && typeof r.text === 'string' && (r.mode === 'answer' || r.mode === 'insist');
}

/** Opens (and on resume reads back) turns.jsonl of the run folder `dir`. */
export async function openTurnLog(
  dir: string,
  options: { resume: boolean; fsync?: boolean; fs?: FileOps },
): Promise<TurnLog> {
  const fs = options.fs ?? nodeFileOps;
  const fsync = options.fsync ?? true;
  const path = join(dir, TURNS_FILE);
  const turns: TurnRecord[] = [];
  // Where each turn is in `turns`: a superseding line replaces the turn in place.
  const at = new Map<string, number>();
  let truncatedBytes = 0;
  if (options.resume) {
    let buffer: Buffer | undefined;
    try {
      buffer = await fs.readFile(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw storeIoError(err, 'read', path);
    }
    if (buffer !== undefined) {
      const end = buffer.lastIndexOf(0x0a) + 1;
      truncatedBytes = buffer.length - end;
      if (truncatedBytes > 0) {
        await fileOp('cut the incomplete last line off', path, () => fs.truncate(path, end));
      }
      const lines = buffer.subarray(0, end).toString('utf8').split('\n');
      lines.forEach((line, i) => {
        if (line.trim() === '') return;
        let value: unknown;
        try {
          value = JSON.parse(line);
        } catch (err) {
          throw new RunStoreError(
            `cannot resume: ${path}:${i + 1}: not valid JSON (${(err as Error).message})`,
          );
        }
        if (!isTurn(value)) throw new RunStoreError(`cannot resume: ${path}:${i + 1}: not a turn record`);
        const key = turnKey(value);
        const earlier = at.get(key);
        const supersedes = value.role === 'assistant' && value.supersedes === true;
        if (earlier === undefined && supersedes) {
          throw new RunStoreError(
            `cannot resume: ${path}:${i + 1}: supersedes ${value.role} turn ${value.turn} of ${value.conversation}, which has no earlier line`,
          );
        }
        if (earlier !== undefined && !supersedes) {
          throw new RunStoreError(
            `cannot resume: ${path}:${i + 1}: a second line for ${value.role} turn ${value.turn} of ${value.conversation} (only a re-judged assistant turn, marked "supersedes": true, may follow its first line)`,
          );
        }
        const problem =
          earlier === undefined ? undefined : supersedeProblem(turns[earlier]!, value as AssistantTurnRecord);
        if (problem !== undefined) {
          throw new RunStoreError(
            `cannot resume: ${path}:${i + 1}: ${value.role} turn ${value.turn} of ${value.conversation}: ${problem}`,
          );
        }
        if (earlier === undefined) {
          at.set(key, turns.length);
          turns.push(value);
        } else turns[earlier] = value;
      });
    }
  }
  const file: OpenFile = await fileOp('open', path, () => fs.open(path, 'a'));
  let committed = (await fileOp('read', path, () => file.stat())).size;
  let queue: Promise<void> = Promise.resolve();
  let failed: unknown;
  let closed = false;
  // Turns on disk or waiting to be written: a second first line for one turn is refused at once.
  const claimed = new Set(at.keys());
  /** Writes one line whole and syncs it; `commit` runs once it is on disk. */
  const write = (turn: TurnRecord, commit: () => void): Promise<void> => {
    if (closed) return Promise.reject(new RunStoreError('the turn log is closed'));
    const data = Buffer.from(`${JSON.stringify(turn)}\n`, 'utf8');
    const written = queue.then(async () => {
      if (failed !== undefined) throw failed;
      try {
        await writeAll(file, data);
        if (fsync) await file.datasync();
      } catch (err) {
        await file.truncate(committed).catch(() => undefined);
        failed = storeIoError(err, 'write', path, 'the finished turn was not saved (earlier turns are kept)');
        throw failed;
      }
      committed += data.length;
      commit();
    });
    queue = written.catch(() => undefined);
    return written;
  };
  return {
    path,
    turns,
    truncatedBytes,
    append(turn) {
      const key = turnKey(turn);
      if (claimed.has(key)) {
        return Promise.reject(
          new RunStoreError(`${turn.role} turn ${turn.turn} of ${turn.conversation} is already in ${path}`),
        );
      }
      claimed.add(key);
      return write(turn, () => {
        at.set(key, turns.length);
        turns.push(turn);
      });
    },
    supersede(turn) {
      const key = turnKey(turn);
      if (!at.has(key)) {
        return Promise.reject(
          new RunStoreError(
            `assistant turn ${turn.turn} of ${turn.conversation} has no line in ${path} to supersede`,
          ),
        );
      }
      const line: AssistantTurnRecord = { ...turn, supersedes: true };
      return write(line, () => {
        turns[at.get(key)!] = line;
      });
    },
    async close() {
      if (closed) return;
      closed = true;
      await queue;
      await fileOp('close', path, () => file.close());
    },
  };
}
