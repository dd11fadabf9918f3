/**
 * The request side of `POST /v1/chat/completions`: the body schema (validated at the edge), and what a
 * request asks of the GTAlign turn: the question and history from `messages`, and per-request steering
 * from the `gtalign` body field or, for clients that cannot add body fields, from headers:
 *
 * - `gtalign.policy` / `x-gtalign-policy`: a preset name, or a policy object (the header: its JSON).
 *   Never a file path: a request must not make the server read files.
 * - `gtalign.analysis` / `x-gtalign-analysis`: `model` or `solver`.
 * - `gtalign.reasoning` / `x-gtalign-reasoning`: `full` (or `true`): the reply is the whole four-block
 *   chain instead of the `<response>` text; `separate`: the reply is the `<response>` text, and the
 *   reasoning (thinking, then analysis) comes apart from it, in `reasoning_content` and `reasoning`,
 *   streamed as the model writes it; `none` (or `false`, the default): the `<response>` text alone.
 *
 * The body field wins over the header; both win over the server's configuration.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { z } from 'zod';
import type { AnalysisMode, ContinuationMode } from '../assistant/turn.js';
import type { ConversationTurn } from '../chain/prompt.js';
import { SELECTION_RULES, type SelectionRuleName } from '../game/select.js';
import { SteeringError } from '../steering/errors.js';
import type { SteeringPolicy } from '../steering/policy.js';
import { resolvePolicy } from '../steering/presets.js';
import { atMostValues, checkElements, isPlainObject, kindOf, problemList } from './body-check.js';
import { badRequest } from './errors.js';

/** What a reply carries of the model's reasoning (see the module comment). */
export const REASONING_MODES = ['none', 'full', 'separate'] as const;
export type ReasoningMode = (typeof REASONING_MODES)[number];

const textPart = z.object({ type: z.literal('text'), text: z.string() });
const otherPart = z.object({ type: z.string() }).loose();

const messageSchema = z
  .object({
    role: z.enum(['system', 'developer', 'user', 'assistant', 'tool']),
    content: z
      .union([z.string(), z.array(z.union([textPart, otherPart])), z.null()], {
        error: (issue) => `expected a string, an array of content parts or null, got ${kindOf(issue.input)}`,
      })
      .optional(),
    name: z.string().optional(),
  })
  .loose();

const gtalignSchema = z
  .object({
    policy: z.union([z.string().min(1), z.record(z.string(), z.unknown())]).optional(),
    analysis: z.enum(['model', 'solver']).optional(),
    continuation: z.enum(['continue', 'reask', 'auto']).optional(),
    rule: z.enum(SELECTION_RULES).optional(),
    reasoning: z.union([z.boolean(), z.enum(REASONING_MODES)]).optional(),
  })
  .strict();

export const chatCompletionRequestSchema = z
  .object({
    model: z.string().optional(),
    messages: z.array(messageSchema).min(1, 'at least one message is required'),
    stream: z.boolean().nullish(),
    stream_options: z.object({ include_usage: z.boolean().nullish() }).loose().nullish(),
    max_tokens: z.number().int().positive().nullish(),
    max_completion_tokens: z.number().int().positive().nullish(),
    temperature: z.number().min(0).max(2).nullish(),
    seed: z.number().int().nullish(),
    n: z.literal(1, 'gtalign serve answers with one choice; n must be 1').nullish(),
    tools: z.array(z.unknown()).max(0, 'tools are not supported by the GTAlign turn').nullish(),
    // What the turn cannot give is refused by name rather than ignored: a client asking for JSON, log
    // probabilities, audio or a tool call would otherwise get plain text and not know why.
    tool_choice: z
      .enum(['none', 'auto'], 'tools are not supported by the GTAlign turn; tool_choice must be none or auto')
      .nullish(),
    // The deprecated form of tools, which OpenAI's API still takes.
    functions: z.array(z.unknown()).max(0, 'function calling is not supported by the GTAlign turn').nullish(),
    function_call: z
      .enum(
        ['none', 'auto'],
        'function calling is not supported by the GTAlign turn; function_call must be none or auto',
      )
      .nullish(),
    response_format: z
      .object({
        type: z.literal(
          'text',
          'gtalign serve answers in text (the turn writes its own four-block format); response_format.type must be text',
        ),
      })
      .loose()
      .nullish(),
    logprobs: z
      .literal(false, 'log probabilities are not returned by the GTAlign turn; logprobs must be false')
      .nullish(),
    top_logprobs: z
      .literal(0, 'log probabilities are not returned by the GTAlign turn; top_logprobs must be 0')
      .nullish(),
    modalities: z
      .array(z.literal('text', 'gtalign serve answers in text; modalities must be ["text"]'))
      .nullish(),
    audio: z.null('gtalign serve answers in text; audio output is not supported').optional(),
    gtalign: gtalignSchema.optional(),
  })
  .loose();

