/**
 * The Conversations API on `gtalign serve` (shapes as the official `openai` npm package's
 * `resources/conversations`, checked against 6.49.0): conversation objects that `/v1/responses` reads its
 * history from and adds each exchange to (`conversation` in the request).
 *
 *     POST   /v1/conversations                    create, with optional items and metadata
 *     GET    /v1/conversations/{id}               the conversation object
 *     POST   /v1/conversations/{id}               replace its metadata
 *     DELETE /v1/conversations/{id}               delete it
 *     POST   /v1/conversations/{id}/items         add up to 20 items
 *     GET    /v1/conversations/{id}/items         list them (`after`, `limit` 1–100, default 20; `order` desc by default)
 *     GET    /v1/conversations/{id}/items/{item}  one item
 *     DELETE /v1/conversations/{id}/items/{item}  remove one item (answers the conversation)
 *
 * Items are messages (user, assistant, system, developer; text content), which the GTAlign turn reads, and
 * reasoning items (`reasoning_text` content), which it skips: a response made with
 * `gtalign.reasoning: "separate"` adds its reasoning item before its message, as its output lists them.
 * Kept in this process's memory (conversation-store.ts for the bounds), or with `--stored-responses-dir`
 * in that folder (conversation-folder.ts); an id not kept is a 404 naming it.
 */
import { z } from 'zod';
import {
  ConversationFullError,
  type Conversations,
  isReasoning,
  type NewItem,
  type StoredConversation,
  type StoredItem,
} from './conversation-store.js';
import { badRequest, HttpError } from './errors.js';
import { type RequestContext, readJsonBody, sendJson, validate } from './http.js';
import { listPage, pageOf } from './item-pages.js';
import { readReasoningText, reasoningItem } from './response-reasoning.js';
import { metadataSchema, readMessageItem, withOwnMetadata } from './responses-request.js';

export const CONVERSATIONS_PATH = '/v1/conversations';
/** Items one request may add, as the API allows. */
const MAX_ADDED_ITEMS = 20;

const createSchema = z
  .object({
    items: z.array(z.unknown()).max(MAX_ADDED_ITEMS, `at most ${MAX_ADDED_ITEMS} items at a time`).nullish(),
    metadata: metadataSchema.nullish(),
  })
  .loose();
const updateSchema = z.object({ metadata: metadataSchema }).loose();
const itemsSchema = z
  .object({
    items: z
      .array(z.unknown())
      .min(1, 'items must hold at least one item')
      .max(MAX_ADDED_ITEMS, `at most ${MAX_ADDED_ITEMS} items at a time`),
  })
  .loose();

export function conversationObject(c: StoredConversation) {
  return { id: c.id, object: 'conversation' as const, created_at: c.created_at, metadata: c.metadata };
}

/** An item as the API shows it: a completed message with one text part, or a reasoning item. */
export function itemObject(item: StoredItem) {
  if (isReasoning(item)) return reasoningItem(item.id, item.text, 'completed');
  const content =
    item.role === 'assistant'
      ? { type: 'output_text' as const, text: item.text, annotations: [], logprobs: [] }
      : { type: 'input_text' as const, text: item.text };
  return {
    id: item.id,
    type: 'message' as const,
    role: item.role,
    status: 'completed' as const,
    content: [content],
  };
}

/** Items of a request body: messages, read as the turn reads them, and reasoning items. */
export function readItems(items: readonly unknown[], path: string): NewItem[] {
  return items.map((raw, i) => {
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
      throw badRequest(`${path}.${i}: expected an input item (an object)`, `${path}.${i}`);
    const item = raw as Record<string, unknown>;
    const read = readMessageItem(item, `${path}.${i}`);
    return read === 'reasoning' ? { type: 'reasoning', text: readReasoningText(item, `${path}.${i}`) } : read;
  });
}

export function conversationNotFound(id: string, param: string | null, where: string): HttpError {
  return new HttpError(
    404,
    `conversation ${JSON.stringify(id)} not found: gtalign serve keeps conversations in ${where} (the least recently used go first past its bound)`,
    'invalid_request_error',
    'conversation_not_found',
    param,
  );
}

