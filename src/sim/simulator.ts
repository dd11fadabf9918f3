/**
 * The simulated user: any `ChatModel` playing the user of a conversation, with a persona and a hidden
 * intent. It sees only what a user sees: the user's own messages and the text of each assistant
 * `<response>` (never `<thinking>`, `<payoff>` or `<analyze>`). What it does next (answer, insist, leave)
 * is decided by the persona's rules ({@link decideUser}), so a run is reproducible whatever the model
 * writes; the model writes the words.
 */
import type { ChatMessage, ChatModel, GenerateResult } from '../llm/types.js';
import type { HiddenIntent } from './intent.js';
import { seededDraw } from './intent.js';
import type { Persona } from './persona.js';

/** One visible message of the conversation. */
export interface VisibleTurn {
  role: 'user' | 'assistant';
  /** The user's message, or the assistant's `<response>` text only. */
  content: string;
}

/** How the user replies to an assistant turn that asks something. */
export type ReplyMode = 'answer' | 'insist';

/**
 * What the user does after an assistant turn:
 * - `answer` / `insist`: replies (the assistant takes another turn);
 * - `end`: the assistant's turn ends the conversation (`reason` says why).
 */
export type UserDecision =
  | { next: ReplyMode }
  | { next: 'end'; reason: 'answered' | 'no-follow-up' | 'user-stopped' | 'turn-limit' | 'no-action' };

export type EndReason = Extract<UserDecision, { next: 'end' }>['reason'];

export interface DecisionState {
  /** 1-based index of the assistant turn just finished. */
  turn: number;
  /** Most assistant turns of the conversation. */
  maxTurns: number;
  /** The action of that turn (`DA`, `CQ`, `AQ`), undefined when the output carried none. */
  action: string | undefined;
  /** Replies of mode `answer` so far, and whether the user insisted already. */
  answers: number;
  insisted: boolean;
  persona: Persona;
  /** Seed and conversation id for the follow-up draw. */
  seed: number;
  conversation: string;
}

/**
 * The persona's rules: a direct answer (DA) ends the conversation; an answer with a follow-up (AQ) is
 * followed up with the persona's `followUp` chance (seeded draw per conversation and turn); a question
 * (CQ, or a followed-up AQ) is answered while the persona has answers left, then insisted on once (if it
 * insists), then the user leaves. No reply after the last allowed turn.
 */
export function decideUser(s: DecisionState): UserDecision {
  if (s.action === undefined) return { next: 'end', reason: 'no-action' };
  if (s.action === 'DA') return { next: 'end', reason: 'answered' };
  if (s.action === 'AQ' && !(seededDraw(s.seed, 'follow-up', s.conversation, s.turn) < s.persona.followUp)) {
    return { next: 'end', reason: 'no-follow-up' };
  }
  if (s.turn >= s.maxTurns) return { next: 'end', reason: 'turn-limit' };
  if (s.persona.maxAnswers === null || s.answers < s.persona.maxAnswers) return { next: 'answer' };
  if (s.persona.insists && !s.insisted) return { next: 'insist' };
  return { next: 'end', reason: 'user-stopped' };
}

const INSTRUCTIONS: Record<ReplyMode, string> = {
  answer:
    "The assistant's last message asks you something. Reply to it as this user would, consistently with what you want. Do not ask the assistant anything new and do not answer your own question.",
  insist:
    "The assistant's last message asks you another question, and you will not answer any more questions. Do not answer it: tell the assistant, in your manner, to give you its answer now.",
};

/** The messages the user's model gets: who it is, what it wants, the visible conversation, what to do. */
export function simulatorMessages(
  persona: Persona,
  intent: HiddenIntent,
  visible: readonly VisibleTurn[],
  mode: ReplyMode,
): ChatMessage[] {
  const system = [
    'You play a person who is chatting with an AI assistant. Stay in character. Write only your next message to the assistant: plain text, no quotation marks, no name or label in front.',
    `Your manner: ${persona.description}`,
    `What you want (the assistant cannot see this; reveal it only as far as the assistant's question needs):\n${intent.text}`,
  ].join('\n\n');
  const transcript = visible
    .map((t) => `${t.role === 'user' ? 'You' : 'Assistant'}: ${t.content}`)
    .join('\n\n');
  return [
    { role: 'system', content: system },
    {
      role: 'user',
      content: `The conversation so far:\n\n${transcript}\n\n${INSTRUCTIONS[mode]}`,
    },
  ];
}

export interface SimulatorOptions {
  model: ChatModel;
  persona: Persona;
  intent: HiddenIntent;
  maxTokens?: number;
  temperature?: number;
  /** The seed of the run's simulated users; each reply uses a seed from it, the conversation and the turn. */
  seed?: number;
}

export interface UserReply {
  text: string;
  mode: ReplyMode;
  result: GenerateResult;
}

/** Strips what a model playing a user may put around its message: a label, wrapping quotes. */
export function cleanReply(text: string): string {
  let t = text.trim();
  t = t.replace(/^(?:user|you|me)\s*:\s*/i, '');
  if (t.length >= 2 && /^["“].*["”]$/s.test(t)) t = t.slice(1, -1).trim();
  return t;
}

/** Asks the user's model for its next message. An empty reply is kept as written (an empty string). */
export async function simulateReply(
  options: SimulatorOptions,
  visible: readonly VisibleTurn[],
  mode: ReplyMode,
  context: { conversation: string; turn: number; signal?: AbortSignal },
): Promise<UserReply> {
  const seed = Math.floor(
    seededDraw(options.seed ?? 0, 'sample', context.conversation, context.turn) * 2 ** 31,
  );
  const result = await options.model.generate({
    messages: simulatorMessages(options.persona, options.intent, visible, mode),
    maxTokens: options.maxTokens ?? 256,
    temperature: options.temperature ?? 0,
    seed,
    ...(context.signal === undefined ? {} : { signal: context.signal }),
  });
  return { text: cleanReply(result.text), mode, result };
}
