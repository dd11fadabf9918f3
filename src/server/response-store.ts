/**
 * The responses `gtalign serve` keeps for `previous_response_id` and for retrieval: each stored response
 * is the whole conversation it ended (earlier turns, the question, the answer), so a follow-up sends only
 * its new question, and the response object as it was sent (`GET /v1/responses/{id}`). Kept in this
 * process's memory, bounded by count and by total characters (bounded-lru.ts); the least recently used
 * go first. A proxy behind a load balancer with several processes needs sticky sessions for it, or
 * clients that send the whole conversation (`store: false`).
 */
import type { ConversationTurn } from '../chain/prompt.js';
import { BoundedLru } from './bounded-lru.js';

/** Responses kept by default. */
export const DEFAULT_STORED_RESPONSES = 1000;
/** Characters of conversation kept by default, over all stored responses (about 64 MiB of UTF-16). */
export const DEFAULT_STORED_CHARS = 32 * 1024 * 1024;

/** One kept response: the conversation it ended, and the response object as sent (JSON). */
interface Kept {
  conversation: readonly ConversationTurn[];
  response: string | undefined;
}

export class ResponseStore {
  private readonly kept: BoundedLru<Kept>;

  constructor(
    readonly maxResponses = DEFAULT_STORED_RESPONSES,
    readonly maxChars = DEFAULT_STORED_CHARS,
  ) {
    this.kept = new BoundedLru(maxResponses, maxChars);
  }

  /** How many responses are kept now. */
  get size(): number {
    return this.kept.size;
  }

  /** Whether `id` is kept (without counting as a use). */
  has(id: string): boolean {
    return this.kept.has(id);
  }

  /** The conversation a stored response ended, or undefined when it is not (or no longer) kept. */
  get(id: string): readonly ConversationTurn[] | undefined {
    return this.kept.get(id)?.conversation;
  }

  /** The stored response object (its JSON, as it was sent), or undefined when it is not kept. */
  response(id: string): string | undefined {
    return this.kept.get(id)?.response;
  }

  /**
   * Keeps `conversation` (and the response object's JSON, for retrieval) under `id`; one larger than the
   * whole budget is not kept.
   */
  put(id: string, conversation: readonly ConversationTurn[], response?: string): void {
    this.kept.set(id, { conversation, response }, charsOf(conversation) + (response?.length ?? 0));
  }

  /** Forgets `id`; false when it was not kept. */
  delete(id: string): boolean {
    return this.kept.delete(id);
  }
}

function charsOf(conversation: readonly ConversationTurn[]): number {
  let n = 0;
  for (const turn of conversation) n += turn.content.length;
  return n;
}
