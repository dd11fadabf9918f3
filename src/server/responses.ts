/**
 * `POST /v1/responses` on `gtalign serve`: the OpenAI Responses API over the same GTAlign turn as chat
 * completions (the proxy's `ProxiedTurn`: steering, deadline, metrics, error mapping). Shapes follow the
 * official `openai` npm package's types (`resources/responses/responses.d.ts`, checked against 6.49.0).
 *
 * The response: one `message` output item with one `output_text` part holding the `<response>` text (or
 * the whole four-block chain with `gtalign.reasoning`); `status` `completed`, or `incomplete` with
 * `incomplete_details.reason: "max_output_tokens"` when the last stage hit its token limit; `usage` summed
 * over the turn's model calls (`output_tokens_details.reasoning_tokens`: the tokens of stage 1, the
 * reasoning and matrix the client does not see); the request's `metadata` echoed.
 *
 * The trace: metadata values must be strings (of at most 512 characters) in the Responses API, so the
 * turn's record is in three places: `metadata.gtalign` (the `gtalign` object as a JSON string, for clients
 * that keep only metadata; it may exceed 512 characters), `metadata.gtalign_action` and
 * `metadata.gtalign_cell` (short strings), and a top-level `gtalign` object (the same object as on chat
 * completions). gtalign's keys replace request keys of the same name.
 *
 * Streaming (`stream: true`): as on the chat route the status line waits for stage 1's valid matrix, so a
 * failing upstream still gets its 502/504 as a JSON error; then `response.created`, `response.in_progress`,
 * `response.output_item.added`, `response.content_part.added`, `response.output_text.delta` as the model
 * writes, `response.output_text.done`, `response.content_part.done`, `response.output_item.done`,
 * `response.completed` (`response.incomplete` when cut at the token limit; each an SSE `event:` line with its type and a `data:` line with a
 * `sequence_number`). A failure after the status line is an `error` event (`code`, `message`, `param`)
 * followed by `response.failed` (the response with `status: "failed"` and `error`).
 *
 * Conversation state: a finished response is kept (unless the request says `store: false`) as the whole
 * conversation it ended, with the `<response>` text as the assistant's turn, so a request with
 * `previous_response_id` sends only what is new, and the response object as sent, for `GET
 * /v1/responses/{id}` (response-lookup.ts). An id not kept (never, evicted, deleted, another process) is a
 * 404 `previous_response_not_found` naming the field; see response-store.ts for the bounds. A request
 * with `conversation` (conversations.ts) reads that conversation's messages first and adds its own
 * messages and the answer to it once the turn is done.
 *
 * Errors before any output are the OpenAI error object (`{"error": {"message", "type", "param", "code"}}`)
 * with the status the official clients map to their exceptions (400 BadRequestError, 502/504 …).
 */
import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { reasoningOf } from '../assistant/reasoning-stream.js';
import type { TurnResult } from '../assistant/turn.js';
import { createTrimmedEmitter, gtalignObject, usageOf } from '../assistant/turn-json.js';
import type { ConversationTurn } from '../chain/prompt.js';
import { type AccessLog, keyFingerprint, timing } from './access-log.js';
import { type BackgroundResponses, ServerShutdown } from './background-responses.js';
import type { TurnSettings } from './chat-request.js';
import {
  ConversationFullError,
  type Conversations,
  isReasoning,
  type NewItem,
} from './conversation-store.js';
import { conversationNotFound } from './conversations.js';
import { badRequest, HttpError, internalError } from './errors.js';
import { type RequestContext, readJsonBody, sendJson, validate } from './http.js';
import type { ProxiedTurn, ProxiedTurnRequest } from './proxy.js';
import { openEventStream, ResponseEvents } from './response-events.js';
import type { ResponseKeeper } from './response-keeper.js';
import {
  type ResponseReasoningItem,
  reasoningItem,
  reasoningItemStream,
  replayReasoningItem,
} from './response-reasoning.js';
import {
  checkResponsesShape,
  ownMetadata,
  type ResponsesRequest,
  readInput,
  readResponsesSettings,
  responsesRequestSchema,
  withOwnMetadata,
} from './responses-request.js';

