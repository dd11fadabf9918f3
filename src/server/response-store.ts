/**
 * The responses `gtalign serve` keeps for `previous_response_id`: each stored response is the whole
 * conversation it ended (earlier turns, the question, the answer), so a follow-up sends only its new
 * question. Kept in this process's memory, bounded by count and by total characters; the least recently
 * used go first. A proxy behind a load balancer with several processes needs sticky sessions for it, or
 * clients that send the whole conversation (`store: false`).
 */
import type { ConversationTurn } from '../chain/prompt.js';

/** Responses kept by default. */
export const DEFAULT_STORED_RESPONSES = 1000;
/** Characters of conversation kept by default, over all stored responses (about 64 MiB of UTF-16). */
export const DEFAULT_STORED_CHARS = 32 * 1024 * 1024;

export class ResponseStore {
  // A Map iterates in insertion order: re-inserting on use keeps the least recently used first.
  private readonly conversations = new Map<string, readonly ConversationTurn[]>();
  private chars = 0;

  constructor(
    readonly maxResponses = DEFAULT_STORED_RESPONSES,
    readonly maxChars = DEFAULT_STORED_CHARS,
  ) {}

  /** How many responses are kept now. */
  get size(): number {
    return this.conversations.size;
  }

  /** The conversation a stored response ended, or undefined when it is not (or no longer) kept. */
  get(id: string): readonly ConversationTurn[] | undefined {
    const conversation = this.conversations.get(id);
    if (conversation !== undefined) {
      this.conversations.delete(id);
      this.conversations.set(id, conversation);
    }
    return conversation;
  }

  /** Keeps `conversation` under `id`; one larger than the whole budget is not kept. */
  put(id: string, conversation: readonly ConversationTurn[]): void {
    const size = charsOf(conversation);
    if (this.maxResponses <= 0 || size > this.maxChars) return;
    this.remove(id);
    this.conversations.set(id, conversation);
    this.chars += size;
    for (const [oldest] of this.conversations) {
      if (this.conversations.size <= this.maxResponses && this.chars <= this.maxChars) break;
      this.remove(oldest);
    }
  }

  private remove(id: string): void {
    const conversation = this.conversations.get(id);
    if (conversation === undefined) return;
    this.conversations.delete(id);
    this.chars -= charsOf(conversation);
  }
}

function charsOf(conversation: readonly ConversationTurn[]): number {
  let n = 0;
  for (const turn of conversation) n += turn.content.length;
  return n;
}
