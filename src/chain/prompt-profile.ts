/**
 * Prompt profiles: which words, in which message layout, stage 1 of a GTAlign turn sends (pure, no I/O).
 *
 * - `gtalign` (default): the project's own wording (`buildMessages`): one user message holding the
 *   instruction, the conversation so far as a transcript, and the question.
 * - `trained`: a {@link PromptTemplate}: the message layout and text a checkpoint was trained on. It is
 *   read at run time, from a data set row ({@link templateFromRows}) or from a template file the user
 *   writes ({@link parsePromptTemplate}); no wording of the released data sets is part of gtalign.
 * - `messages`: the exact messages to send (e.g. a data set row's own `prompt` in `eval run`): the
 *   question and history of the turn are then only used by a re-asked stage 2.
 *
 * A template renders as an optional system message and one user message:
 *
 *   [history.before + CARRIED HISTORY + history.after] + instructions + question + QUESTION
 *
 * where the history part is present only when there are earlier turns to carry (see {@link HistoryLayout}).
 */
import { z } from 'zod';
import { GtalignError } from '../errors.js';
import { describeZodError } from '../issues.js';
import { buildMessages, type ConversationTurn, type PromptMessage, type PromptOptions } from './prompt.js';

/**
 * How a template carries the conversation before the current question:
 * - `first-user`: only the conversation's first user message, between `before` and `after` (the layout of
 *   the released GTAlign data: earlier replies and later user messages are not repeated);
 * - `transcript`: every earlier turn, each as `user`/`assistant` label + content, joined by `separator`,
 *   between `before` and `after`;
 * - `none`: earlier turns are not sent.
 */
export type HistoryLayout =
  | { layout: 'none' }
  | { layout: 'first-user'; before: string; after: string }
  | {
      layout: 'transcript';
      before: string;
      after: string;
      user: string;
      assistant: string;
      separator: string;
    };

/** A checkpoint's prompt layout (see the module comment for how it renders). */
export interface PromptTemplate {
  /** The system message; none when undefined. */
  system?: string;
  /** The instruction text, placed after the history and before the question marker. */
  instructions: string;
  /** The text right before the current question (`Question: ` in the released data). */
  question: string;
  /** How earlier turns are carried. Undefined: not known (a turn with earlier turns is refused). */
  history?: HistoryLayout;
  /** Where the template came from (a file, a row), for messages. */
  source?: string;
}

/** The words of the gtalign profile that also shape a re-asked stage 2 and gtalign's own `<analyze>`. */
export type PromptWording = Pick<PromptOptions, 'actionDescriptions' | 'userTypeDescriptions'>;

/** The prompt of a turn: a profile and its data (see the module comment). */
export type PromptProfile = PromptWording &
  (
    | { profile?: 'gtalign' }
    | { profile: 'trained'; template: PromptTemplate }
    | { profile: 'messages'; messages: readonly PromptMessage[] }
  );

export type PromptProfileName = 'gtalign' | 'trained' | 'messages';

/** A template that cannot be read or rendered: the message names the file or row and what is wrong. */
export class PromptTemplateError extends GtalignError {
  readonly code = 'input';
  constructor(message: string, options?: { fix?: string }) {
    super(message, options);
    this.name = 'PromptTemplateError';
  }
}

/** The marker before the question, as the issue of the released data names it. */
export const QUESTION_MARKER = 'Question:';
const DEFAULT_QUESTION = `${QUESTION_MARKER} `;

const text = z.string();
const historySchema = z.discriminatedUnion('layout', [
  z.strictObject({ layout: z.literal('none') }),
  z.strictObject({
    layout: z.literal('first-user'),
    before: text.default(''),
    after: text.default(''),
  }),
  z.strictObject({
    layout: z.literal('transcript'),
    before: text.default(''),
    after: text.default(''),
    user: text.default('User: '),
    assistant: text.default('Assistant: '),
    separator: text.default('\n\n'),
  }),
]);