/** Sampling fields a client may send that the GTAlign turn does not apply (it samples both stages itself). */
const UNAPPLIED = ['stop', 'top_p', 'frequency_penalty', 'presence_penalty', 'logit_bias'] as const;

/** A note naming the fields of `body` the turn does not apply, or none. */
export function unappliedNote(body: Readonly<Record<string, unknown>>): string[] {
  const given = UNAPPLIED.filter((k) => body[k] !== undefined && body[k] !== null);
  return given.length === 0
    ? []
    : [
        `${given.join(', ')} not applied: the GTAlign turn samples both stages with its own settings and stop strings`,
      ];
}

export type ChatCompletionRequest = z.infer<typeof chatCompletionRequestSchema>;

/** Most values in a request's policy object: a real one has a few dozen; the parser reports each bad one. */
const MAX_POLICY_VALUES = 256;

function tooManyMessages(count: number, max: number) {
  return badRequest(
    `too many messages: ${count}, the server's limit is ${max}`,
    'messages',
    'too_many_messages',
  );
}

/**
 * The bounded part of the check, run before the schema: `messages` no longer than the limit, each one an
 * object, each content part an object with a string `type`, stopping at the first few problems. The
 * schema would report every bad element of a content array (its union, twice over), which for a body of
 * half a million numbers is seconds of blocked event loop; and the policy object is bounded in size, since
 * the policy parser reports each bad column. What passes here leaves the schemas little to report.
 */
export function checkChatRequestShape(body: unknown, maxMessages: number): void {
  if (!isPlainObject(body) || !Array.isArray(body.messages)) return; // the schema names what is wrong
  const messages: unknown[] = body.messages;
  if (messages.length > maxMessages) throw tooManyMessages(messages.length, maxMessages);
  const problems = problemList();
  for (let i = 0; i < messages.length && !problems.full; i++) {
    const m = messages[i];
    if (!isPlainObject(m)) {
      problems.add(`messages.${i}`, `expected a message object, got ${kindOf(m)}`);
      continue;
    }
    if (Array.isArray(m.content)) {
      checkElements(
        m.content,
        `messages.${i}.content`,
        'a content part (an object with a string "type")',
        (part) => isPlainObject(part) && typeof part.type === 'string',
        problems,
      );
    }
  }
  problems.throwIfAny();
  const g = body.gtalign;
  if (isPlainObject(g) && !atMostValues(g.policy, MAX_POLICY_VALUES)) {
    throw badRequest(
      `gtalign.policy is too large: a policy object holds at most ${MAX_POLICY_VALUES} values`,
      'gtalign.policy',
      'invalid_policy',
    );
  }
}

export interface TurnRequest {
  question: string;
  history: ConversationTurn[];
  /** Things the client should know about how its request was read (e.g. a system prompt not used). */
  notes: string[];
}

function textOf(content: z.infer<typeof messageSchema>['content'], index: number): string {
  if (content === undefined || content === null) return '';
  if (typeof content === 'string') return content;
  const parts: string[] = [];
  for (const [i, part] of content.entries()) {
    const at = `messages.${index}.content.${i}`;
    if (part.type !== 'text') {
      throw badRequest(
        `${at}: only text content parts are supported, got type ${JSON.stringify(part.type).slice(0, 80)}`,
        `${at}.type`,
      );
    }
    if (typeof part.text !== 'string')
      throw badRequest(`${at}.text: expected a string, got ${kindOf(part.text)}`, `${at}.text`);
    parts.push(part.text);
  }
  return parts.join('');
}

