/**
 * `GET` and `DELETE /v1/responses/{id}` on `gtalign serve`: a stored response (see response-store.ts) read
 * back as it was sent, or forgotten, as the official clients' `responses.retrieve` and `responses.delete`
 * do it (`openai` 6.49.0: `GET /responses/{id}` answers a `Response`; `DELETE` needs only a 2xx). A
 * response kept with `store: false`, evicted, deleted or made by another process is a 404 naming the id.
 * Not served: streaming a stored response again (`?stream=true`), its input items and cancelling
 * (`/input_items`, `/cancel`: gtalign serve runs no background responses).
 */
import { badRequest, HttpError } from './errors.js';
import { type RequestContext, sendJson } from './http.js';
import type { ResponseKeeper } from './response-keeper.js';

export const RESPONSE_PATH_PREFIX = '/v1/responses/';

function notKept(id: string, store: ResponseKeeper): HttpError {
  return new HttpError(
    404,
    `response ${JSON.stringify(id)} not found: gtalign serve keeps finished responses in ${store.where}, ` +
      'within its --stored-responses bound, and none made with store: false or deleted',
    'invalid_request_error',
    'response_not_found',
  );
}

/** The id in the request's path, or an error naming what is not served. */
function idOf(ctx: RequestContext): string {
  const rest = ctx.path.slice(RESPONSE_PATH_PREFIX.length);
  const slash = rest.indexOf('/');
  if (slash >= 0) {
    const what = rest.slice(slash + 1);
    throw new HttpError(
      404,
      `/v1/responses/{id}/${what} is not served by gtalign serve (it keeps a response's conversation and ` +
        'the response object, and runs no background responses)',
      'invalid_request_error',
      'unsupported_endpoint',
    );
  }
  try {
    return decodeURIComponent(rest);
  } catch {
    throw badRequest(`the response id in the path is not valid percent-encoding: ${rest.slice(0, 80)}`);
  }
}

/** The handler of both methods on `/v1/responses/{id}`. */
export function createResponseLookupHandler(store: ResponseKeeper): (ctx: RequestContext) => Promise<void> {
  return async (ctx) => {
    const id = idOf(ctx);
    if (ctx.req.method === 'DELETE') {
      if (!(await store.delete(id))) throw notKept(id, store);
      sendJson(ctx.res, 200, { id, object: 'response', deleted: true });
      return;
    }
    const query = new URLSearchParams((ctx.req.url ?? '').split('?')[1] ?? '');
    if (query.get('stream') === 'true')
      throw badRequest(
        'streaming a stored response again is not supported by gtalign serve; retrieve it without stream',
        'stream',
      );
    const stored = await store.response(id);
    if (stored === undefined) throw notKept(id, store);
    sendJson(ctx.res, 200, stored);
  };
}
