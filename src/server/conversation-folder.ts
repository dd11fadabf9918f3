/**
 * Conversation objects kept in a folder (`gtalign serve --stored-responses-dir DIR`), so they outlive the
 * process and every process using the folder shares them: one file a conversation,
 * `DIR/conv_<32 hex>.jsonl`, a log of what happened to it (created, items added, an item removed, metadata
 * replaced), one JSON line each. A change is appended with O_APPEND and synced before it is answered, so
 * processes that change one conversation at once add their lines without overwriting each other's; every
 * read replays the file, so no process works from a stale copy. Deleting a conversation removes its file.
 *
 * A line cut short by a crash is skipped, and the next change starts on a new line. Bounds: items and
 * characters per conversation as in memory (conversation-store.ts), a file over `maxBytes` is not read,
 * and at most `maxConversations` files among those this process knows of, the oldest by modification time
 * going first. Only ids of gtalign's own form map to a file name.
 */
import { constants } from 'node:fs';
import { open as openFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { writeAll } from '../io/checked-write.js';
import { type FileOps, nodeFileOps } from '../io/file-ops.js';
import { unlessMissing } from '../io/unless-missing.js';
import { isPlainObject } from './body-check.js';
import {
  type Conversations,
  DEFAULT_CONVERSATION_CHARS,
  DEFAULT_CONVERSATION_ITEMS,
  DEFAULT_CONVERSATIONS,
  isReasoning,
  itemsToAdd,
  type NewItem,
  newConversation,
  type StoredConversation,
  type StoredItem,
} from './conversation-store.js';

const ID = /^conv_[0-9a-f]{32}$/;
/** Bytes of one conversation's file that are read. */
const MAX_FILE_BYTES = 256 * 1024 * 1024;

type Event =
  | { op: 'create'; id: string; created_at: number; metadata: Record<string, string>; items: StoredItem[] }
  | { op: 'add'; items: StoredItem[] }
  | { op: 'remove'; item: string }
  | { op: 'metadata'; metadata: Record<string, string> };

const errnoOf = (err: unknown): string | undefined => (err as NodeJS.ErrnoException).code;

const isMetadata = (value: unknown): value is Record<string, string> =>
  isPlainObject(value) && Object.values(value).every((v) => typeof v === 'string');

/**
 * One line of a conversation's file as a change, or undefined when it is not one: cut short by a crash,
 * or damaged by hand (valid JSON of another shape must not stop every read of the conversation).
 */
function readChange(line: string): Event | undefined {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (!isPlainObject(value)) return undefined;
  const e = value as Record<string, unknown>;
  switch (e.op) {
    case 'create':
      return typeof e.id === 'string' &&
        typeof e.created_at === 'number' &&
        isMetadata(e.metadata) &&
        Array.isArray(e.items)
        ? (value as Event)
        : undefined;
    case 'add':
      return Array.isArray(e.items) ? (value as Event) : undefined;
    case 'remove':
      return typeof e.item === 'string' ? (value as Event) : undefined;
    case 'metadata':
      return isMetadata(e.metadata) ? (value as Event) : undefined;
    default:
      return undefined;
  }
}

export class ConversationFolder implements Conversations {
  /** Files this process knows of, oldest first. */
  private readonly known = new Set<string>();

  private constructor(
    readonly dir: string,
    readonly maxConversations: number,
    readonly maxChars: number,
    readonly maxItems: number,
    private readonly fs: FileOps,
    private readonly log: (line: string) => void,
  ) {}

  static async open(
    dir: string,
    options: {
      maxConversations?: number;
      maxChars?: number;
      maxItems?: number;
      fs?: FileOps;
      log?: (line: string) => void;
    } = {},
  ): Promise<ConversationFolder> {
    const fs = options.fs ?? nodeFileOps;
    const folder = new ConversationFolder(
      dir,
      options.maxConversations ?? DEFAULT_CONVERSATIONS,
      options.maxChars ?? DEFAULT_CONVERSATION_CHARS,
      options.maxItems ?? DEFAULT_CONVERSATION_ITEMS,
      fs,
      options.log ?? (() => {}),
    );
    await fs.mkdir(dir, { recursive: true });
    const found: Array<{ id: string; at: number }> = [];
    for (const name of await readdir(dir)) {
      const id = name.endsWith('.jsonl') ? name.slice(0, -6) : '';
      if (!ID.test(id)) continue;
      try {
        found.push({ id, at: (await stat(join(dir, name))).mtimeMs });
      } catch {
        // Deleted meanwhile by another process.
      }
    }
    found.sort((a, b) => a.at - b.at);
    for (const f of found) folder.known.add(f.id);
    await folder.evict();
    return folder;
  }

  get where(): string {
    return this.dir;
  }

  private pathOf(id: string): string {
    return join(this.dir, `${id}.jsonl`);
  }

  private async evict(): Promise<void> {
    for (const oldest of this.known) {
      if (this.known.size <= this.maxConversations) break;
      this.known.delete(oldest);
      await this.fs.unlink(this.pathOf(oldest)).catch(() => undefined);
    }
  }

  /**
   * Appends one event line, synced; `fresh`: the file must not exist yet, else it must (a conversation
   * another process deleted is not made again by a late change: that change fails with ENOENT).
   */
  private async write(id: string, event: Event, fresh = false): Promise<void> {
    const path = this.pathOf(id);
    const file = await this.fs.open(path, fresh ? 'wx' : constants.O_WRONLY | constants.O_APPEND);
    try {
      let line = `${JSON.stringify(event)}\n`;
      // After a line cut short by a crash, start on a new line.
      if (!fresh && (await file.stat()).size > 0 && !(await this.endsWithNewline(path))) line = `\n${line}`;
      await writeAll(file, Buffer.from(line));
      await file.datasync();
    } finally {
      await file.close();
    }
    this.known.delete(id);
    this.known.add(id);
  }

  /** Whether the file's last byte ends a line (only that byte is read). */
  private async endsWithNewline(path: string): Promise<boolean> {
    const file = await openFile(path, 'r');
    try {
      const { size } = await file.stat();
      if (size === 0) return true;
      const last = Buffer.alloc(1);
      await file.read(last, 0, 1, size - 1);
      return last[0] === 0x0a;
    } finally {
      await file.close();
    }
  }

  async create(items: readonly NewItem[], metadata: Record<string, string>): Promise<StoredConversation> {
    const conversation = newConversation(metadata);
    const added = itemsToAdd(conversation, items, this);
    await this.write(
      conversation.id,
      { op: 'create', id: conversation.id, created_at: conversation.created_at, metadata, items: added },
      true,
    );
    conversation.items = added;
    conversation.chars = added.reduce((n, i) => n + i.text.length, 0);
    await this.evict();
    return conversation;
  }

  /** The conversation as its file says now, or undefined when there is none. */
  async get(id: string): Promise<StoredConversation | undefined> {
    if (!ID.test(id)) return undefined;
    const path = this.pathOf(id);
    let bytes: Buffer;
    try {
      if ((await this.fs.stat(path)).size > MAX_FILE_BYTES) {
        this.log(`gtalign serve: ${path} is larger than ${MAX_FILE_BYTES} bytes; not read`);
        return undefined;
      }
      bytes = await this.fs.readFile(path);
    } catch (err) {
      if (errnoOf(err) === 'ENOENT') return undefined;
      throw err;
    }
    return this.replay(id, bytes.toString('utf8'), path);
  }

  async append(conversation: StoredConversation, items: readonly NewItem[]): Promise<StoredItem[]> {
    const added = itemsToAdd(conversation, items, this);
    await this.write(conversation.id, { op: 'add', items: added });
    conversation.items.push(...added);
    conversation.chars += added.reduce((n, i) => n + i.text.length, 0);
    return added;
  }

  async removeItem(conversation: StoredConversation, itemId: string): Promise<boolean> {
    const at = conversation.items.findIndex((i) => i.id === itemId);
    if (at < 0) return false;
    await this.write(conversation.id, { op: 'remove', item: itemId });
    const [gone] = conversation.items.splice(at, 1);
    conversation.chars -= gone!.text.length;
    return true;
  }

  async setMetadata(conversation: StoredConversation, metadata: Record<string, string>): Promise<void> {
    await this.write(conversation.id, { op: 'metadata', metadata });
    conversation.metadata = metadata;
  }

  async delete(id: string): Promise<boolean> {
    if (!ID.test(id)) return false;
    this.known.delete(id);
    return unlessMissing(this.fs.unlink(this.pathOf(id)));
  }

  private replay(id: string, text: string, path: string): StoredConversation | undefined {
    let conversation: StoredConversation | undefined;
    let skipped = 0;
    for (const line of text.split('\n')) {
      if (line.trim() === '') continue;
      const event = readChange(line);
      if (event === undefined) {
        skipped++;
        continue;
      }
      if (event.op === 'create' && conversation === undefined && event.id === id) {
        conversation = {
          id,
          created_at: event.created_at,
          metadata: event.metadata,
          items: [...event.items],
          chars: 0,
        };
      } else if (conversation === undefined) {
        skipped++;
      } else if (event.op === 'add') {
        // One at a time: a damaged line may hold more items than a call takes arguments.
        for (const item of event.items) conversation.items.push(item);
      } else if (event.op === 'remove') {
        conversation.items = conversation.items.filter((i) => i.id !== event.item);
      } else if (event.op === 'metadata') {
        conversation.metadata = event.metadata;
      } else {
        skipped++;
      }
    }
    if (skipped > 0)
      this.log(`gtalign serve: ${path}: ${skipped} line(s) that are not a change were skipped`);
    if (conversation === undefined) return undefined;
    // Only message items of the known roles and reasoning items, with text, count; anything else in the
    // file is left out.
    conversation.items = conversation.items.filter(
      (i) =>
        typeof i?.id === 'string' &&
        typeof i.text === 'string' &&
        (isReasoning(i) ||
          i.role === 'user' ||
          i.role === 'assistant' ||
          i.role === 'system' ||
          i.role === 'developer'),
    );
    conversation.chars = conversation.items.reduce((n, i) => n + i.text.length, 0);
    return conversation;
  }
}
