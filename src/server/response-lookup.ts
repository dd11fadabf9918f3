/**
 * `GET` and `DELETE /v1/responses/{id}` on `gtalign serve`: a stored response (see response-store.ts) read
 * back as it was sent, or forgotten, as the official clients' `responses.retrieve` and `responses.delete`
 * do it (`openai` 6.49.0: `GET /responses/{id}` answers a `Response`; `DELETE` needs only a 2xx). A
 * response kept with `store: false`, evicted, deleted or made by another process is a 404 naming the id.
 * `GET /v1/responses/{id}/input_items` (`responses.inputItems.list`) lists the messages the response was
 * made from: the whole conversation before its answer, earlier turns of a `previous_response_id` chain
 * included, paged as the clients page. `POST /v1/responses/{id}/cancel` (`responses.cancel`) stops a
 * background response (background-responses.ts) and answers it as it ended; a background response that
 * had already ended is answered as it is; a response made without `background` is a 400. `GET` answers a
 * background response as it stands (`queued`, `in_progress`, then its end); with `?stream=true` it streams
 * the response's events (a background response's own, from `starting_after` and live while it runs; any
 * other kept response's rebuilt from it). A background response whose own events are no longer kept is
 * streamed rebuilt from the start, but not resumed from `starting_after`: that is a 410
 * `response_events_not_kept` (the rebuilt events, numbered otherwise and with the text in one delta, cannot
 * continue the text the client has), saying that `GET` without `stream` gives the whole output. A
 * completed background response not retrieved yet is answered even when the store let it go; its first
 * `GET` lets it go here too (background-responses.ts). With a response folder, any process sharing it
 * cancels and streams a background response another one runs (background-folder.ts): a cancel is asked of
 * that process through the folder and answered once its record has ended (at most
 * {@link CANCEL_WAIT_MS}), and a stream follows the run's event file.
 */

import type { ConversationTurn } from '../chain/prompt.js';
import type { BackgroundFolder, FollowOutcome } from './background-folder.js';
import type { BackgroundResponses } from './background-responses.js';
import { itemObject } from './conversations.js';
import { badRequest, HttpError } from './errors.js';
import { type RequestContext, sendJson } from './http.js';
import { listPage } from './item-pages.js';
import { openEventStream, ResponseEvents } from './response-events.js';
import { isUnfinished, type ResponseKeeper } from './response-keeper.js';
import { type ResponseObject, replayEvents, sendOutcome } from './responses.js';

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

/**
 * A background response whose own events are no longer kept (evicted, or their file gone), asked for from
 * `starting_after`: its events rebuilt from it are numbered otherwise and hold the text in one delta, so
 * they cannot continue the text a client has up to `after`.
 */
function eventsNotKept(id: string, after: number): HttpError {
  return new HttpError(
    410,
    `the events of response ${JSON.stringify(id)} after sequence number ${after} are no longer kept, so ` +
      'its stream cannot be resumed; GET /v1/responses/{id} without stream gives its whole output ' +
      '(responses.retrieve(id)), and ?stream=true without starting_after its events rebuilt from it',
    'invalid_request_error',
    'response_events_not_kept',
    'starting_after',
  );
}

/** Whether a kept response (its JSON) is a background response that has ended. */
function endedInBackground(response: ResponseObject): boolean {
  return response.background === true && response.status !== 'queued' && response.status !== 'in_progress';
}

/** How long a cancel waits for the process running the response to stop it. */
export const CANCEL_WAIT_MS = 30_000;
/** How often that wait reads the response's record. */
const CANCEL_POLL_MS = 100;

/** A cancel the process running the response has not acted on within {@link CANCEL_WAIT_MS}. */
function cancelPending(id: string): HttpError {
  return new HttpError(
    503,
    `response ${JSON.stringify(id)} runs in another gtalign serve process sharing the response folder, which ` +
      `has not stopped it within ${CANCEL_WAIT_MS / 1000} s; the request stays in the folder for it, and ` +
      'GET /v1/responses/{id} shows when it ended',
    'server_error',
    'cancel_pending',
  );
}

/** The id in the request's path and what under it is asked for (`''` or `input_items`). */
function targetOf(ctx: RequestContext): { id: string; sub: '' | 'input_items' | 'cancel' } {
  const rest = ctx.path.slice(RESPONSE_PATH_PREFIX.length);
  const slash = rest.indexOf('/');
  const sub = slash < 0 ? '' : rest.slice(slash + 1);
  const method = ctx.req.method;
  const served =
    (sub === '' && method !== 'POST') ||
    (sub === 'input_items' && method === 'GET') ||
    (sub === 'cancel' && method === 'POST');
  if (!served) {
    throw new HttpError(
      404,
      `${method} /v1/responses/{id}${sub === '' ? '' : `/${sub.slice(0, 80)}`} is not served by gtalign serve ` +
        '(it serves GET and DELETE /v1/responses/{id}, GET …/input_items and POST …/cancel)',
      'invalid_request_error',
      'unsupported_endpoint',
    );
  }
  const encoded = slash < 0 ? rest : rest.slice(0, slash);
  try {
    return { id: decodeURIComponent(encoded), sub: sub as '' | 'input_items' | 'cancel' };
  } catch {
    throw badRequest(`the response id in the path is not valid percent-encoding: ${encoded.slice(0, 80)}`);
  }
}

