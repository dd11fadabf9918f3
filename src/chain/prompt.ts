/**
 * The instruction prompt for a GTAlign turn (GTALIGN.md §2), in the project's own wording.
 *
 * The released datasets put the whole instruction, the conversation so far and the current question
 * into the last user message; `buildMessages` does the same so new questions look like the training data.
 */
import { DEFAULT_SPEC, type GameSpec, payoffKeyOrder, specProblems } from '../game/spec.js';

export interface ConversationTurn {
  role: 'user' | 'assistant';
  content: string;
}

export interface PromptOptions {
  /** The user's current question. */
  question: string;
  /** Earlier turns, oldest first. */
  history?: readonly ConversationTurn[];
  spec?: GameSpec;
  /**
   * What each assistant strategy (column) means, by name. Merged over the built-in descriptions of
   * DA, CQ and AQ; a column with no description is listed by name only.
   */
  actionDescriptions?: Readonly<Record<string, string>>;
  /** What each user strategy (row) means, by name. Merged over the built-in descriptions of DQ and VQ. */
  userTypeDescriptions?: Readonly<Record<string, string>>;
}

/** A message of a turn's prompt (the gtalign profile sends one user message; a trained layout may add a system one). */
export interface PromptMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

/** Built-in meanings of the default spec's user types. */
export const DEFAULT_USER_TYPE_DESCRIPTIONS: Readonly<Record<string, string>> = Object.freeze({
  DQ: 'a definite, detailed question: clear and specific enough to be answered as asked',
  VQ: 'a vague or ambiguous question: key details are missing, or it could reasonably mean several things',
});

/** Built-in meanings of the default spec's assistant actions, phrased as what the response must do. */
export const DEFAULT_ACTION_DESCRIPTIONS: Readonly<Record<string, string>> = Object.freeze({
  DA: 'direct answer: give a concise, direct answer and ask nothing',
  CQ: 'clarifying question: ask exactly one clarifying question and do not answer yet',
  AQ: 'answer plus follow-up: give a brief answer, then ask exactly one targeted follow-up question',
});

function describe(names: readonly string[], descriptions: Readonly<Record<string, string>>): string {
  return names
    .map((name) => {
      const d = Object.hasOwn(descriptions, name) ? descriptions[name] : undefined;
      return d === undefined || d.trim() === '' ? `   - ${name}` : `   - ${name}: ${d.trim()}`;
    })
    .join('\n');
}

function renderHistory(history: readonly ConversationTurn[]): string {
  return history.map((t) => `${t.role === 'user' ? 'User' : 'Assistant'}: ${t.content.trim()}`).join('\n\n');
}

/**
 * Builds the instruction text for one turn. Throws when `spec` is invalid (a programming error,
 * not model output).
 */
export function buildInstructionPrompt(options: PromptOptions): string {
  const spec = options.spec ?? DEFAULT_SPEC;
  const problems = specProblems(spec);
  if (problems.length > 0) throw new Error(`invalid game spec: ${problems.join('; ')}`);
  // The keys in the order the payoff block must list them (the grammars force the same order).
  const keys = payoffKeyOrder(spec);
  const userTypes = { ...DEFAULT_USER_TYPE_DESCRIPTIONS, ...options.userTypeDescriptions };
  const actions = { ...DEFAULT_ACTION_DESCRIPTIONS, ...options.actionDescriptions };
  const rows = spec.rows.join(', ');
  const columns = spec.columns.join(', ');
  const example = keys[keys.length - 1] ?? '';

  const sections: string[] = [
    [
      'You are a helpful assistant. Treat this reply as a small game between you (the assistant, called "LLM") ' +
        'and the user, and choose the reply that is best for both of you together, not only for yourself.',
      '',
      'Write exactly four tagged blocks, in this order, and nothing before, between or after them except line breaks:',
      '<thinking>...</thinking>',
      '<payoff>...</payoff>',
      '<analyze>...</analyze>',
      '<response>...</response>',
    ].join('\n'),
    [
      `1. <thinking>: a short qualitative analysis. First decide which type of question the user asked (one of ${rows}):`,
      describe(spec.rows, userTypes),
      `   Then weigh each action you could take (${columns}) for both you and the user: the risk of a wrong answer, ` +
        'ambiguity, the user’s time and effort, token and compute cost, satisfaction, and the chance of success:',
      describe(spec.columns, actions),
      '   Use words only: no numbers in this block.',
    ].join('\n'),
    [
      `2. <payoff>: a strict JSON object (double quotes, no comments, no trailing commas) with exactly these ${keys.length} keys, each once, in this order:`,
      `   ${keys.join(', ')}`,
      '   A key names a pair USERTYPE_ACTION. Each key maps to {"LLM": number, "user": number}: your payoff and ' +
        'the user’s payoff if the question is of that type and you take that action. Higher is better, 0 is ' +
        'neutral, negative values are allowed; keep values roughly between -5 and 5, with at most one decimal place.',
    ].join('\n'),
    [
      `3. <analyze>: list the Pareto frontier of the ${keys.length} points written as (LLM, user): the cells that no ` +
        'other cell beats for one party without being worse for the other.',
      '   Then choose exactly ONE cell: the largest LLM + user; on a tie, the larger user payoff; if still tied, ' +
        `the larger LLM payoff. Name the chosen key exactly as written above (for example ${example}).`,
    ].join('\n'),
    [
      '4. <response>: the reply the user reads. It carries out the action of the chosen cell:',
      describe(spec.columns, actions),
      '   Never mention payoffs, the game, cells or these tags in this block.',
    ].join('\n'),
  ];
  const history = options.history ?? [];
  if (history.length > 0) sections.push(`Conversation so far:\n\n${renderHistory(history)}`);
  sections.push(`Current question:\n\n${options.question.trim()}`);
  return sections.join('\n\n');
}

/** The chat messages for one turn: a single user message holding the instruction, history and question. */
export function buildMessages(options: PromptOptions): PromptMessage[] {
  return [{ role: 'user', content: buildInstructionPrompt(options) }];
}