/** The template file format (JSON); see the README's "Prompt profiles". */
export const promptTemplateSchema = z.strictObject({
  system: text.optional(),
  instructions: text.refine((s) => s.trim() !== '', 'must not be empty'),
  question: text.default(DEFAULT_QUESTION),
  history: historySchema.optional(),
});

/** Validates a parsed template file; `source` (the file) is named in errors. */
export function parsePromptTemplate(value: unknown, source: string): PromptTemplate {
  const parsed = promptTemplateSchema.safeParse(value);
  if (!parsed.success) {
    throw new PromptTemplateError(
      `${source}: not a prompt template: ${describeZodError(parsed.error, 'template')}`,
      {
        fix: 'a template is a JSON object with "instructions" (required), "system", "question" and "history"; see the README',
      },
    );
  }
  const t = parsed.data;
  return {
    ...(t.system === undefined ? {} : { system: t.system }),
    instructions: t.instructions,
    question: t.question,
    ...(t.history === undefined ? {} : { history: t.history }),
    source,
  };
}

function carried(layout: HistoryLayout, history: readonly ConversationTurn[]): string | undefined {
  switch (layout.layout) {
    case 'none':
      return undefined;
    case 'first-user': {
      const first = history.find((t) => t.role === 'user');
      return first === undefined ? undefined : `${layout.before}${first.content}${layout.after}`;
    }
    case 'transcript': {
      if (history.length === 0) return undefined;
      const turns = history.map((t) => `${t.role === 'user' ? layout.user : layout.assistant}${t.content}`);
      return `${layout.before}${turns.join(layout.separator)}${layout.after}`;
    }
  }
}

/** The messages of a template for one question: an optional system message, then one user message. */
export function renderTemplate(
  template: PromptTemplate,
  question: string,
  history: readonly ConversationTurn[] = [],
): PromptMessage[] {
  let lead = '';
  if (history.length > 0) {
    if (template.history === undefined) {
      throw new PromptTemplateError(
        `the prompt template${template.source === undefined ? '' : ` from ${template.source}`} does not show how earlier turns are laid out, and this turn has ${history.length} earlier message(s)`,
        {
          fix: 'read the template from a data file with multi-turn rows (e.g. medium or math-hard), or give a template file with "history"',
        },
      );
    }
    lead = carried(template.history, history) ?? '';
  }
  const user = `${lead}${template.instructions}${template.question}${question}`;
  return [
    ...(template.system === undefined ? [] : [{ role: 'system' as const, content: template.system }]),
    { role: 'user', content: user },
  ];
}

/** The stage-1 messages of a turn under a profile. */
export function buildProfileMessages(
  profile: PromptProfile | undefined,
  turn: Pick<PromptOptions, 'question' | 'history' | 'spec'>,
): PromptMessage[] {
  const history = turn.history ?? [];
  if (profile?.profile === 'trained') return renderTemplate(profile.template, turn.question, history);
  if (profile?.profile === 'messages') {
    if (profile.messages.length === 0) throw new PromptTemplateError('the prompt has no messages');
    return profile.messages.map((m) => ({ role: m.role, content: m.content }));
  }
  return buildMessages({
    question: turn.question,
    history,
    ...(turn.spec === undefined ? {} : { spec: turn.spec }),
    ...(profile?.actionDescriptions === undefined ? {} : { actionDescriptions: profile.actionDescriptions }),
    ...(profile?.userTypeDescriptions === undefined
      ? {}
      : { userTypeDescriptions: profile.userTypeDescriptions }),
  });
}

/** A data set row as far as a template is read from it: its prompt and, when it has one, its chat history. */
export interface TemplateRow {
  /** Where the row is (file and row), for messages. */
  source: string;
  prompt: readonly PromptMessage[];
  /** `extra_info.chat_history`: the conversation, ending with the current question. */
  chatHistory?: readonly ConversationTurn[];
}

/** What one row shows of its layout. */
interface RowLayout {
  system?: string;
  instructions: string;
  question: string;
  /** The text before the carried first user message, when the row carries earlier turns. */
  before?: string;
}

