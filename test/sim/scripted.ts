/**
 * Scripted stand-ins for the conversation tests: loopback OpenAI-compatible servers (test/support/
 * openai-stub-server.ts) replaying outputs the test chooses. None of them is a model. The assistant
 * script answers turn t (1-based: one more than the assistant messages before it) with the action the test
 * lists for that turn; the user script answers `answer` or `insist` requests with fixed text; the judge
 * gives every ambiguity verdict 1.
 */
import { createHash } from 'node:crypto';
import { RUBRICS } from '../../src/reward/rubrics.js';
import type { StubReply, StubRequestBody } from '../support/openai-stub-server.js';

export type Message = { role: string; content: string };

/** The AmbigQA question of the conversation tests: two meanings, so the simulated user holds one. */
export const CUP_QUESTION = 'Who won the cup?';
export const CUP_GROUND_TRUTH =
  'multipleQAs###There are multiple meanings of the question.Meaning 0: Who won the cup in 2010?; Answer 0: Spain\n' +
  'Meaning 1: Who won the cup in 2014?; Answer 1: Germany\n';

/** A data set row asking `question` (the cup question by default) with the cup's two meanings. */
export const cupRow = (id: string, question = CUP_QUESTION) => ({
  id,
  data_source: 'ambig_qa',
  prompt: [{ role: 'user' as const, content: `Answer in four blocks.\nQuestion: ${question}` }],
  ground_truth: CUP_GROUND_TRUTH,
  extra_info: { single_turn_prompt: question, chat_history: [{ role: 'user', content: question }] },
});
export type Action = 'DA' | 'CQ' | 'AQ';

const stage1 = (m: Record<string, [number, number]>) =>
  `<thinking>Weighing a direct answer against a question.</thinking>\n<payoff>\n${JSON.stringify(
    Object.fromEntries(Object.entries(m).map(([k, [llm, user]]) => [k, { LLM: llm, user }])),
  )}\n</payoff>`;

/** Stage-1 texts whose sum-rule pick is the named cell. */
export const STAGE1: Record<Action, string> = {
  CQ: stage1({
    DQ_DA: [1.6, 2.8],
    DQ_CQ: [1.3, 2.7],
    DQ_AQ: [1.0, 2.5],
    VQ_DA: [1.9, 2.4],
    VQ_CQ: [1.7, 2.9],
    VQ_AQ: [1.4, 2.3],
  }),
  DA: stage1({
    DQ_DA: [3.5, 3.6],
    DQ_CQ: [1.0, 1.5],
    DQ_AQ: [2.0, 2.4],
    VQ_DA: [2.0, 1.0],
    VQ_CQ: [1.1, 1.9],
    VQ_AQ: [1.5, 1.5],
  }),
  AQ: stage1({
    DQ_DA: [1.0, 1.0],
    DQ_CQ: [1.0, 1.5],
    DQ_AQ: [3.0, 3.4],
    VQ_DA: [2.0, 1.0],
    VQ_CQ: [1.1, 1.9],
    VQ_AQ: [1.5, 1.5],
  }),
};
export const CELL: Record<Action, string> = { CQ: 'VQ_CQ', DA: 'DQ_DA', AQ: 'DQ_AQ' };

export const tail = (cell: string, response: string) =>
  `\n<analyze>Frontier checked. I choose ${cell}.</analyze>\n<response>${response}</response>`;

/** `text` up to the first stop string, as a server cuts its output. */
export function cut(text: string, stops: readonly string[]): string {
  const at = stops.map((s) => text.indexOf(s)).filter((i) => i >= 0);
  return at.length > 0 ? text.slice(0, Math.min(...at)) : text;
}

/** The 1-based assistant turn a request is for, and whether it is stage 2 (an assistant prefix). */
export function turnOf(body: StubRequestBody): { turn: number; stage2: boolean; messages: Message[] } {
  const messages = body.messages as Message[];
  const stage2 = messages.at(-1)!.role === 'assistant';
  const before = stage2 ? messages.slice(0, -1) : messages;
  return { turn: 1 + before.filter((m) => m.role === 'assistant').length, stage2, messages };
}

/**
 * The assistant: `plan(messages, turn)` names the action of that turn and its response text. Stage 1 gets
 * the action's canned matrix; stage 2 the analysis and the response.
 */
export function assistantScript(
  plan: (messages: Message[], turn: number) => { action: Action; response: string },
) {
  return (body: StubRequestBody): StubReply => {
    const { turn, stage2, messages } = turnOf(body);
    const stops = (body.stop as string[] | undefined) ?? [];
    const { action, response } = plan(stage2 ? messages.slice(0, -1) : messages, turn);
    if (!stage2) return { content: cut(STAGE1[action], stops) };
    return { content: cut(tail(CELL[action], response), stops) };
  };
}

