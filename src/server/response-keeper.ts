/**
 * Where `/v1/responses` keeps finished responses: in memory (response-store.ts), and with
 * `--stored-responses-dir` in a folder too (response-folder.ts), so they outlive the process and are seen
 * by every process sharing the folder. Memory is asked first; a response found only in the folder is
 * remembered from then on.
 *
 * A response is written to the folder before its answer is sent, so a client that has its id can count on
 * it. A failed write (a full disk) is logged and the response is kept in memory only: the answer, which
 * cost the model's tokens, is still sent.
 *
 * The folder is the truth for what is in it: a response this process remembers but whose file is gone
 * (deleted or evicted by another process sharing the folder) is forgotten here too.
 *
 * A background response that cannot be continued is in the folder too, marked with its status (`queued`
 * once taken, `in_progress` while the process that took it runs it, `failed` or `cancelled` once it ended
 * without an answer), so every process sharing the folder answers it when polled. Such a record is never
 * remembered (it changes, and it has no conversation to continue). An unfinished record older than any
 * run can last (`staleAfterMs`) was left by a process that ended mid-run: it is answered as failed.
 */
import type { ConversationTurn } from '../chain/prompt.js';
import type { ResponseFolder, StoredResponse } from './response-folder.js';
import type { ResponseStore } from './response-store.js';

/** Whether a background record's status is that of a run not ended yet. */
export const isUnfinished = (status: string | undefined): boolean =>
  status === 'queued' || status === 'in_progress';

export class ResponseKeeper {
  /** Ids in memory whose file is in the folder (written or read here). */
  private readonly filed = new Set<string>();

  constructor(
    readonly memory: ResponseStore,
    readonly folder: ResponseFolder | undefined,
    private readonly log: (line: string) => void,
    /** How long a background run can last at most (its turn's deadline and a margin). */
    private readonly staleAfterMs = 10 * 60_000,
  ) {}

  /** How many responses are kept (in memory; the folder's count is its own). */
  get maxResponses(): number {
    return this.memory.maxResponses;
  }

  /** Where responses are kept, for messages: "this process's memory" or the folder. */
  get where(): string {
    return this.folder === undefined
      ? "this process's memory"
      : `this process's memory and ${this.folder.dir}`;
  }

  /**
   * Brings memory in line with the folder for `id`. Returns a background record that cannot be continued
   * (not remembered, see above), its staleness resolved.
   */
  private async sync(id: string): Promise<StoredResponse | undefined> {
    const folder = this.folder;
    if (folder === undefined) return undefined;
    if (this.memory.get(id) !== undefined) {
      if (this.filed.has(id) && !(await folder.has(id))) {
        this.memory.delete(id);
        this.filed.delete(id);
      }
      return undefined;
    }
    const found = await folder.read(id);
    if (found === undefined) return undefined;
    if (found.status !== undefined) return this.unstale(found);
    this.memory.put(id, found.conversation, found.response);
    this.mark(id);
    return undefined;
  }

  /** An unfinished record (`queued`, `in_progress`) older than any run can last, as the failure it is. */
  private unstale(found: StoredResponse): StoredResponse {
    if (!isUnfinished(found.status) || found.response === undefined) return found;
    const response = JSON.parse(found.response) as { created_at?: number };
    if (Date.now() - (response.created_at ?? 0) * 1000 <= this.staleAfterMs) return found;
    const failed = {
      ...response,
      status: 'failed',
      error: {
        code: 'server_error',
        message: 'the process running this background response ended before it finished',
      },
    };
    return { conversation: [], response: JSON.stringify(failed), status: 'failed' };
  }

  /**
   * The status of a background response in the folder that cannot be continued (`queued`, `in_progress`,
   * `failed`, `cancelled`), else undefined.
   */
  async blocked(id: string): Promise<string | undefined> {
    if (this.memory.has(id)) return undefined;
    return (await this.sync(id))?.status;
  }

  /**
   * Writes a background response that cannot be continued to the folder only (with its status), so that
   * every process sharing the folder answers it; logged when the write fails.
   */
  async putBlocked(id: string, response: string, status: string): Promise<void> {
    if (this.folder === undefined) return;
    try {
      await this.folder.write(id, { conversation: [], response, status });
    } catch (err) {
      this.log(`gtalign serve: ${id} could not be written to ${this.folder.dir}: ${(err as Error).message}`);
    }
  }

  /** Notes that `id`'s file is in the folder; ids memory has let go of are dropped now and then. */
  private mark(id: string): void {
    this.filed.add(id);
    if (this.filed.size > 2 * this.memory.maxResponses + 64)
      for (const kept of this.filed) if (!this.memory.has(kept)) this.filed.delete(kept);
  }

  /** The conversation a kept response ended, or undefined. */
  async conversation(id: string): Promise<readonly ConversationTurn[] | undefined> {
    if ((await this.sync(id)) !== undefined) return undefined;
    return this.memory.get(id);
  }

  /** A kept response's JSON as it was sent (a blocked background one as it stands), or undefined. */
  async response(id: string): Promise<string | undefined> {
    const blocked = await this.sync(id);
    if (blocked !== undefined) return blocked.response;
    return this.memory.response(id);
  }

  /** Keeps a response; resolves once it is in the folder (or the write failed and was logged). */
  async put(id: string, conversation: readonly ConversationTurn[], response: string): Promise<void> {
    this.memory.put(id, conversation, response);
    if (this.folder === undefined) return;
    try {
      await this.folder.write(id, { conversation, response });
      this.mark(id);
    } catch (err) {
      this.log(
        `gtalign serve: ${id} could not be written to ${this.folder.dir} (kept in memory only): ${(err as Error).message}`,
      );
    }
  }

  /** Forgets a response everywhere; false when it was kept nowhere. */
  async delete(id: string): Promise<boolean> {
    const inMemory = this.memory.delete(id);
    this.filed.delete(id);
    const inFolder = this.folder === undefined ? false : await this.folder.delete(id);
    return inMemory || inFolder;
  }
}