function readRowLayout(row: TemplateRow): RowLayout {
  const where = row.source;
  const systems = row.prompt.filter((m) => m.role === 'system');
  const others = row.prompt.filter((m) => m.role !== 'system');
  if (
    systems.length > 1 ||
    others.length !== 1 ||
    others[0]!.role !== 'user' ||
    row.prompt.at(-1)!.role !== 'user'
  ) {
    throw new PromptTemplateError(
      `${where}: the prompt is ${row.prompt.map((m) => m.role).join(', ')}; a trained layout is an optional system message and one user message`,
    );
  }
  const user = others[0]!.content;
  const turns = row.chatHistory ?? [];
  const last = turns.at(-1);
  // The question: the chat history's last user message when the prompt ends with it; else what follows the
  // last marker.
  let head: string;
  let question: string;
  if (last !== undefined && last.role === 'user' && last.content !== '' && user.endsWith(last.content)) {
    head = user.slice(0, user.length - last.content.length);
    const at = head.lastIndexOf(QUESTION_MARKER);
    if (at < 0 || head.slice(at + QUESTION_MARKER.length).trim() !== '') {
      throw new PromptTemplateError(
        `${where}: the user message does not put "${QUESTION_MARKER}" right before the question`,
      );
    }
    question = head.slice(at);
    head = head.slice(0, at);
  } else {
    const at = user.lastIndexOf(QUESTION_MARKER);
    if (at < 0) throw new PromptTemplateError(`${where}: the user message has no "${QUESTION_MARKER}"`);
    const spaces = /^\s*/.exec(user.slice(at + QUESTION_MARKER.length))?.[0] ?? '';
    question = user.slice(at, at + QUESTION_MARKER.length + spaces.length);
    head = user.slice(0, at);
  }
  const system = systems[0]?.content;
  const earlier = last?.role === 'user' ? turns.slice(0, -1) : turns;
  const first = earlier.find((t) => t.role === 'user');
  if (first === undefined || first.content === '') {
    return { ...(system === undefined ? {} : { system }), instructions: head, question };
  }
  const at = head.indexOf(first.content);
  if (at < 0) {
    throw new PromptTemplateError(
      `${where}: the row has earlier turns, but its prompt does not hold the conversation's first user message`,
    );
  }
  const instructions = head.slice(at + first.content.length);
  const rest = earlier.filter((t) => t !== first && t.content.trim() !== '');
  if (rest.some((t) => head.includes(t.content))) {
    throw new PromptTemplateError(
      `${where}: the prompt carries more of the conversation than its first user message; gtalign reads only that layout from data`,
      { fix: 'write a template file with a "history" of layout "transcript"' },
    );
  }
  return { ...(system === undefined ? {} : { system }), instructions, question, before: head.slice(0, at) };
}

/**
 * The template the rows of a data file show: the system message, instruction text and question marker of
 * `first` (the file's first row), and the history layout of the first multi-turn row among `first` and
 * `multiTurn` (undefined when the file has none). Throws when the rows disagree.
 */
export function templateFromRows(
  first: TemplateRow,
  multiTurn?: TemplateRow,
  source?: string,
): PromptTemplate {
  const a = readRowLayout(first);
  let before = a.before;
  if (before === undefined && multiTurn !== undefined) {
    const b = readRowLayout(multiTurn);
    if (b.system !== a.system || b.instructions !== a.instructions || b.question !== a.question) {
      throw new PromptTemplateError(
        `${multiTurn.source}: its system message or instructions differ from those of ${first.source}, so the file shows no one layout`,
      );
    }
    before = b.before;
  }
  return {
    ...(a.system === undefined ? {} : { system: a.system }),
    instructions: a.instructions,
    question: a.question,
    ...(before === undefined ? {} : { history: { layout: 'first-user', before, after: '' } }),
    source: source ?? first.source,
  };
}

/** Whether a row carries earlier turns (its chat history has a user message before the current one). */
export function isMultiTurnRow(row: Pick<TemplateRow, 'chatHistory'>): boolean {
  const turns = row.chatHistory ?? [];
  return turns.slice(0, -1).some((t) => t.role === 'user');
}