/** The question (the last message, which must be the user's) and the earlier turns. */
export function readMessages(body: ChatCompletionRequest, maxMessages: number): TurnRequest {
  const { messages } = body;
  if (messages.length > maxMessages) throw tooManyMessages(messages.length, maxMessages);
  const last = messages.at(-1)!;
  if (last.role !== 'user') {
    throw badRequest(
      `the last message must be the user's question, got role '${last.role}'`,
      `messages.${messages.length - 1}.role`,
    );
  }
  const question = textOf(last.content, messages.length - 1);
  if (question.trim() === '') {
    throw badRequest('the last user message is empty', `messages.${messages.length - 1}.content`);
  }
  const history: ConversationTurn[] = [];
  let skipped = 0;
  for (let i = 0; i < messages.length - 1; i++) {
    const m = messages[i]!;
    if (m.role === 'tool') {
      throw badRequest('tool messages are not supported by the GTAlign turn', `messages.${i}.role`);
    }
    if (m.role === 'system' || m.role === 'developer') {
      skipped++;
      continue;
    }
    history.push({ role: m.role, content: textOf(m.content, i) });
  }
  const notes =
    skipped > 0
      ? [
          `${skipped} system/developer message(s) not used: the GTAlign instruction prompt is the system behaviour`,
        ]
      : [];
  notes.push(...unappliedNote(body));
  if (body.reasoning_effort !== undefined && body.reasoning_effort !== null)
    notes.push(
      'reasoning_effort not applied: the GTAlign turn reasons in its own <thinking> and <payoff> blocks',
    );
  return { question, history, notes };
}

export interface TurnSettings {
  policy: SteeringPolicy;
  analysis: AnalysisMode;
  continuation: ContinuationMode;
  rule: SelectionRuleName;
  reasoning: ReasoningMode;
}

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name];
  const s = Array.isArray(v) ? v[0] : v;
  return s === undefined || s.trim() === '' ? undefined : s.trim();
}

/** A header's value in a message, cut short: a header may hold kilobytes. */
function shownHeader(value: string): string {
  return `'${value.length > 40 ? `${value.slice(0, 40)}…` : value}'`;
}

function policyFrom(value: unknown, param: string): SteeringPolicy {
  try {
    return resolvePolicy(value);
  } catch (err) {
    if (err instanceof SteeringError) throw badRequest(err.message, param, 'invalid_policy');
    throw err;
  }
}

/** Per-request settings: body field, then header, then the server's defaults. */
export function readSettings(
  body: ChatCompletionRequest,
  headers: IncomingHttpHeaders,
  defaults: TurnSettings,
): TurnSettings {
  const g = body.gtalign ?? {};
  let policy = defaults.policy;
  if (g.policy !== undefined) policy = policyFrom(g.policy, 'gtalign.policy');
  else {
    const h = header(headers, 'x-gtalign-policy');
    if (h !== undefined) {
      let value: unknown = h;
      if (h.startsWith('{')) {
        try {
          value = JSON.parse(h);
        } catch (err) {
          throw badRequest(
            `header x-gtalign-policy is not valid JSON: ${(err as Error).message}`,
            'x-gtalign-policy',
            'invalid_policy',
          );
        }
      }
      policy = policyFrom(value, 'x-gtalign-policy');
    }
  }
  let analysis = g.analysis ?? defaults.analysis;
  if (g.analysis === undefined) {
    const h = header(headers, 'x-gtalign-analysis');
    if (h !== undefined) {
      if (h !== 'model' && h !== 'solver') {
        throw badRequest(
          `header x-gtalign-analysis must be model or solver, got ${shownHeader(h)}`,
          'x-gtalign-analysis',
        );
      }
      analysis = h;
    }
  }
  const reasoningHeader = header(headers, 'x-gtalign-reasoning');
  if (reasoningHeader !== undefined && !(REASONING_MODES as readonly string[]).includes(reasoningHeader)) {
    throw badRequest(
      `header x-gtalign-reasoning must be ${REASONING_MODES.join(', ')}, got ${shownHeader(reasoningHeader)}`,
      'x-gtalign-reasoning',
    );
  }
  const bodyReasoning = g.reasoning === true ? 'full' : g.reasoning === false ? 'none' : g.reasoning;
  return {
    policy,
    analysis,
    continuation: g.continuation ?? defaults.continuation,
    rule: g.rule ?? defaults.rule,
    reasoning: bodyReasoning ?? (reasoningHeader as ReasoningMode | undefined) ?? defaults.reasoning,
  };
}