export interface ResponsesRouteOptions {
  /** The proxy's turn runner. */
  turn: ProxiedTurn;
  modelName: string;
  maxBody: number;
  /** Most input items in one request. */
  maxMessages: number;
  defaults: TurnSettings;
  log: (line: string) => void;
  /** Where responses are kept for `previous_response_id` and retrieval. */
  store: ResponseKeeper;
  /** The conversation objects a request may name in `conversation`. */
  conversations: Conversations;
  /** Where `background: true` responses run. */
  background: BackgroundResponses;
  /** The server's access log: a background run gets a line of its own when it ends. */
  accessLog?: AccessLog | undefined;
}

export type ResponseStatus = 'queued' | 'in_progress' | 'completed' | 'incomplete' | 'failed' | 'cancelled';

export interface ResponseOutputText {
  type: 'output_text';
  text: string;
  annotations: never[];
  logprobs: never[];
}

export interface ResponseOutputMessage {
  id: string;
  type: 'message';
  role: 'assistant';
  status: 'in_progress' | 'completed' | 'incomplete';
  content: ResponseOutputText[];
}

export interface ResponseUsage {
  input_tokens: number;
  input_tokens_details: { cached_tokens: number };
  output_tokens: number;
  output_tokens_details: { reasoning_tokens: number };
  total_tokens: number;
}

/** The Responses API's `Response` object as gtalign serve sends it, with the top-level `gtalign` trace. */
export interface ResponseObject {
  id: string;
  object: 'response';
  created_at: number;
  status: ResponseStatus;
  background: boolean;
  completed_at: number | null;
  error: { code: string; message: string } | null;
  incomplete_details: { reason: 'max_output_tokens' } | null;
  instructions: string | null;
  max_output_tokens: number | null;
  model: string;
  /** The message; with `gtalign.reasoning: "separate"`, a reasoning item before it. */
  output: Array<ResponseOutputMessage | ResponseReasoningItem>;
  parallel_tool_calls: boolean;
  previous_response_id: string | null;
  conversation: { id: string } | null;
  temperature: number | null;
  text: { format: { type: 'text' } };
  tool_choice: 'none';
  tools: never[];
  top_p: null;
  truncation: 'disabled';
  metadata: Record<string, string>;
  usage: ResponseUsage | null;
  gtalign?: ReturnType<typeof gtalignObject>;
}

/** The usage of a turn in the Responses shape. */
export function responseUsage(result: TurnResult): ResponseUsage {
  const u = usageOf(result);
  let reasoning = 0;
  for (const s of result.trace.stages) {
    if (s.name === 'stage1' || s.name === 'stage1-retry') reasoning += s.completionTokens;
  }
  return {
    input_tokens: u.prompt_tokens,
    input_tokens_details: { cached_tokens: u.prompt_tokens_details.cached_tokens },
    output_tokens: u.completion_tokens,
    output_tokens_details: { reasoning_tokens: reasoning },
    total_tokens: u.total_tokens,
  };
}

const incomplete = (result: TurnResult): boolean => result.trace.stages.at(-1)?.finishReason === 'length';

interface Draft {
  id: string;
  messageId: string;
  /** The id of the reasoning item (`gtalign.reasoning: "separate"`). */
  reasoningId: string;
  createdAt: number;
  body: ResponsesRequest;
  modelName: string;
}

function base(draft: Draft, status: ResponseStatus): ResponseObject {
  const { body } = draft;
  return {
    id: draft.id,
    object: 'response',
    created_at: draft.createdAt,
    status,
    background: body.background === true,
    completed_at: null,
    error: null,
    incomplete_details: null,
    instructions: body.instructions ?? null,
    max_output_tokens: body.max_output_tokens ?? null,
    model: draft.modelName,
    output: [],
    parallel_tool_calls: false,
    previous_response_id: body.previous_response_id ?? null,
    conversation: conversationIdOf(body) === undefined ? null : { id: conversationIdOf(body)! },
    temperature: body.temperature ?? null,
    text: { format: { type: 'text' } },
    tool_choice: 'none',
    tools: [],
    top_p: null,
    truncation: 'disabled',
    // The trace's keys come with the finished response; a client's values there are not its own.
    metadata: ownMetadata(body.metadata),
    usage: null,
  };
}

