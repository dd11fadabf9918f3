/**
 * Stored responses that outlive the process (`gtalign serve --stored-responses-dir DIR`): one JSON file a
 * response, `DIR/resp_<32 hex>.json`, written atomically (temporary file, sync, rename), so a reader never
 * sees half of one and a crash leaves either the whole file or none. Several processes may share the
 * folder: each reads any response by its id, so a follow-up needs no sticky session.
 *
 * Bounds: at most `maxResponses` files and `maxBytes` bytes among those this process knows of (the files
 * found at start, oldest first by modification time, and those it wrote); the oldest go first. Only ids
 * of gtalign's own form map to a file name, so a request's id never reaches the file system otherwise.
 * A file that is not a stored response (damaged, or not gtalign's) is reported to the log and read as
 * missing.
 *
 * Beside a background response's file: `resp_<id>.events`, the stream of its run, and `resp_<id>.cancel`,
 * a request to stop it (background-folder.ts). They count towards the bounds with their response's file and
 * go with it. The temporary file of a write cut short by a crash is removed at the next start.
 */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { ConversationTurn } from '../chain/prompt.js';
import { writeAtomic } from '../io/atomic-file.js';
import { type FileOps, nodeFileOps } from '../io/file-ops.js';
import { unlessMissing } from '../io/unless-missing.js';

/** Bytes of files kept by default. */
export const DEFAULT_FOLDER_BYTES = 256 * 1024 * 1024;

/** The ids gtalign serve makes (`resp_` and 32 hex digits): the only ones that name a file. */
const ID = /^resp_[0-9a-f]{32}$/;
/** The temporary file of a response being written (io/atomic-file.ts: `.NAME.PID.HEX.tmp`). */
const TEMP = /^\.resp_[0-9a-f]{32}\.json\.\d+\.[0-9a-f]{8}\.tmp$/;
/**
 * A temporary file older than this was left by a process killed mid-write (no write takes this long):
 * removed at start, else every such crash would leave one, never counted towards the bounds.
 */
const STALE_TEMP_MS = 60 * 60_000;

/** The files that may sit beside a response's own (see background-folder.ts). */
export type SideFile = 'events' | 'cancel';
const SIDE_FILES: readonly SideFile[] = ['events', 'cancel'];

/** What one file holds. */
export interface StoredResponse {
  conversation: readonly ConversationTurn[];
  /** The response object's JSON as it was sent; undefined when it was not kept. */
  response: string | undefined;
  /**
   * Set on a background response that cannot be continued (yet): `queued` while a process runs it,
   * `failed` or `cancelled` once it ended without an answer. Absent on a finished response.
   */
  status?: string;
}

const errnoOf = (err: unknown): string | undefined => (err as NodeJS.ErrnoException).code;

export class ResponseFolder {
  /** Files this process knows of, oldest first, and their sizes. */
  private readonly known = new Map<string, number>();
  private bytes = 0;

  private constructor(
    readonly dir: string,
    readonly maxResponses: number,
    readonly maxBytes: number,
    readonly fs: FileOps,
    private readonly log: (line: string) => void,
  ) {}

  /** Opens (creates) the folder and learns the responses already in it. */
  static async open(
    dir: string,
    options: { maxResponses: number; maxBytes?: number; fs?: FileOps; log?: (line: string) => void },
  ): Promise<ResponseFolder> {
    const fs = options.fs ?? nodeFileOps;
    const folder = new ResponseFolder(
      dir,
      options.maxResponses,
      options.maxBytes ?? DEFAULT_FOLDER_BYTES,
      fs,
      options.log ?? (() => {}),
    );
    await fs.mkdir(dir, { recursive: true });
    const found: Array<{ id: string; at: number; size: number }> = [];
    /** The sizes of runs' event files, counted with their response. */
    const logged = new Map<string, number>();
    for (const name of await readdir(dir)) {
      if (TEMP.test(name)) {
        await removeIfStale(join(dir, name), fs);
        continue;
      }
      const json = name.endsWith('.json');
      if (!json && !name.endsWith('.events')) continue;
      const id = name.slice(0, name.lastIndexOf('.'));
      if (!ID.test(id)) continue;
      try {
        const s = await stat(join(dir, name));
        if (json) found.push({ id, at: s.mtimeMs, size: s.size });
        else logged.set(id, s.size);
      } catch {
        // Gone meanwhile (another process evicted it): nothing to learn.
      }
    }
    found.sort((a, b) => a.at - b.at);
    for (const f of found) folder.note(f.id, f.size + (logged.get(f.id) ?? 0));
    await folder.evict();
    return folder;
  }

  /** How many files this process knows of. */
  get size(): number {
    return this.known.size;
  }

  private pathOf(id: string): string {
    return join(this.dir, `${id}.json`);
  }

  /** The path of a file beside a response's own; undefined for an id that names no file. */
  sidePath(id: string, kind: SideFile): string | undefined {
    return ID.test(id) ? join(this.dir, `${id}.${kind}`) : undefined;
  }

