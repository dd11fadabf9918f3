/**
 * One page of a list of items as the OpenAI list endpoints give it (`conversations.items.list`,
 * `responses.inputItems.list`): newest first unless `order=asc`, after the item `after`, at most `limit`
 * (1–100, default 20), with `first_id`, `last_id` and `has_more` for the clients' cursor pages.
 */
import { badRequest } from './errors.js';

export interface ItemPage<T> {
  object: 'list';
  data: T[];
  first_id: string | null;
  last_id: string | null;
  has_more: boolean;
}

export function pageOf<T extends { id: string }>(data: T[], hasMore: boolean): ItemPage<T> {
  return {
    object: 'list',
    data,
    first_id: data[0]?.id ?? null,
    last_id: data.at(-1)?.id ?? null,
    has_more: hasMore,
  };
}

/** The page of `items` (oldest first) that the request's query string asks for. */
export function listPage<T extends { id: string }>(
  items: readonly T[],
  url: string | undefined,
): ItemPage<T> {
  const query = new URLSearchParams((url ?? '').split('?')[1] ?? '');
  const order = query.get('order') ?? 'desc';
  if (order !== 'asc' && order !== 'desc')
    throw badRequest(`order must be asc or desc, got ${JSON.stringify(order)}`, 'order');
  const limitText = query.get('limit') ?? '20';
  const limit = Number(limitText);
  if (!Number.isInteger(limit) || limit < 1 || limit > 100)
    throw badRequest(`limit must be an integer from 1 to 100, got ${JSON.stringify(limitText)}`, 'limit');
  const ordered = order === 'asc' ? items : [...items].reverse();
  let start = 0;
  const after = query.get('after');
  if (after !== null) {
    const at = ordered.findIndex((i) => i.id === after);
    if (at < 0) throw badRequest(`after: no item ${JSON.stringify(after)} in this list`, 'after');
    start = at + 1;
  }
  return pageOf(ordered.slice(start, start + limit), start + limit < ordered.length);
}
