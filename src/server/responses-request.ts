/**
 * The request side of `POST /v1/responses` (the OpenAI Responses API): the body schema and what a request
 * asks of the GTAlign turn. `input` is a string (the question) or a list of message items
 * (`{role, content}` with `type: "message"` or without, content a string or `input_text`/`output_text`
 * parts); the last item must be the user's question, the earlier user and assistant items are the
 * history. `instructions` and system/developer items are echoed but not sent to the model: the GTAlign
 * instruction prompt is the system behaviour (the response's `gtalign.notes` says so). `reasoning` items
 * (a client replaying a previous turn's output) are skipped; any other item (tool calls and their
 * outputs, item references, images, files) is a 400 naming it.
 *
 * `previous_response_id` continues a response the server kept (response-store.ts; `store: false` keeps
 * none): its conversation goes before this request's items. `conversation` names a conversation object
 * (conversations.ts) whose message items go first, and which gets this request's items and the answer.
 * `background: true` runs the turn detached from the request (background-responses.ts). Per-request steering is the chat route's:
 * the `gtalign` body field or the `x-gtalign-*` headers (see chat-request.ts).
 *
 * Bounded like the chat route: the item list's length is checked before its elements, element checks stop
 * at the first few problems, the policy object and the metadata are bounded in size.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { z } from 'zod';
import type { ConversationTurn } from '../chain/prompt.js';
import { ownCopy, setOwn } from '../io/own-keys.js';
import { atMostValues, isPlainObject, kindOf, problemList } from './body-check.js';
import { chatCompletionRequestSchema, readSettings, type TurnSettings } from './chat-request.js';
import { badRequest } from './errors.js';

/** The Responses API's limits on `metadata`: 16 pairs, keys up to 64 characters, values up to 512. */
export const MAX_METADATA_PAIRS = 16;
/** The metadata keys a finished response's trace takes (responses.ts). */
const TRACE_METADATA_KEYS = ['gtalign', 'gtalign_action', 'gtalign_cell'] as const;
const MAX_POLICY_VALUES = 256;

export const metadataSchema = z
  .record(z.string().max(64, 'metadata keys are at most 64 characters'), z.string().max(512))
  .refine((m) => Object.keys(m).length <= MAX_METADATA_PAIRS, {
    message: `metadata holds at most ${MAX_METADATA_PAIRS} pairs`,
  });

const isTraceKey = (key: string): boolean => (TRACE_METADATA_KEYS as readonly string[]).includes(key);

/**
 * A response request's `metadata`: as {@link metadataSchema}, except that values under the trace's keys may
 * be longer. A client that sends a previous response's metadata back sends its `gtalign` trace, which is
 * longer than 512 characters; the turn replaces it anyway.
 */
const requestMetadataSchema = z
  .record(z.string().max(64, 'metadata keys are at most 64 characters'), z.string())
  .refine((m) => Object.keys(m).length <= MAX_METADATA_PAIRS, {
    message: `metadata holds at most ${MAX_METADATA_PAIRS} pairs`,
  });

/** The values' limit of {@link requestMetadataSchema}, checked on the body as sent ("__proto__" included). */
function checkMetadataValues(metadata: Record<string, unknown>): void {
  for (const [key, value] of Object.entries(metadata))
    if (!isTraceKey(key) && typeof value === 'string' && value.length > 512)
      throw badRequest(
        `metadata.${key.slice(0, 64)}: metadata values are at most 512 characters`,
        `metadata.${key}`,
      );
}

/** The request's metadata without the trace's keys: what an unfinished response gives back of it. */
export function ownMetadata(metadata: Record<string, string> | null | undefined): Record<string, string> {
  const own: Record<string, string> = {};
  for (const key of Object.keys(metadata ?? {})) if (!isTraceKey(key)) setOwn(own, key, metadata![key]!);
  return own;
}

/**
 * The request's own `metadata` object in place of the schema's copy, once the schema has accepted it: the
 * copy assigns each key, which drops a "__proto__" key (io/own-keys.ts), and metadata is the client's to
 * get back whole.
 */
export function withOwnMetadata<T extends { metadata?: Record<string, string> | null | undefined }>(
  body: T,
  raw: unknown,
): T {
  const given = isPlainObject(raw) ? raw.metadata : undefined;
  if (body.metadata != null && isPlainObject(given)) body.metadata = ownCopy(given as Record<string, string>);
  return body;
}