/** The clarifying question and the answer of {@link askThenAnswer}. */
export const CQ_TEXT = 'Which year do you mean?';
export const DA_TEXT = 'It was Spain.';

/** A plan for {@link assistantScript}: turn 1 asks which year (CQ), every later turn answers (DA). */
export const askThenAnswer = (_m: Message[], turn: number): { action: Action; response: string } =>
  turn === 1 ? { action: 'CQ', response: CQ_TEXT } : { action: 'DA', response: DA_TEXT };

/** The full output the assistant's turn assembles from the script (stage 1, then stage 2). */
export const outputOf = (action: Action, response: string) => STAGE1[action] + tail(CELL[action], response);

export const USER_TEXT = {
  answer: 'I mean the one in 2010.',
  insist: 'Stop asking, just give me the answer.',
};

/** The simulated user's model: fixed text for each reply mode (told apart by the instruction). */
export function userScript(body: StubRequestBody): StubReply {
  const messages = body.messages as Message[];
  const insist = messages.at(-1)!.content.includes('will not answer any more questions');
  return { content: insist ? USER_TEXT.insist : USER_TEXT.answer };
}

export function judgeScript(body: StubRequestBody): StubReply {
  const system = (body.messages as Message[])[0]!.content;
  if (system === RUBRICS.ambiguity) return { content: '<abg>1</abg>' };
  return { status: 400, errorMessage: 'unknown rubric' };
}

/**
 * The judge's script behind a switch, for tests of what a run does when its judge fails: while
 * `state.up` is false it refuses every request (HTTP 400, which is not retried).
 */
export const switchableJudgeScript =
  (state: { up: boolean }) =>
  (body: StubRequestBody): StubReply =>
    state.up ? judgeScript(body) : { status: 400, errorMessage: 'judge down' };

/** The documented meaning draw, computed here independently: sha256(seed␀meaning␀id) → [0,1) × count. */
export function heldIndex(seed: number, id: string, count: number): number {
  const h = createHash('sha256').update(`${seed}\u0000meaning\u0000${id}`).digest();
  return Math.floor((h.readUInt32BE(0) / 2 ** 32) * count);
}

/** `eval run`'s flags for the scripted assistant server at `url` (a vLLM-kind server, no detection). */
export const assistantArgs = (url: string, model = 'stub-assistant'): string[] => [
  '--backend',
  'openai',
  '--base-url',
  url,
  '--model',
  model,
  '--vendor',
  'vllm',
];

/**
 * `eval run` of `data` into `out` against the scripted assistant at `assistantUrl`, judged by the scripted
 * judge at `judgeUrl` (`--judge offline` when undefined), with no cache, the approximate tokenizer and no
 * progress line; `extra` flags last.
 */
export const evalRunArgs = (options: {
  data: string;
  out: string;
  assistantUrl: string;
  judgeUrl: string | undefined;
  extra?: readonly string[];
}): string[] => [
  'eval',
  'run',
  '--data',
  options.data,
  '--out',
  options.out,
  ...assistantArgs(options.assistantUrl),
  ...(options.judgeUrl === undefined
    ? ['--judge', 'offline']
    : ['--judge-url', options.judgeUrl, '--judge-model', 'stub-judge', '--judge-vendor', 'vllm']),
  '--no-cache',
  '--tokenizer',
  'approx',
  '--no-progress',
  ...(options.extra ?? []),
];

/** `eval run`'s flags for three-turn conversations with the scripted simulated user at `url`. */
export const simulatedUserArgs = (url: string): string[] => [
  '--turns',
  '3',
  '--user-backend',
  'openai',
  '--user-base-url',
  url,
  '--user-model',
  'stub-user',
  '--user-vendor',
  'vllm',
];

/**
 * `eval run` of three-turn conversations by the scripted servers: the assistant, the simulated user and
 * (when `judgeUrl` is given, with one retry) the judge; the personas to run, then `extra`.
 */
export const conversationRunArgs = (options: {
  data: string;
  out: string;
  assistantUrl: string;
  userUrl: string;
  judgeUrl: string | undefined;
  personas?: string;
  extra?: readonly string[];
}): string[] =>
  evalRunArgs({
    data: options.data,
    out: options.out,
    assistantUrl: options.assistantUrl,
    judgeUrl: options.judgeUrl,
    extra: [
      ...(options.judgeUrl === undefined ? [] : ['--judge-retries', '1']),
      ...simulatedUserArgs(options.userUrl),
      '--persona',
      options.personas ?? 'cooperative',
      ...(options.extra ?? []),
    ],
  });
