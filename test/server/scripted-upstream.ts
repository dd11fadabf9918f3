/**
 * The paper's dinosaur example (GTALIGN.md §5) as a scripted upstream for the server tests: stage 1 returns
 * the example's reasoning and matrix; stage 2 answers by the matrix it is shown in the assistant prefix
 * (sum rule), so the response proves which matrix reached the model; a re-asked request gets the reply for
 * its one-line instruction.
 */
import { parsePayoff } from '../../src/chain/payoff.js';
import { DINOSAUR_MATRIX } from '../../src/game/paper-example.js';
import { selectCell } from '../../src/game/select.js';
import type { PayoffMatrix } from '../../src/game/spec.js';
import type { StubReply, StubRequestBody } from '../support/openai-stub-server.js';

export const QUESTION = 'When did dinosaurs first appear?';
const THINKING =
  '<thinking>The user asks when dinosaurs first appeared. Fairly clear, but "first" could mean the earliest ' +
  'true dinosaurs or their relatives. A direct answer is cheap; a clarifying question costs a turn.</thinking>';
export const STAGE1 =
  `${THINKING}\n<payoff>\n` +
  '{"DQ_DA": {"LLM": 1.6, "user": 2.8}, "DQ_CQ": {"LLM": 1.3, "user": 2.7}, "DQ_AQ": {"LLM": 1.0, "user": 2.5}, ' +
  '"VQ_DA": {"LLM": 1.9, "user": 2.4}, "VQ_CQ": {"LLM": 1.7, "user": 2.9}, "VQ_AQ": {"LLM": 1.4, "user": 2.3}}' +
  '\n</payoff>';
/** The matrix STAGE1 writes: the paper's worked example. */
export const MATRIX: PayoffMatrix = DINOSAUR_MATRIX;
export const PAPER_API_MATRIX: PayoffMatrix = {
  DQ_DA: { LLM: 2.6, user: 2.3 },
  DQ_CQ: { LLM: 1.3, user: 2.2 },
  DQ_AQ: { LLM: 1.5, user: 2.0 },
  VQ_DA: { LLM: 2.9, user: 1.9 },
  VQ_CQ: { LLM: 1.7, user: 2.4 },
  VQ_AQ: { LLM: 1.9, user: 1.8 },
};
export const RESPONSES: Record<string, string> = {
  DA: 'Dinosaurs first appeared about 230 million years ago, in the Late Triassic.',
  CQ: 'Do you mean the first true dinosaurs, or the earliest reptiles on the line that led to them?',
  AQ: 'About 230 million years ago, in the Triassic. Would you like to know which species came first?',
};
const REASK: Record<string, string> = {
  'Answer the question directly and concisely.': RESPONSES.DA!,
  'Ask exactly one clarifying question and do not answer yet.': RESPONSES.CQ!,
  'Give a brief answer, then ask exactly one follow-up question.': RESPONSES.AQ!,
};

function cutAtStop(body: StubRequestBody, text: string): string {
  const stops = Array.isArray(body.stop) ? (body.stop as string[]) : [];
  let end = text.length;
  for (const s of stops) {
    const at = text.indexOf(s);
    if (at >= 0 && at < end) end = at;
  }
  return text.slice(0, end);
}

export interface ScriptOptions {
  /** Pause between streamed chunks (stage 2). */
  chunkDelayMs?: number;
  /** Delay before stage 1 answers. */
  stage1DelayMs?: number;
  /** Code points per streamed chunk (default 4). */
  chunkSize?: number;
}

export function dinosaurScript(options: ScriptOptions = {}) {
  return (body: StubRequestBody): StubReply => {
    const messages = (body.messages as Array<{ role: string; content: string }>) ?? [];
    const last = messages.at(-1);
    const streaming = {
      ...(options.chunkDelayMs === undefined ? {} : { chunkDelayMs: options.chunkDelayMs }),
      ...(options.chunkSize === undefined ? {} : { chunkSize: options.chunkSize }),
    };
    if (last?.role === 'assistant') {
      const prefix = last.content;
      const payload = prefix.slice(prefix.indexOf('<payoff>') + 8, prefix.indexOf('</payoff>'));
      const parsed = parsePayoff(payload);
      if (!parsed.ok) return { status: 400, errorMessage: 'no matrix in the prefix' };
      const cell = selectCell(parsed.matrix).selected[0]!;
      const analyze = prefix.includes('</analyze>')
        ? ''
        : `\n<analyze>On the Pareto frontier the largest LLM + user is ${cell}, so I choose ${cell}.</analyze>`;
      return {
        content: cutAtStop(body, `${analyze}\n<response>${RESPONSES[cell.slice(3)]}</response>`),
        ...streaming,
      };
    }
    if (Array.isArray(body.stop) && (body.stop as string[]).includes('</payoff>')) {
      return {
        content: cutAtStop(body, STAGE1),
        ...(options.stage1DelayMs === undefined ? {} : { delayMs: options.stage1DelayMs }),
      };
    }
    const instruction = Object.keys(REASK).find((i) => last?.content.endsWith(i));
    return { content: instruction === undefined ? 'I do not know.' : REASK[instruction]!, ...streaming };
  };
}