export const responsesRequestSchema = z
  .object({
    model: z.string().optional(),
    input: z.union([z.string(), z.array(z.unknown())], 'input must be a string or a list of input items'),
    instructions: z.string().nullish(),
    stream: z.boolean().nullish(),
    max_output_tokens: z.number().int().positive().nullish(),
    temperature: z.number().min(0).max(2).nullish(),
    seed: z.number().int().nullish(),
    metadata: requestMetadataSchema.nullish(),
    store: z.boolean().nullish(),
    previous_response_id: z
      .string('previous_response_id must be the id of a response (resp_…)')
      .min(1, 'previous_response_id must be the id of a response (resp_…)')
      .nullish(),
    conversation: z
      .union(
        [z.string().min(1), z.object({ id: z.string().min(1) }).loose()],
        'conversation must be the id of a conversation (conv_…) or {"id": …}',
      )
      .nullish(),
    background: z.boolean('background must be true or false').nullish(),
    tools: z.array(z.unknown()).max(0, 'tools are not supported by the GTAlign turn').nullish(),
    top_logprobs: z
      .literal(0, 'log probabilities are not returned by the GTAlign turn; top_logprobs must be 0')
      .nullish(),
    tool_choice: z
      .enum(['none', 'auto'], 'tools are not supported by the GTAlign turn; tool_choice must be none or auto')
      .nullish(),
    text: z
      .object({
        format: z
          .object({ type: z.literal('text', 'gtalign serve answers in text; text.format.type must be text') })
          .loose()
          .optional(),
      })
      .loose()
      .nullish(),
    // A stored prompt template holds instructions and input gtalign serve does not have: answering
    // without them would answer another question.
    prompt: z
      .null('prompt templates are not served by gtalign serve; send the prompt as instructions and input')
      .optional(),
    // Moderation of the input and output is a safety check the client counts on: not silently skipped.
    moderation: z
      .null(
        'gtalign serve runs no moderation; moderate the input and the reply yourself, and drop moderation',
      )
      .optional(),
    gtalign: chatCompletionRequestSchema.shape.gtalign,
  })
  .loose();

export type ResponsesRequest = z.infer<typeof responsesRequestSchema>;

function tooManyItems(count: number, max: number) {
  return badRequest(
    `too many input items: ${count}, the server's limit is ${max}`,
    'input',
    'too_many_messages',
  );
}

/**
 * The bounded part of the check, run before the schema: `input` no longer than the limit, each item an
 * object, each content part an object with a string `type`, stopping at the first few problems; the
 * policy object bounded in size.
 */
export function checkResponsesShape(body: unknown, maxItems: number): void {
  if (!isPlainObject(body)) return; // the schema names what is wrong
  const g = body.gtalign;
  if (isPlainObject(g) && !atMostValues(g.policy, MAX_POLICY_VALUES)) {
    throw badRequest(
      `gtalign.policy is too large: a policy object holds at most ${MAX_POLICY_VALUES} values`,
      'gtalign.policy',
      'invalid_policy',
    );
  }
  if (isPlainObject(body.metadata) && !atMostValues(body.metadata, 2 * MAX_METADATA_PAIRS + 1)) {
    throw badRequest(`metadata holds at most ${MAX_METADATA_PAIRS} pairs`, 'metadata');
  }
  if (isPlainObject(body.metadata)) checkMetadataValues(body.metadata);
  if (!Array.isArray(body.input)) return;
  const items: unknown[] = body.input;
  if (items.length > maxItems) throw tooManyItems(items.length, maxItems);
  const problems = problemList();
  for (let i = 0; i < items.length && !problems.full; i++) {
    const item = items[i];
    if (!isPlainObject(item)) {
      problems.add(`input.${i}`, `expected an input item (an object), got ${kindOf(item)}`);
      continue;
    }
    if (Array.isArray(item.content)) {
      const parts: unknown[] = item.content;
      for (let j = 0; j < parts.length && !problems.full; j++) {
        const part = parts[j];
        if (!isPlainObject(part) || typeof part.type !== 'string') {
          problems.add(
            `input.${i}.content.${j}`,
            `expected a content part (an object with a string "type"), got ${kindOf(part)}`,
          );
        }
      }
    }
  }
  problems.throwIfAny();
}

export interface ResponsesTurnRequest {
  question: string;
  history: ConversationTurn[];
  /** Things the client should know about how its request was read. */
  notes: string[];
}

const ROLES = new Set(['user', 'assistant', 'system', 'developer']);

/** The text of an item's content: a string, or its `input_text` / `output_text` parts. */
function textOf(content: unknown, path: string): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) {
    throw badRequest(`${path}: expected a string or a list of content parts, got ${kindOf(content)}`, path);
  }
  const parts: string[] = [];
  for (const [j, part] of (content as Record<string, unknown>[]).entries()) {
    const type = part.type;
    if ((type === 'input_text' || type === 'output_text') && typeof part.text === 'string') {
      parts.push(part.text);
    } else if (type === 'input_text' || type === 'output_text') {
      throw badRequest(`${path}.${j}.text: expected a string, got ${kindOf(part.text)}`, `${path}.${j}.text`);
    } else {
      throw badRequest(
        `${path}.${j}: only input_text and output_text content parts are supported by the GTAlign turn, got ${typeof type === 'string' ? `type ${JSON.stringify(type).slice(0, 80)}` : `${kindOf(type)} for type`}`,
        `${path}.${j}.type`,
      );
    }
  }
  return parts.join('');
}

