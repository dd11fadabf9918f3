/**
 * The conversation objects `gtalign serve` keeps for the Conversations API and `conversation` on
 * `/v1/responses`: each is a list of items with its metadata: messages (role and text), and the reasoning
 * items of responses made with `gtalign.reasoning: "separate"` (kept for the client to list; the turn reads
 * the messages only). Kept in this
 * process's memory, bounded by count, by items per conversation and by total characters (bounded-lru.ts);
 * the least recently used conversation goes first.
 */
import { randomBytes } from 'node:crypto';
import { BoundedLru } from './bounded-lru.js';

export type ItemRole = 'user' | 'assistant' | 'system' | 'developer';

/** A message item. */
export interface StoredMessage {
  id: string;
  role: ItemRole;
  text: string;
}

/** A reasoning item: the text of its `reasoning_text` parts. */
export interface StoredReasoning {
  id: string;
  type: 'reasoning';
  text: string;
}

export type StoredItem = StoredMessage | StoredReasoning;

export function isReasoning(item: StoredItem): item is StoredReasoning {
  return (item as StoredReasoning).type === 'reasoning';
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

export const hexId = (prefix: string): string => `${prefix}_${randomBytes(16).toString('hex')}`;

/** New items to add to a conversation, an id given or made. */
export type NewItem = (Omit<StoredMessage, 'id'> | Omit<StoredReasoning, 'id'>) & { id?: string };

/** Where conversations live: this process's memory, or a folder (conversation-folder.ts). */
export interface Conversations {
  /** For messages: where a conversation not found would have been. */
  readonly where: string;
  create(items: readonly NewItem[], metadata: Record<string, string>): Promise<StoredConversation>;
  get(id: string): Promise<StoredConversation | undefined>;
  append(conversation: StoredConversation, items: readonly NewItem[]): Promise<StoredItem[]>;
  removeItem(conversation: StoredConversation, itemId: string): Promise<boolean>;
  setMetadata(conversation: StoredConversation, metadata: Record<string, string>): Promise<void>;
  delete(id: string): Promise<boolean>;
}

/** The items to add once they fit the conversation's bounds, with ids; else a {@link ConversationFullError}. */
export function itemsToAdd(
  conversation: StoredConversation,
  items: readonly NewItem[],
  bounds: { maxItems: number; maxChars: number },
): StoredItem[] {
  if (conversation.items.length + items.length > bounds.maxItems) {
    throw new ConversationFullError(
      `a conversation holds at most ${bounds.maxItems} items; it has ${conversation.items.length} and ${items.length} more were added`,
    );
  }
  let chars = conversation.chars;
  for (const item of items) chars += item.text.length;
  if (chars > bounds.maxChars) {
    throw new ConversationFullError(
      `a conversation holds at most ${bounds.maxChars} characters of text; this would make ${chars}`,
    );
  }
  return items.map((item) =>
    'type' in item
      ? { id: item.id ?? hexId('rs'), type: 'reasoning', text: item.text }
      : { id: item.id ?? hexId('msg'), role: item.role, text: item.text },
  );
}

/** A new, empty conversation. */
export function newConversation(metadata: Record<string, string>): StoredConversation {
  return { id: hexId('conv'), created_at: Math.floor(Date.now() / 1000), metadata, items: [], chars: 0 };
}

export class ConversationStore implements Conversations {
  private readonly kept: BoundedLru<StoredConversation>;
  readonly where = "this process's memory";

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
  async create(items: readonly NewItem[], metadata: Record<string, string>): Promise<StoredConversation> {
    const conversation = newConversation(metadata);
    const added = itemsToAdd(conversation, items, this);
    this.kept.set(conversation.id, conversation, 0);
    this.add(conversation, added);
    return conversation;
  }

  /** The conversation, or undefined when it is not (or no longer) kept. */
  async get(id: string): Promise<StoredConversation | undefined> {
    return this.kept.get(id);
  }

  /** Appends items to a kept conversation; returns them with their ids. */
  async append(conversation: StoredConversation, items: readonly NewItem[]): Promise<StoredItem[]> {
    const added = itemsToAdd(conversation, items, this);
    this.add(conversation, added);
    return added;
  }

  /** Removes one item; false when the conversation has no such item. */
  async removeItem(conversation: StoredConversation, itemId: string): Promise<boolean> {
    const at = conversation.items.findIndex((i) => i.id === itemId);
    if (at < 0) return false;
    const [gone] = conversation.items.splice(at, 1);
    conversation.chars -= gone!.text.length;
    this.kept.resize(conversation.id, -gone!.text.length);
    return true;
  }

  async setMetadata(conversation: StoredConversation, metadata: Record<string, string>): Promise<void> {
    conversation.metadata = metadata;
  }

  async delete(id: string): Promise<boolean> {
    return this.kept.delete(id);
  }

  private add(conversation: StoredConversation, added: readonly StoredItem[]): void {
    let chars = 0;
    for (const item of added) chars += item.text.length;
    conversation.items.push(...added);
    conversation.chars += chars;
    // A conversation evicted meanwhile (kept by a turn in flight) is not counted again.
    this.kept.resize(conversation.id, chars);
  }
}
