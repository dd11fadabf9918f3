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
 */
import type { ConversationTurn } from '../chain/prompt.js';
import type { ResponseFolder } from './response-folder.js';
import type { ResponseStore } from './response-store.js';

export class ResponseKeeper {
  /** Ids in memory whose file is in the folder (written or read here). */
  private readonly filed = new Set<string>();

  constructor(
    readonly memory: ResponseStore,
    readonly folder: ResponseFolder | undefined,
    private readonly log: (line: string) => void,
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

  /** Brings memory in line with the folder for `id`. */
  private async sync(id: string): Promise<void> {
    const folder = this.folder;
    if (folder === undefined) return;
    if (this.memory.get(id) !== undefined) {
      if (this.filed.has(id) && !(await folder.has(id))) {
        this.memory.delete(id);
        this.filed.delete(id);
      }
      return;
    }
    const found = await folder.read(id);
    if (found === undefined) return;
    this.memory.put(id, found.conversation, found.response);
    this.mark(id);
  }

  /** Notes that `id`'s file is in the folder; ids memory has let go of are dropped now and then. */
  private mark(id: string): void {
    this.filed.add(id);
    if (this.filed.size > 2 * this.memory.maxResponses + 64)
      for (const kept of this.filed) if (!this.memory.has(kept)) this.filed.delete(kept);
  }

  /** The conversation a kept response ended, or undefined. */
  async conversation(id: string): Promise<readonly ConversationTurn[] | undefined> {
    await this.sync(id);
    return this.memory.get(id);
  }

  /** A kept response's JSON as it was sent, or undefined. */
  async response(id: string): Promise<string | undefined> {
    await this.sync(id);
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