const outputText = (text: string): ResponseOutputText => ({
  type: 'output_text',
  text,
  annotations: [],
  logprobs: [],
});

/**
 * The finished response: output, status, usage and the trace in `metadata` and `gtalign`. `reasoning` (the
 * `separate` mode's) becomes a reasoning item before the message, when there is any.
 */
export function finishedResponse(
  draft: Draft,
  result: TurnResult,
  text: string,
  notes: readonly string[],
  reasoning?: string,
): ResponseObject {
  const g = gtalignObject(result);
  g.notes = [...notes, ...g.notes];
  const cut = incomplete(result);
  const message: ResponseOutputMessage = {
    id: draft.messageId,
    type: 'message',
    role: 'assistant',
    status: cut ? 'incomplete' : 'completed',
    content: [outputText(text)],
  };
  return {
    ...base(draft, cut ? 'incomplete' : 'completed'),
    completed_at: Math.floor(Date.now() / 1000),
    incomplete_details: cut ? { reason: 'max_output_tokens' } : null,
    output:
      reasoning === undefined || reasoning === ''
        ? [message]
        : [reasoningItem(draft.reasoningId, reasoning, 'completed'), message],
    metadata: {
      ...(draft.body.metadata ?? {}),
      gtalign: JSON.stringify(g),
      gtalign_action: g.action,
      gtalign_cell: g.cell,
    },
    usage: responseUsage(result),
    gtalign: g,
  };
}

/** The message of a response's output and its index there (after a reasoning item, when there is one). */
function messageOf(response: ResponseObject): { item: ResponseOutputMessage; index: number } | undefined {
  const index = response.output.findIndex((i) => i.type === 'message');
  return index < 0 ? undefined : { item: response.output[index] as ResponseOutputMessage, index };
}

/**
 * The end of a finished response's stream: the message's `done` events (a reasoning item ended before the
 * message began), then `completed` or `incomplete`.
 */
export function sendEnding(events: ResponseEvents, done: ResponseObject): void {
  const { item, index } = messageOf(done)!;
  const at = { item_id: item.id, output_index: index, content_index: 0 };
  const text = item.content[0]?.text ?? '';
  events.send('response.output_text.done', { ...at, text, logprobs: [] });
  events.send('response.content_part.done', { ...at, part: item.content[0] });
  events.send('response.output_item.done', { output_index: index, item });
  events.send(done.status === 'incomplete' ? 'response.incomplete' : 'response.completed', {
    response: done,
  });
  events.end();
}

/** The end of a cancelled run's stream: an `error` event with code `response_cancelled` (the API has no cancelled event). */
export function sendCancelled(events: ResponseEvents, id: string): void {
  events.send('error', { code: 'response_cancelled', message: `response ${id} was cancelled`, param: null });
  events.end();
}

/**
 * The last event of a response's stream, sent to `res` (an open event stream, which it ends): the end of
 * a stream cut short, whose earlier events were sent.
 */
export function sendOutcome(events: ResponseEvents, response: ResponseObject, res: ServerResponse): void {
  events.follow(res);
  if (response.status === 'cancelled') sendCancelled(events, response.id);
  else {
    const type =
      response.status === 'completed' || response.status === 'incomplete'
        ? `response.${response.status}`
        : 'response.failed';
    events.send(type, { response });
    events.end();
  }
}

/**
 * The events of a response kept without its own (made without `background`, or whose events are no longer
 * kept), rebuilt from the response object: as a stream of it would have sent them, the text in one delta.
 */
export function replayEvents(response: ResponseObject): ResponseEvents {
  const events = new ResponseEvents(true);
  const running = {
    ...response,
    status: 'in_progress' as const,
    output: [],
    usage: null,
    completed_at: null,
  };
  events.send('response.created', { response: running });
  events.send('response.in_progress', { response: running });
  const message = messageOf(response);
  if (response.status === 'cancelled') sendCancelled(events, response.id);
  else if (message === undefined || response.status === 'failed') {
    events.send('response.failed', { response });
    events.end();
  } else {
    const { item, index } = message;
    const reasoning = response.output[0];
    if (reasoning?.type === 'reasoning') replayReasoningItem(events, reasoning);
    const at = { item_id: item.id, output_index: index, content_index: 0 };
    events.send('response.output_item.added', {
      output_index: index,
      item: { ...item, status: 'in_progress', content: [] },
    });
    events.send('response.content_part.added', { ...at, part: outputText('') });
    events.send('response.output_text.delta', { ...at, delta: item.content[0]?.text ?? '', logprobs: [] });
    sendEnding(events, response);
  }
  return events;
}