/** The messages a stored response was made from, as input items with ids stable across calls. */
function inputItems(id: string, conversation: readonly ConversationTurn[]) {
  const stem = id.replace(/^resp_/, 'msg_');
  return conversation
    .slice(0, -1)
    .map((turn, i) => itemObject({ id: `${stem}_${i}`, role: turn.role, text: turn.content }));
}

/** The handler of both methods on `/v1/responses/{id}`. */
export function createResponseLookupHandler(
  store: ResponseKeeper,
  background: BackgroundResponses,
): (ctx: RequestContext) => Promise<void> {
  /**
   * `?stream=true`: a background response's own events from `starting_after` on (live while it runs), or
   * the events of any other kept response rebuilt from it.
   */
  async function followResponse(
    ctx: RequestContext,
    id: string,
    startingAfter: string | null,
  ): Promise<void> {
    let after = -1;
    if (startingAfter !== null) {
      after = Number(startingAfter);
      if (!/^\d{1,15}$/.test(startingAfter))
        throw badRequest('starting_after must be a sequence number (an integer from 0)', 'starting_after');
    }
    const events = background.events(id);
    if (events !== undefined) {
      openEventStream(ctx.res);
      events.follow(ctx.res, after);
      return;
    }
    const stored = background.get(id) ?? (await store.response(id)) ?? background.answer(id);
    if (stored === undefined) throw notKept(id, store);
    const response = JSON.parse(stored) as ResponseObject;
    // Resumed from `after` once its own events are gone: an error, not an empty or garbled stream.
    const resumesLost = after >= 0 && endedInBackground(response);
    const shared = background.shared;
    if (resumesLost && (shared === undefined || !(await shared.hasEvents(id))))
      throw eventsNotKept(id, after);
    if (shared !== undefined) {
      // Run by another process sharing the folder (or by this one before it restarted): its own events.
      openEventStream(ctx.res);
      const now = async () => {
        const text = await store.response(id);
        return text === undefined ? undefined : (JSON.parse(text) as ResponseObject);
      };
      let outcome: FollowOutcome;
      try {
        outcome = await shared.follow(ctx.res, id, after, async () => (await now())?.status);
      } catch (err) {
        ctx.res.destroy(err as Error);
        return;
      }
      if (outcome.ended === 'done' || outcome.ended === 'left') return;
      const ended = await now();
      if (ended === undefined) ctx.res.end();
      else if (outcome.ended === 'cut') sendOutcome(new ResponseEvents(false, outcome.next), ended, ctx.res);
      else if (after >= 0 && endedInBackground(ended)) {
        // Its event file went since it was looked for: the error as an event, the stream being open.
        const gone = eventsNotKept(id, after);
        const events = new ResponseEvents(false, after + 1);
        events.follow(ctx.res);
        events.send('error', { code: gone.code, message: gone.message, param: gone.param });
        events.end();
      } else replayEvents(ended).follow(ctx.res, after);
      return;
    }
    openEventStream(ctx.res);
    replayEvents(response).follow(ctx.res, after);
  }

  /** Asks the process running `id` to cancel it, and waits until its record has ended. */
  async function cancelElsewhere(shared: BackgroundFolder, id: string): Promise<void> {
    await shared.requestCancel(id);
    const deadline = Date.now() + CANCEL_WAIT_MS;
    while (isUnfinished(await store.blocked(id))) {
      if (Date.now() > deadline) throw cancelPending(id);
      await new Promise((r) => setTimeout(r, CANCEL_POLL_MS));
    }
    await shared.clearCancel(id);
  }

  return async (ctx) => {
    const { id, sub } = targetOf(ctx);
    await background.sync(id);
    if (sub === 'cancel') {
      const here = await background.cancel(id);
      const shared = background.shared;
      if (!here && shared !== undefined && isUnfinished(await store.blocked(id)))
        await cancelElsewhere(shared, id);
      // As it ended: cancelled, failed (held here) or, when its answer came first, kept.
      const now = background.get(id) ?? (await store.response(id)) ?? background.answer(id);
      if (now === undefined) throw notKept(id, store);
      if ((JSON.parse(now) as { background?: unknown }).background !== true)
        throw badRequest(
          `response ${JSON.stringify(id)} was not made with background: true; only background responses can be cancelled`,
        );
      sendJson(ctx.res, 200, now);
      return;
    }
    if (sub === 'input_items') {
      const conversation = await store.conversation(id);
      if (conversation === undefined) throw notKept(id, store);
      sendJson(ctx.res, 200, listPage(inputItems(id, conversation), ctx.req.url));
      return;
    }
    if (ctx.req.method === 'DELETE') {
      const here = await background.forget(id);
      // Run by another process: stopped first, or its end would write the record again.
      const shared = background.shared;
      if (!here && shared !== undefined && isUnfinished(await store.blocked(id)))
        await cancelElsewhere(shared, id);
      if (!(await store.delete(id)) && !here) throw notKept(id, store);
      sendJson(ctx.res, 200, { id, object: 'response', deleted: true });
      return;
    }
    const query = new URLSearchParams((ctx.req.url ?? '').split('?')[1] ?? '');
    if (query.get('stream') === 'true') {
      await followResponse(ctx, id, query.get('starting_after'));
      return;
    }
    // A background answer held until its first retrieval (background-responses.ts) is let go now.
    const answer = background.answer(id);
    const stored = background.get(id) ?? answer ?? (await store.response(id));
    if (stored === undefined) throw notKept(id, store);
    sendJson(ctx.res, 200, stored);
    if (answer !== undefined) background.answered(id);
  };
}