/** A change the folder could not write (a full disk): a 503 saying so, instead of a bare 500. */
async function written<T>(change: Promise<T>): Promise<T> {
  try {
    return await change;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === undefined || err instanceof ConversationFullError) throw err;
    if (code === 'ENOENT') {
      // Deleted by another process sharing the folder while this request ran.
      throw new HttpError(
        404,
        'the conversation was deleted meanwhile',
        'invalid_request_error',
        'conversation_not_found',
      );
    }
    throw new HttpError(
      503,
      `the conversation could not be written (${code}); nothing was changed, try again later`,
      'server_error',
      'storage_unavailable',
    );
  }
}

function full(err: ConversationFullError, param: string): HttpError {
  return badRequest(err.message, param, 'conversation_too_large');
}

/** `POST /v1/conversations`. */
export function createConversationHandler(
  store: Conversations,
  maxBody: number,
): (ctx: RequestContext) => Promise<void> {
  return async (ctx) => {
    // The official client sends no body at all for `conversations.create()`.
    const empty = ctx.req.headers['content-length'] === '0' || ctx.req.headers['content-type'] === undefined;
    const raw = empty ? {} : await readJsonBody(ctx, maxBody);
    const body = withOwnMetadata(validate(createSchema, raw), raw);
    const items = readItems(body.items ?? [], 'items');
    try {
      const created = await written(store.create(items, { ...(body.metadata ?? {}) }));
      sendJson(ctx.res, 200, conversationObject(created));
    } catch (err) {
      if (err instanceof ConversationFullError) throw full(err, 'items');
      throw err;
    }
  };
}

/** Everything under `/v1/conversations/`. */
export function conversationRoutesHandler(
  store: Conversations,
  maxBody: number,
): (ctx: RequestContext) => Promise<void> {
  return async (ctx) => {
    const parts = ctx.path.slice(CONVERSATIONS_PATH.length + 1).split('/');
    const method = ctx.req.method;
    const id = decode(parts[0]!);
    const conversation = await store.get(id);
    if (conversation === undefined) throw conversationNotFound(id, null, store.where);
    if (parts.length === 1) {
      if (method === 'GET') return sendJson(ctx.res, 200, conversationObject(conversation));
      if (method === 'DELETE') {
        await written(store.delete(id));
        return sendJson(ctx.res, 200, { id, object: 'conversation.deleted', deleted: true });
      }
      const raw = await readJsonBody(ctx, maxBody);
      const body = withOwnMetadata(validate(updateSchema, raw), raw);
      await written(store.setMetadata(conversation, { ...body.metadata }));
      return sendJson(ctx.res, 200, conversationObject(conversation));
    }
    if (parts[1] !== 'items' || parts.length > 3) throw unknownPath(ctx.path);
    if (parts.length === 2) {
      if (method === 'GET')
        return sendJson(ctx.res, 200, listPage(conversation.items.map(itemObject), ctx.req.url));
      if (method !== 'POST') throw unknownPath(ctx.path);
      const body = validate(itemsSchema, await readJsonBody(ctx, maxBody));
      let added: StoredItem[];
      try {
        added = await written(store.append(conversation, readItems(body.items, 'items')));
      } catch (err) {
        if (err instanceof ConversationFullError) throw full(err, 'items');
        throw err;
      }
      return sendJson(ctx.res, 200, pageOf(added.map(itemObject), false));
    }
    const itemId = decode(parts[2]!);
    const item = conversation.items.find((i) => i.id === itemId);
    if (item === undefined) {
      throw new HttpError(
        404,
        `item ${JSON.stringify(itemId)} not found in conversation ${JSON.stringify(id)}`,
        'invalid_request_error',
        'item_not_found',
      );
    }
    if (method === 'GET') return sendJson(ctx.res, 200, itemObject(item));
    if (method !== 'DELETE') throw unknownPath(ctx.path);
    await written(store.removeItem(conversation, itemId));
    return sendJson(ctx.res, 200, conversationObject(conversation));
  };
}

function decode(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw badRequest(`the id in the path is not valid percent-encoding: ${part.slice(0, 80)}`);
  }
}

function unknownPath(path: string): HttpError {
  return new HttpError(404, `no such route: ${path.slice(0, 200)}`, 'invalid_request_error', 'not_found');
}