/** The conversation a request names, if any. */
function conversationIdOf(body: ResponsesRequest): string | undefined {
  const c = body.conversation;
  if (c === undefined || c === null) return undefined;
  return typeof c === 'string' ? c : c.id;
}

/** The `POST /v1/responses` handler. */
export function createResponsesHandler(
  options: ResponsesRouteOptions,
): (ctx: RequestContext) => Promise<void> {
  const {
    turn,
    modelName,
    maxBody,
    maxMessages,
    defaults,
    log,
    store,
    conversations,
    background,
    accessLog,
  } = options;

  /** The conversation object a request continues, checked; undefined when it names none. */
  async function conversationOf(body: ResponsesRequest, items: readonly ConversationTurn[]) {
    const id = conversationIdOf(body);
    if (id === undefined) return undefined;
    if (body.previous_response_id !== undefined && body.previous_response_id !== null)
      throw badRequest('use conversation or previous_response_id, not both', 'conversation');
    const conversation = await conversations.get(id);
    if (conversation === undefined) throw conversationNotFound(id, 'conversation', conversations.where);
    const turns: ConversationTurn[] = [];
    // The turn reads the user and assistant messages; system, developer and reasoning items stay in the
    // conversation.
    for (const item of conversation.items)
      if (!isReasoning(item) && (item.role === 'user' || item.role === 'assistant'))
        turns.push({ role: item.role, content: item.text });
    if (turns.length + items.length + 1 > maxMessages) {
      throw badRequest(
        `the conversation and this request hold ${turns.length + items.length + 1} messages, the server's limit is ${maxMessages}`,
        'conversation',
        'too_many_messages',
      );
    }
    return { conversation, turns };
  }

  /**
   * Adds the exchange to the conversation it continued: the request's messages, then the answer's output
   * items (the reasoning item the client was given, if any, and the message).
   */
  async function record(
    continued: Awaited<ReturnType<typeof conversationOf>>,
    request: ProxiedTurnRequest,
    own: readonly ConversationTurn[],
    draft: Draft,
    result: TurnResult,
    reasoning: string | undefined,
  ): Promise<void> {
    if (continued === undefined) return;
    const items: NewItem[] = [
      ...own.map((t) => ({ role: t.role, text: t.content })),
      { role: 'user', text: request.question },
      ...(reasoning === undefined || reasoning === ''
        ? []
        : [{ id: draft.reasoningId, type: 'reasoning' as const, text: reasoning }]),
      { id: draft.messageId, role: 'assistant', text: result.response },
    ];
    try {
      await conversations.append(continued.conversation, items);
    } catch (err) {
      // Full since the request was checked (another exchange got there first), or the folder failed (a
      // full disk): logged, and the answer, which cost the model's tokens, is still sent.
      const why = err instanceof ConversationFullError ? err.message : `${(err as Error).message}`;
      log(`gtalign serve: ${draft.id}: not added to ${continued.conversation.id}: ${why}`);
    }
  }

  /** The conversation before this request: the stored one it continues, then its own earlier items. */
  async function historyOf(
    body: ResponsesRequest,
    items: readonly ConversationTurn[],
  ): Promise<ConversationTurn[]> {
    const previous = body.previous_response_id;
    if (previous === undefined || previous === null) return [...items];
    await background.sync(previous);
    const unfinished = background.unfinished(previous) ?? (await store.blocked(previous));
    if (unfinished !== undefined)
      throw badRequest(
        `previous response ${JSON.stringify(previous)} is ${unfinished}: only a completed response can be continued` +
          (unfinished === 'queued' || unfinished === 'in_progress'
            ? ' (poll GET /v1/responses/{id} until it is)'
            : ''),
        'previous_response_id',
      );
    const kept = await store.conversation(previous);
    if (kept === undefined) {
      throw new HttpError(
        404,
        `previous response ${JSON.stringify(previous)} not found: gtalign serve keeps the last ` +
          `${store.maxResponses} responses in ${store.where} (none with store: false, none deleted); ` +
          'send the whole conversation as input items',
        'invalid_request_error',
        'previous_response_not_found',
        'previous_response_id',
      );
    }
    // The question counts too: the whole conversation is bounded like one request's items.
    if (kept.length + items.length + 1 > maxMessages) {
      throw badRequest(
        `the conversation through previous_response_id holds ${kept.length + items.length + 1} items, ` +
          `the server's limit is ${maxMessages}; start a new conversation with fewer items`,
        'previous_response_id',
        'too_many_messages',
      );
    }
    return [...kept, ...items];
  }

  /**
   * Keeps the finished exchange for a later `previous_response_id`, and the response object for
   * `GET /v1/responses/{id}` (unless `store: false`).
   */
  async function keep(
    draft: Draft,
    request: ProxiedTurnRequest,
    result: TurnResult,
    done: ResponseObject,
  ): Promise<void> {
    if (draft.body.store === false) return;
    await store.put(
      draft.id,
      [
        ...request.history,
        { role: 'user', content: request.question },
        // The answer as the model would see its own turn again: the response block, not the chain.
        { role: 'assistant', content: result.response },
      ],
      JSON.stringify(done),
    );
  }

  return async (ctx) => {
    const raw = await readJsonBody(ctx, maxBody);
    checkResponsesShape(raw, maxMessages);
    const body = withOwnMetadata(validate(responsesRequestSchema, raw), raw);
    const input = readInput(body, maxMessages);
    const settings = readResponsesSettings(body, ctx.req.headers, defaults);
    const continued = await conversationOf(body, input.history);
    const request: ProxiedTurnRequest = {
      question: input.question,
      history:
        continued === undefined
          ? await historyOf(body, input.history)
          : [...continued.turns, ...input.history],
      settings,
      maxTokens: body.max_output_tokens ?? undefined,
      maxTokensField: 'max_output_tokens',
      temperature: body.temperature ?? undefined,
      seed: body.seed ?? undefined,
    };
    const hex = randomUUID().replaceAll('-', '');
    const draft: Draft = {
      id: `resp_${hex}`,
      messageId: `msg_${hex}`,
      reasoningId: `rs_${hex}`,
      createdAt: Math.floor(Date.now() / 1000),
      body,
      modelName,
    };
    if (body.background === true) {
      await startInBackground(ctx, request, draft, continued, input.history, input.notes);
      return;
    }
    if (body.stream === true) {
      await streamTurn(ctx, request, draft, input.notes, new ResponseEvents(false), (result, reasoning) =>
        record(continued, request, input.history, draft, result, reasoning),
      );
      return;
    }
    const result = await turn(ctx, request);
    if (result === undefined) return;
    const reasoning = settings.reasoning === 'separate' ? reasoningOf(result.output) : undefined;
    await record(continued, request, input.history, draft, result, reasoning);
    const text = settings.reasoning === 'full' ? result.output : result.response;
    const done = finishedResponse(draft, result, text, input.notes, reasoning);
    await keep(draft, request, result, done);
    sendJson(ctx.res, 200, done);
  };

  /** The access-log line of a background run: its notes (the turn), then one line when it ends. */
  function runLogger(ctx: RequestContext, id: string) {
    let notes: Record<string, unknown> = {};
    const started = performance.now();
    const key = keyFingerprint(ctx.req.headers.authorization) ?? null;
    return {
      annotate: (fields: Readonly<Record<string, unknown>>): void => {
        notes = { ...notes, ...fields };
      },
      end: (outcome: 'completed' | 'failed' | 'cancelled'): void => {
        if (accessLog === undefined) return;
        const { time, ms } = timing((performance.now() - started) / 1000);
        accessLog.write({
          time,
          id: ctx.requestId,
          kind: 'background',
          response: id,
          outcome,
          ms,
          key,
          ...notes,
        });
      },
    };
  }

  /**
   * Answers `queued` now (or, with `stream`, follows the run's events) and runs the turn detached from the
   * request (background-responses.ts). Every background run keeps its events, so it can be followed later.
   */
  async function startInBackground(
    ctx: RequestContext,
    request: ProxiedTurnRequest,
    draft: Draft,
    continued: Awaited<ReturnType<typeof conversationOf>>,
    own: readonly ConversationTurn[],
    notes: readonly string[],
  ): Promise<void> {
    if (draft.body.store === false)
      throw badRequest('a background response must be stored: drop store: false', 'store');
    // Its answer is only ever read back from the store: with none kept, it would be lost. (With
    // --max-background 0 too, none runs at all: that 429 says so.)
    if (store.maxResponses === 0 && background.maxRunning > 0)
      throw badRequest(
        'this gtalign serve keeps no responses (--stored-responses 0), so a background response could not be ' +
          'read back once it ended: drop background: true, or start the server with --stored-responses N ' +
          'above 0 (limits.maxStoredResponses in the library)',
        'background',
      );
    const queued = base(draft, 'queued');
    const events = new ResponseEvents(true);
    // With a response folder, the queued response is written there before it is answered (so every
    // process sharing the folder answers a poll) and before the run starts (so its end is written last).
    let written: Promise<void> = Promise.resolve();
    // The run's access-log line, written when it ends; the request's own line names the response.
    ctx.annotate({ response: draft.id, background: true });
    const logRun = runLogger(ctx, draft.id);
    background.start(queued, events, async (client) => {
      await written;
      const running = base(draft, 'in_progress');
      // In the folder too, so a poll on another process sharing it sees the run start as a poll here does.
      await store.putBlocked(draft.id, JSON.stringify(running), 'in_progress');
      events.send('response.in_progress', { response: running });
      const ended = await streamTurn(
        { client, annotate: logRun.annotate },
        request,
        draft,
        notes,
        events,
        (result, reasoning) => record(continued, request, own, draft, result, reasoning),
      );
      if (ended.ended === 'done') {
        logRun.end('completed');
        return { kept: true, response: ended.response };
      }
      let response: ResponseObject;
      if (ended.ended === 'failed') response = ended.response;
      else if (client.reason instanceof ServerShutdown) {
        const error = {
          code: 'server_shutdown',
          message: `gtalign serve stopped before response ${draft.id} finished; create it again`,
        };
        response = { ...base(draft, 'failed'), error };
        events.send('error', { ...error, param: null });
        events.send('response.failed', { response });
        events.end();
      } else {
        sendCancelled(events, draft.id);
        response = base(draft, 'cancelled');
      }
      logRun.end(response.status === 'cancelled' ? 'cancelled' : 'failed');
      await store.putBlocked(draft.id, JSON.stringify(response), response.status);
      return { kept: false, response };
    });
    written = store.putBlocked(draft.id, JSON.stringify(queued), 'queued');
    await written;
    events.send('response.created', { response: queued });
    events.send('response.queued', { response: queued });
    if (draft.body.stream === true) {
      openEventStream(ctx.res);
      events.follow(ctx.res);
    } else sendJson(ctx.res, 200, queued);
  }

  /**
   * Runs a streamed turn, sending its events to `events`. With `res` (a direct stream) the status line
   * waits for stage 1's valid matrix, so a failure before it is thrown for a JSON error; without (a
   * background run) `response.created` and `response.in_progress` have been sent, and every failure goes
   * in the stream. Resolves with how the turn ended; `gone`: the client left, or the run was cancelled.
   */
  async function streamTurn(
    ctx: Pick<RequestContext, 'client'> &
      Partial<Pick<RequestContext, 'annotate'>> & { res?: ServerResponse },
    request: ProxiedTurnRequest,
    draft: Draft,
    notes: readonly string[],
    events: ResponseEvents,
    /** Called once the turn is done, with the reasoning item's text when the stream sent one. */
    finished: (result: TurnResult, reasoning: string | undefined) => Promise<void>,
  ): Promise<
    | { ended: 'done'; response: ResponseObject }
    | { ended: 'gone' }
    | { ended: 'failed'; response: ResponseObject }
  > {
    const { res } = ctx;
    const mode = request.settings.reasoning;
    const send = (type: string, payload: Record<string, unknown>): void => events.send(type, payload);
    // `separate`: a reasoning item at index 0, streamed as the model writes it, then the message.
    const thinking = mode === 'separate' ? reasoningItemStream(events, draft.reasoningId) : undefined;
    const index = thinking === undefined ? 0 : 1;
    const at = { item_id: draft.messageId, output_index: index, content_index: 0 };
    const message = (status: ResponseOutputMessage['status'], content: ResponseOutputText[]) => ({
      id: draft.messageId,
      type: 'message',
      role: 'assistant',
      status,
      content,
    });
    let started = false;
    const start = (): void => {
      if (started) return;
      started = true;
      if (res !== undefined) {
        openEventStream(res);
        events.follow(res);
        send('response.created', { response: base(draft, 'in_progress') });
        send('response.in_progress', { response: base(draft, 'in_progress') });
      }
    };
    let opened = false;
    const open = (): void => {
      if (opened) return;
      start();
      thinking?.done('completed');
      opened = true;
      send('response.output_item.added', { output_index: index, item: message('in_progress', []) });
      send('response.content_part.added', { ...at, part: outputText('') });
    };
    const think = (text: string): void => {
      start();
      thinking!.delta(text);
    };
    let streamed = '';
    const sendText = (text: string): void => {
      open();
      streamed += text;
      send('response.output_text.delta', { ...at, delta: text, logprobs: [] });
    };

    let result: TurnResult | undefined;
    try {
      // With `full` the text is the whole chain, sent once the turn is done. With `separate` the message
      // opens with the response's first text: the analysis before it is reasoning.
      const emitter = createTrimmedEmitter(sendText);
      // A background run (no `res`) was answered queued: it waits for a turn slot rather than failing.
      const waitForTurn = res === undefined;
      result = await turn(
        ctx,
        request,
        mode === 'full'
          ? { onSteered: open, waitForTurn }
          : mode === 'separate'
            ? {
                onSteered: start,
                onResponseText: (t) => emitter.push(t),
                onReasoningText: think,
                waitForTurn,
              }
            : { onSteered: open, onResponseText: (t) => emitter.push(t), waitForTurn },
      );
    } catch (err) {
      if (ctx.client.gone) return { ended: 'gone' };
      if (res !== undefined && !started) throw err;
      if (!(err instanceof HttpError)) {
        log(
          `gtalign serve: ${draft.id} failed mid-stream: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`,
        );
      }
      const failure = err instanceof HttpError ? err : internalError();
      // The log line's status is the 200 sent before the failure: the error says the turn did not end well.
      ctx.annotate?.({ error: failure.code ?? failure.type });
      const thought =
        thinking?.opened === true ? [reasoningItem(draft.reasoningId, thinking.text, 'incomplete')] : [];
      const response: ResponseObject = {
        ...base(draft, 'failed'),
        error: { code: failure.code ?? 'server_error', message: failure.message },
        output: [
          ...thought,
          ...(opened ? [message('incomplete', [outputText(streamed)]) as ResponseOutputMessage] : []),
        ],
      };
      send('error', { code: failure.code, message: failure.message, param: failure.param });
      send('response.failed', { response });
      events.end();
      return { ended: 'failed', response };
    }
    if (result === undefined) return { ended: 'gone' };
    let reasoning: string | undefined;
    if (thinking !== undefined) {
      reasoning = reasoningOf(result.output);
      // What the stream did not deliver; after a retried stage 1 it streamed both attempts.
      if (!thinking.closed && reasoning.startsWith(thinking.text))
        think(reasoning.slice(thinking.text.length));
      // The item as the client saw it (none when the message began before any reasoning came).
      reasoning = thinking.opened ? thinking.text : undefined;
    }
    open();
    const full = mode === 'full' ? result.output : result.response;
    // Whatever the stream did not deliver (a backend that did not stream, a re-asked turn).
    if (full.startsWith(streamed) && full.length > streamed.length) sendText(full.slice(streamed.length));
    const done = finishedResponse(draft, result, full, notes, reasoning);
    await keep(draft, request, result, done);
    await finished(result, reasoning);
    sendEnding(events, done);
    return { ended: 'done', response: done };
  }
}