  /** Counts `bytes` more to a response this process knows of (its run's events), and keeps the bounds. */
  async grow(id: string, bytes: number): Promise<void> {
    const size = this.known.get(id);
    if (size === undefined || bytes <= 0) return;
    this.known.set(id, size + bytes);
    this.bytes += bytes;
    await this.evict();
  }

  /** Removes a response's file and those beside it; false when its own was not there. */
  private async remove(id: string): Promise<boolean> {
    for (const kind of SIDE_FILES)
      await this.fs.unlink(join(this.dir, `${id}.${kind}`)).catch(() => undefined);
    return unlessMissing(this.fs.unlink(this.pathOf(id)));
  }

  private note(id: string, size: number): void {
    this.forget(id);
    this.known.set(id, size);
    this.bytes += size;
  }

  private forget(id: string): void {
    const size = this.known.get(id);
    if (size === undefined) return;
    this.known.delete(id);
    this.bytes -= size;
  }

  private async evict(): Promise<void> {
    for (const [oldest] of this.known) {
      if (this.known.size <= this.maxResponses && this.bytes <= this.maxBytes) break;
      this.forget(oldest);
      await this.remove(oldest).catch(() => undefined);
    }
  }

  /** Writes a response's file (durably, before it resolves); one over the byte bound is not written. */
  async write(id: string, entry: StoredResponse): Promise<void> {
    if (!ID.test(id) || this.maxResponses <= 0) return;
    const record: Record<string, unknown> = {
      v: 1,
      id,
      conversation: entry.conversation,
      response: entry.response ?? null,
    };
    if (entry.status !== undefined) record.status = entry.status;
    const data = Buffer.from(JSON.stringify(record));
    if (data.length > this.maxBytes) return;
    // One file per response: the folder's debris is cleared at start instead of at every write.
    await writeAtomic(this.pathOf(id), data, this.fs, { keepStaleTemps: true });
    this.note(id, data.length);
    await this.evict();
  }

  /** A stored response, or undefined when there is none (or its file is not one). */
  async read(id: string): Promise<StoredResponse | undefined> {
    if (!ID.test(id)) return undefined;
    const path = this.pathOf(id);
    let text: string;
    try {
      // A file larger than the whole bound was not written here: it is not read either.
      if ((await this.fs.stat(path)).size > this.maxBytes) {
        this.log(`gtalign serve: ${path} is larger than --stored-responses-dir's bound; not read`);
        return undefined;
      }
      text = (await this.fs.readFile(path)).toString('utf8');
    } catch (err) {
      if (errnoOf(err) === 'ENOENT') return undefined;
      throw err;
    }
    const entry = parseStored(text, id);
    if (typeof entry === 'string') {
      this.log(`gtalign serve: ${path} is not a stored response (${entry}); read as missing`);
      return undefined;
    }
    return entry;
  }

  /** Whether a response's file is there. */
  async has(id: string): Promise<boolean> {
    if (!ID.test(id)) return false;
    return unlessMissing(this.fs.stat(this.pathOf(id)));
  }

  /** Removes a response's file (and those beside it); false when there was none. */
  async delete(id: string): Promise<boolean> {
    if (!ID.test(id)) return false;
    this.forget(id);
    return this.remove(id);
  }
}

/** Removes a temporary file another process may still be writing, once it is older than any write. */
async function removeIfStale(path: string, fs: FileOps): Promise<void> {
  try {
    if (Date.now() - (await stat(path)).mtimeMs > STALE_TEMP_MS) await fs.unlink(path);
  } catch {
    // Renamed into place or removed meanwhile: nothing to clean.
  }
}

/** Whether `text` is the JSON of an object. */
function holdsObject(text: string): boolean {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value);
  } catch {
    return false;
  }
}

/** The content of a response's file, or what is wrong with it. */
function parseStored(text: string, id: string): StoredResponse | string {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return `not JSON: ${(err as Error).message}`;
  }
  const v = value as {
    v?: unknown;
    id?: unknown;
    conversation?: unknown;
    response?: unknown;
    status?: unknown;
  };
  if (typeof value !== 'object' || value === null || v.v !== 1) return 'no version 1 record';
  if (v.id !== id) return `it holds the id ${JSON.stringify(v.id)}`;
  if (!Array.isArray(v.conversation)) return 'no conversation array';
  for (const [i, turn] of v.conversation.entries()) {
    const t = turn as { role?: unknown; content?: unknown };
    if (typeof turn !== 'object' || turn === null || (t.role !== 'user' && t.role !== 'assistant'))
      return `conversation[${i}] has no role user or assistant`;
    if (typeof t.content !== 'string') return `conversation[${i}] has no text content`;
  }
  if (v.response !== null && typeof v.response !== 'string') return 'its response is not a JSON string';
  // Every reader parses it and answers it as the response object: a hand-edited one that is not an
  // object would be sent as a 200 the clients cannot read, or fail a stream or a cancel with a 500.
  if (typeof v.response === 'string' && !holdsObject(v.response)) return 'its response is not a JSON object';
  if (v.status !== undefined && typeof v.status !== 'string') return 'its status is not a string';
  return {
    conversation: v.conversation as ConversationTurn[],
    response: v.response === null ? undefined : v.response,
    ...(v.status === undefined ? {} : { status: v.status }),
  };
}