/** One input item read as a message (role and text), or `reasoning` for an item to skip. */
export function readMessageItem(
  item: Record<string, unknown>,
  path: string,
): { role: 'user' | 'assistant' | 'system' | 'developer'; text: string } | 'reasoning' {
  const type = item.type ?? 'message';
  if (type === 'reasoning') return 'reasoning';
  if (type !== 'message') {
    throw badRequest(
      `${path}: input items of type '${String(type)}' are not supported by the GTAlign turn; send messages`,
      `${path}.type`,
    );
  }
  const role = item.role;
  if (typeof role !== 'string' || !ROLES.has(role)) {
    throw badRequest(
      `${path}.role: expected user, assistant, system or developer, got ${typeof role === 'string' ? `'${role}'` : kindOf(role)}`,
      `${path}.role`,
    );
  }
  return {
    role: role as 'user' | 'assistant' | 'system' | 'developer',
    text: textOf(item.content, `${path}.content`),
  };
}

/** The question (the last item, which must be the user's message) and the earlier turns. */
export function readInput(body: ResponsesRequest, maxItems: number): ResponsesTurnRequest {
  const notes: string[] = [];
  if (body.instructions !== undefined && body.instructions !== null && body.instructions.trim() !== '') {
    notes.push('instructions not used: the GTAlign instruction prompt is the system behaviour');
  }
  if (body.top_p !== undefined && body.top_p !== null)
    notes.push('top_p not applied: the GTAlign turn samples both stages with its own settings');
  if (body.reasoning !== undefined && body.reasoning !== null)
    notes.push('reasoning not applied: the GTAlign turn reasons in its own <thinking> and <payoff> blocks');
  // OpenAI drops or compacts the oldest items of a conversation too long for the context; the turn sends
  // it whole.
  if ((body as { truncation?: unknown }).truncation === 'auto')
    notes.push('truncation auto not applied: a conversation longer than the context is not trimmed');
  const compaction = (body as { context_management?: unknown }).context_management;
  if (Array.isArray(compaction) && compaction.length > 0)
    notes.push('context_management not applied: the conversation is not compacted');
  // What a client asks to have included (log probabilities, encrypted reasoning, …) is not produced.
  const include = (body as { include?: unknown }).include;
  if (Array.isArray(include) && include.length > 0) {
    const named = include.slice(0, 5).map((v) => (typeof v === 'string' ? v : JSON.stringify(v)));
    notes.push(
      `include not applied (${named.join(', ')}${include.length > 5 ? ', …' : ''}): the GTAlign turn returns its text, trace and usage`,
    );
  }
  // The finished response's metadata holds the turn's trace under these keys: a client's values there
  // (often a previous response's metadata sent back) are replaced, and said so.
  const replaced = TRACE_METADATA_KEYS.filter(
    (k) => body.metadata != null && Object.hasOwn(body.metadata, k),
  );
  if (replaced.length > 0)
    notes.push(`metadata ${replaced.join(', ')} replaced: gtalign serve writes the turn's trace there`);
  if (typeof body.input === 'string') {
    if (body.input.trim() === '') throw badRequest('input is empty', 'input');
    return { question: body.input, history: [], notes };
  }
  const items = body.input as Record<string, unknown>[];
  if (items.length > maxItems) throw tooManyItems(items.length, maxItems);
  const turns: ConversationTurn[] = [];
  let skippedSystem = 0;
  let skippedReasoning = 0;
  let lastIndex = -1;
  for (const [i, item] of items.entries()) {
    const read = readMessageItem(item, `input.${i}`);
    if (read === 'reasoning') {
      skippedReasoning++;
      continue;
    }
    if (read.role === 'system' || read.role === 'developer') {
      skippedSystem++;
      continue;
    }
    turns.push({ role: read.role, content: read.text });
    lastIndex = i;
  }
  const last = turns.pop();
  if (last === undefined) throw badRequest('input holds no user message', 'input');
  if (last.role !== 'user') {
    throw badRequest(
      `the last message must be the user's question, got role '${last.role}'`,
      `input.${lastIndex}.role`,
    );
  }
  if (last.content.trim() === '') {
    throw badRequest('the last user message is empty', `input.${lastIndex}.content`);
  }
  if (skippedSystem > 0) {
    notes.push(
      `${skippedSystem} system/developer item(s) not used: the GTAlign instruction prompt is the system behaviour`,
    );
  }
  if (skippedReasoning > 0) notes.push(`${skippedReasoning} reasoning item(s) skipped`);
  return { question: last.content, history: turns, notes };
}

/** Per-request settings, as on the chat route: the `gtalign` body field, then headers, then the server's. */
export function readResponsesSettings(
  body: ResponsesRequest,
  headers: IncomingHttpHeaders,
  defaults: TurnSettings,
): TurnSettings {
  return readSettings(
    { messages: [], ...(body.gtalign === undefined ? {} : { gtalign: body.gtalign }) },
    headers,
    defaults,
  );
}
