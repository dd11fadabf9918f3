/**
 * The conversation objects `gtalign serve` keeps for the Conversations API and `conversation` on
 * `/v1/responses`: each is a list of message items (role and text) with its metadata. Kept in this
 * process's memory, bounded by count, by items per conversation and by total characters (bounded-lru.ts);
 * the least recently used conversation goes first.
 */
import { randomBytes } from 'node:crypto';
import { BoundedLru } from './bounded-lru.js';

export type ItemRole = 'user' | 'assistant' | 'system' | 'developer';

export interface StoredItem {
  id: string;
  role: ItemRole;
  text: string;
}

export interface StoredConversation {
  id: string;
  created_at: number;
  metadata: Record<string, string>;
  items: StoredItem[];
  /** Characters of its items' text. */
  chars: number;
}

export const DEFAULT_CONVERSATIONS = 1000;
/** Characters of item text kept by default, over all conversations. */
export const DEFAULT_CONVERSATION_CHARS = 32 * 1024 * 1024;
/** Items one conversation may hold by default. */
export const DEFAULT_CONVERSATION_ITEMS = 10_000;

/** A conversation would outgrow a bound: the route turns this into a 400 naming the bound. */
export class ConversationFullError extends Error {}

const hexId = (prefix: string): string => `${prefix}_${randomBytes(16).toString('hex')}`;

export class ConversationStore {
  private readonly kept: BoundedLru<StoredConversation>;

  constructor(
    readonly maxConversations = DEFAULT_CONVERSATIONS,
    readonly maxChars = DEFAULT_CONVERSATION_CHARS,
    readonly maxItems = DEFAULT_CONVERSATION_ITEMS,
  ) {
    this.kept = new BoundedLru(maxConversations, maxChars);
  }

  get size(): number {
    return this.kept.size;
  }

  /** A new conversation holding `items` (checked against the bounds first). */
  create(items: ReadonlyArray<Omit<StoredItem, 'id'>>, metadata: Record<string, string>): StoredConversation {
    const conversation: StoredConversation = {
      id: hexId('conv'),
      created_at: Math.floor(Date.now() / 1000),
      metadata,
      items: [],
      chars: 0,
    };
    this.check(conversation, items);
    this.kept.set(conversation.id, conversation, 0);
    this.add(conversation, items);
    return conversation;
  }

  /** The conversation, or undefined when it is not (or no longer) kept. */
  get(id: string): StoredConversation | undefined {
    return this.kept.get(id);
  }

  /** Appends items to a kept conversation; returns them with their ids. */
  append(
    conversation: StoredConversation,
    items: ReadonlyArray<Omit<StoredItem, 'id'> & { id?: string }>,
  ): StoredItem[] {
    this.check(conversation, items);
    return this.add(conversation, items);
  }

  /** Removes one item; false when the conversation has no such item. */
  removeItem(conversation: StoredConversation, itemId: string): boolean {
    const at = conversation.items.findIndex((i) => i.id === itemId);
    if (at < 0) return false;
    const [gone] = conversation.items.splice(at, 1);
    conversation.chars -= gone!.text.length;
    this.kept.resize(conversation.id, -gone!.text.length);
    return true;
  }

  delete(id: string): boolean {
    return this.kept.delete(id);
  }

  private check(conversation: StoredConversation, items: ReadonlyArray<Omit<StoredItem, 'id'>>): void {
    if (conversation.items.length + items.length > this.maxItems) {
      throw new ConversationFullError(
        `a conversation holds at most ${this.maxItems} items; it has ${conversation.items.length} and ${items.length} more were added`,
      );
    }
    let chars = conversation.chars;
    for (const item of items) chars += item.text.length;
    if (chars > this.maxChars) {
      throw new ConversationFullError(
        `a conversation holds at most ${this.maxChars} characters of text; this would make ${chars}`,
      );
    }
  }

  private add(
    conversation: StoredConversation,
    items: ReadonlyArray<Omit<StoredItem, 'id'> & { id?: string }>,
  ): StoredItem[] {
    const added = items.map((item) => ({ id: item.id ?? hexId('msg'), role: item.role, text: item.text }));
    let chars = 0;
    for (const item of added) chars += item.text.length;
    conversation.items.push(...added);
    conversation.chars += chars;
    // A conversation evicted meanwhile (kept by a turn in flight) is not counted again.
    this.kept.resize(conversation.id, chars);
    return added;
  }
}
