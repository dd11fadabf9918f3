/**
 * The paper's steering example (GTALIGN.md §5) end to end over HTTP, against a loopback OpenAI-compatible
 * server that plays the model: stage 1 returns the example's reasoning and matrix; stage 2 answers according
 * to the matrix it is shown (it selects by the sum rule on the payoff block in the assistant prefix), so the
 * response proves which matrix reached the model.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { TurnError } from '../../src/assistant/errors.js';
import { createSession } from '../../src/assistant/session.js';
import { runTurn, type TurnOptions } from '../../src/assistant/turn.js';
import { solverAnalysis } from '../../src/chain/analyze-write.js';
import { extractBlocks, isWellFormed } from '../../src/chain/blocks.js';
import { buildGbnf, buildRegex } from '../../src/chain/grammar.js';
import { parsePayoff } from '../../src/chain/payoff.js';
import { buildInstructionPrompt } from '../../src/chain/prompt.js';
import { selectCell } from '../../src/game/select.js';
import { DEFAULT_SPEC, type PayoffMatrix } from '../../src/game/spec.js';
import { createOpenAIModel, type OpenAIVendor } from '../../src/llm/openai.js';
import { PRESETS } from '../../src/steering/presets.js';
import {
  type OpenAIStubServer,
  type StubReply,
  type StubRequestBody,
  startOpenAIStubServer,
} from '../support/openai-stub-server.js';

const QUESTION = 'When did dinosaurs first appear?';
const THINKING =
  '<thinking>The user asks when dinosaurs first appeared. It is fairly clear, but "first" could mean the ' +
  'earliest true dinosaurs or their close relatives. A direct answer is cheap and likely right; a ' +
  'clarifying question costs the user a turn but avoids a wrong emphasis.</thinking>';
// The example's matrix, in the paper's key order as a server constrained by gtalign's grammar writes it.
const STAGE1 =
  `${THINKING}\n<payoff>\n` +
  '{"DQ_AQ": {"LLM": 1.0, "user": 2.5}, "DQ_CQ": {"LLM": 1.3, "user": 2.7}, "DQ_DA": {"LLM": 1.6, "user": 2.8}, ' +
  '"VQ_AQ": {"LLM": 1.4, "user": 2.3}, "VQ_CQ": {"LLM": 1.7, "user": 2.9}, "VQ_DA": {"LLM": 1.9, "user": 2.4}}' +
  '\n</payoff>';
// The paper's edited matrix after the API edit (user −0.5; LLM +1 DA, +0.5 AQ), as gtalign renders it.
const STEERED_PAPER_API =
  `${THINKING}\n<payoff>\n{\n` +
  '  "DQ_AQ": {"LLM": 1.5, "user": 2.0},\n' +
  '  "DQ_CQ": {"LLM": 1.3, "user": 2.2},\n' +
  '  "DQ_DA": {"LLM": 2.6, "user": 2.3},\n' +
  '  "VQ_AQ": {"LLM": 1.9, "user": 1.8},\n' +
  '  "VQ_CQ": {"LLM": 1.7, "user": 2.4},\n' +
  '  "VQ_DA": {"LLM": 2.9, "user": 1.9}\n' +
  '}\n</payoff>';
const PAPER_API_MATRIX: PayoffMatrix = {
  DQ_DA: { LLM: 2.6, user: 2.3 },
  DQ_CQ: { LLM: 1.3, user: 2.2 },
  DQ_AQ: { LLM: 1.5, user: 2.0 },
  VQ_DA: { LLM: 2.9, user: 1.9 },
  VQ_CQ: { LLM: 1.7, user: 2.4 },
  VQ_AQ: { LLM: 1.9, user: 1.8 },
};

const RESPONSES: Record<string, string> = {
  DA: 'Dinosaurs first appeared about 230 million years ago, in the Late Triassic.',
  CQ: 'Do you mean the first true dinosaurs, or the earliest reptiles on the line that led to them?',
  AQ: 'About 230 million years ago, in the Triassic. Would you like to know which species came first?',
};
const REASK_REPLIES: Record<string, string> = {
  'Answer the question directly and concisely.': RESPONSES.DA!,
  'Ask exactly one clarifying question and do not answer yet.': RESPONSES.CQ!,
  'Give a brief answer, then ask exactly one follow-up question.': RESPONSES.AQ!,
};

function messagesOf(body: StubRequestBody): Array<{ role: string; content: string }> {
  return (body.messages as Array<{ role: string; content: string }>) ?? [];
}

/** What servers do with `stop`: the text ends before the first stop string, which is left out. */
function cutAtStop(body: StubRequestBody, text: string): string {
  const stops = Array.isArray(body.stop) ? (body.stop as string[]) : [];
  let end = text.length;
  for (const s of stops) {
    const at = text.indexOf(s);
    if (at >= 0 && at < end) end = at;
  }
  return text.slice(0, end);
}

/** The scripted model: stage 1 → the example; stage 2 → follows the matrix in the prefix; re-ask → the instruction. */
function scriptedModel(options: { stage1?: string; analyzeChoice?: string } = {}) {
  return (body: StubRequestBody): StubReply => {
    const messages = messagesOf(body);
    const last = messages.at(-1);
    if (last?.role === 'assistant') {
      const prefix = last.content;
      const payload = prefix.slice(prefix.indexOf('<payoff>') + 8, prefix.indexOf('</payoff>'));
      const parsed = parsePayoff(payload);
      if (!parsed.ok) return { status: 400, errorMessage: 'no matrix in the prefix' };
      const cell = selectCell(parsed.matrix).selected[0]!;
      const action = cell.slice(3);
      const chosen = options.analyzeChoice ?? cell;
      const analyze = prefix.includes('</analyze>')
        ? ''
        : `\n<analyze>Weighing the Pareto frontier by the largest LLM + user, I choose ${chosen}.</analyze>`;
      return { content: cutAtStop(body, `${analyze}\n<response>${RESPONSES[action]}</response>`) };
    }
    if (Array.isArray(body.stop) && (body.stop as string[]).includes('</payoff>')) {
      return { content: cutAtStop(body, options.stage1 ?? STAGE1) };
    }
    const instruction = Object.keys(REASK_REPLIES).find((i) => last?.content.endsWith(i));
    return { content: instruction === undefined ? 'I do not know what to do.' : REASK_REPLIES[instruction]! };
  };
}

let server: OpenAIStubServer;
beforeAll(async () => {
  server = await startOpenAIStubServer(scriptedModel());
});
afterAll(async () => {
  await server.close();
});
beforeEach(() => {
  server.requests.length = 0;
  server.setHandler(scriptedModel());
});

const modelFor = (vendor: OpenAIVendor) =>
  createOpenAIModel({ baseUrl: server.baseUrl, model: 'stub-model', vendor, maxRetries: 0 });

const SAMPLING = { maxTokens: 512, temperature: 0, seed: 7 } as const;
const USER = { role: 'user', content: buildInstructionPrompt({ question: QUESTION }) };

function turn(vendor: OpenAIVendor, extra: Partial<TurnOptions> = {}) {
  return runTurn({ model: modelFor(vendor), question: QUESTION, ...SAMPLING, ...extra });
}

describe('the paper’s steering example over HTTP (vLLM-style server)', () => {
  it('without a policy the model’s own matrix selects VQ_CQ and the reply asks a clarifying question', async () => {
    const result = await turn('vllm', { continuation: 'continue' });
    expect(result.cell).toBe('VQ_CQ');
    expect(result.action).toBe('CQ');
    expect(result.response).toBe(RESPONSES.CQ);
    expect(result.trace.selection.selected).toEqual(['VQ_CQ']);
    expect(result.trace.modelChoice).toBe('VQ_CQ');
    // Nothing changed, so stage 2 continues the model's own text byte for byte.
    expect(server.requests[1]!.body!.messages).toEqual([USER, { role: 'assistant', content: STAGE1 }]);
  });

  it('under paper-api stage 2 extends the same assistant message with the EDITED matrix and answers directly', async () => {
    const result = await turn('vllm', { continuation: 'continue', policy: PRESETS['paper-api'] });
    expect(server.requests.map((r) => r.body)).toEqual([
      {
        model: 'stub-model',
        messages: [USER],
        max_tokens: 512,
        temperature: 0,
        seed: 7,
        stop: ['</payoff>'],
        stream: false,
        structured_outputs: { regex: buildRegex(DEFAULT_SPEC, { endAt: 'payoff' }) },
      },
      {
        model: 'stub-model',
        messages: [USER, { role: 'assistant', content: STEERED_PAPER_API }],
        max_tokens: 512,
        temperature: 0,
        seed: 7,
        stop: ['</response>'],
        stream: false,
        continue_final_message: true,
        add_generation_prompt: false,
        chat_template_kwargs: { enable_thinking: false },
        structured_outputs: { regex: buildRegex(DEFAULT_SPEC, { startAt: 'analyze' }) },
      },
    ]);
    expect(result.cell).toBe('DQ_DA');
    expect(result.action).toBe('DA');
    expect(result.response).toBe(RESPONSES.DA);
    expect(result.trace.matrixAfter).toEqual(PAPER_API_MATRIX);
    expect(result.trace.selection.selected).toEqual(['DQ_DA']);
    expect(result.trace.continuation).toBe('continue');
    expect(result.trace.diff.find((d) => d.key === 'DQ_DA')?.delta).toEqual({ LLM: 1, user: -0.5 });
    expect(result.output.startsWith(STEERED_PAPER_API)).toBe(true);
    expect(isWellFormed(extractBlocks(result.output))).toBe(true);
    expect(result.trace.formatProblems).toEqual([]);
    expect(result.trace.stages.map((s) => [s.name, s.constraint])).toEqual([
      ['stage1', 'regex'],
      ['stage2', 'regex'],
    ]);
  });

  it('in reask mode sends a new request with the question and a one-line instruction, as the reference does', async () => {
    const result = await turn('vllm', { continuation: 'reask', policy: PRESETS['paper-api'] });
    expect(server.requests).toHaveLength(2);
    expect(server.requests[1]!.body).toEqual({
      model: 'stub-model',
      messages: [{ role: 'user', content: `${QUESTION}\n\nAnswer the question directly and concisely.` }],
      max_tokens: 512,
      temperature: 0,
      seed: 7,
      stream: false,
    });
    expect(result.response).toBe(RESPONSES.DA);
    expect(result.cell).toBe('DQ_DA');
    expect(result.trace.continuation).toBe('reask');
    // The model's reasoning is lost, so gtalign writes <analyze> in the assembled output.
    expect(result.trace.analysisMode).toBe('solver');
    expect(result.output).toBe(
      `${STEERED_PAPER_API}\n<analyze>${solverAnalysis(PAPER_API_MATRIX, result.trace.selection)}</analyze>\n<response>${RESPONSES.DA}</response>`,
    );

    server.requests.length = 0;
    const plain = await turn('vllm', { continuation: 'reask' });
    expect(server.requests[1]!.body!.messages).toEqual([
      { role: 'user', content: `${QUESTION}\n\nAsk exactly one clarifying question and do not answer yet.` },
    ]);
    expect(plain.response).toBe(RESPONSES.CQ);
  });

  it('in solver mode gtalign writes <analyze> into the prefix and the model writes only <response>', async () => {
    const result = await turn('vllm', {
      continuation: 'continue',
      analysis: 'solver',
      policy: PRESETS['paper-api'],
    });
    const analyze = solverAnalysis(PAPER_API_MATRIX, result.trace.selection);
    expect(analyze).toContain('DQ_DA (2.6, 2.3)');
    expect(analyze).toContain('Chosen cell: DQ_DA');
    const body = server.requests[1]!.body!;
    expect(body.messages).toEqual([
      USER,
      { role: 'assistant', content: `${STEERED_PAPER_API}\n<analyze>${analyze}</analyze>\n` },
    ]);
    expect(body.structured_outputs).toEqual({ regex: buildRegex(DEFAULT_SPEC, { startAt: 'response' }) });
    expect(result.response).toBe(RESPONSES.DA);
    expect(result.trace.analysisMode).toBe('solver');
    expect(result.trace.modelAnalysis).toBeUndefined();
    expect(isWellFormed(extractBlocks(result.output))).toBe(true);
  });

  it('streams the response text when asked, and the pieces add up to the response', async () => {
    const pieces: string[] = [];
    const result = await turn('vllm', {
      continuation: 'continue',
      policy: PRESETS['paper-api'],
      onResponseText: (t) => pieces.push(t),
    });
    expect(server.requests[1]!.body!.stream).toBe(true);
    expect(pieces.length).toBeGreaterThan(1);
    expect(pieces.join('').trim()).toBe(result.response);
    expect(result.response).toBe(RESPONSES.DA);
  });
});

describe('streaming a re-asked reply', () => {
  const CHAIN_REPLY = `<thinking>The user wants a date; answer it.</thinking>\n<payoff>{"DQ_DA": {"LLM": 1, "user": 2}}</payoff>\n<analyze>DQ_DA</analyze>\n<response>${RESPONSES.DA}</response>`;

  it('streams only the <response> content when the model writes the chain again', async () => {
    server.setHandler((body) => {
      const reply = scriptedModel()(body);
      const stage1 = Array.isArray(body.stop) && (body.stop as string[]).includes('</payoff>');
      return stage1 ? reply : { content: CHAIN_REPLY, chunkSize: 3 };
    });
    const pieces: string[] = [];
    const result = await turn('openai', {
      policy: PRESETS['paper-api'],
      onResponseText: (t) => pieces.push(t),
    });
    expect(result.trace.continuation).toBe('reask');
    expect(pieces.length).toBeGreaterThan(1);
    expect(pieces.join('')).toBe(RESPONSES.DA);
    expect(pieces.join('')).not.toMatch(/thinking|payoff/);
    expect(result.response).toBe(RESPONSES.DA);
  });

  it('streams a plain reply as it comes', async () => {
    const pieces: string[] = [];
    const result = await turn('openai', {
      policy: PRESETS['paper-api'],
      onResponseText: (t) => pieces.push(t),
    });
    expect(pieces.join('')).toBe(RESPONSES.DA);
    expect(result.response).toBe(RESPONSES.DA);
  });
});

describe('the paper’s steering example over HTTP (llama.cpp-style server)', () => {
  it('sends the grammar and continues by a trailing assistant message', async () => {
    const result = await turn('llamacpp', { continuation: 'continue', policy: PRESETS['paper-api'] });
    expect(server.requests.map((r) => r.body)).toEqual([
      {
        model: 'stub-model',
        messages: [USER],
        max_tokens: 512,
        temperature: 0,
        seed: 7,
        stop: ['</payoff>'],
        stream: false,
        grammar: buildGbnf(DEFAULT_SPEC, { endAt: 'payoff' }),
      },
      {
        model: 'stub-model',
        messages: [USER, { role: 'assistant', content: STEERED_PAPER_API }],
        max_tokens: 512,
        temperature: 0,
        seed: 7,
        stop: ['</response>'],
        stream: false,
        chat_template_kwargs: { enable_thinking: false },
        grammar: buildGbnf(DEFAULT_SPEC, { startAt: 'analyze' }),
      },
    ]);
    expect(result.cell).toBe('DQ_DA');
    expect(result.response).toBe(RESPONSES.DA);

    server.requests.length = 0;
    const plain = await turn('llamacpp', { continuation: 'continue' });
    expect(plain.cell).toBe('VQ_CQ');
    expect(plain.response).toBe(RESPONSES.CQ);
  });

  it('re-asks without a grammar or prefix', async () => {
    await turn('llamacpp', { continuation: 'reask', policy: PRESETS['paper-api'] });
    expect(server.requests[1]!.body).toEqual({
      model: 'stub-model',
      messages: [{ role: 'user', content: `${QUESTION}\n\nAnswer the question directly and concisely.` }],
      max_tokens: 512,
      temperature: 0,
      seed: 7,
      stream: false,
    });
  });
});

describe('continuation modes and backends', () => {
  it('auto continues where the backend can and re-asks where it cannot (hosted OpenAI)', async () => {
    const vllm = await turn('vllm', { policy: PRESETS['paper-api'] });
    expect(vllm.trace.continuation).toBe('continue');
    server.requests.length = 0;
    const openai = await turn('openai', { policy: PRESETS['paper-api'] });
    expect(openai.trace.continuation).toBe('reask');
    expect(openai.trace.notes.join(' ')).toMatch(/cannot continue/);
    // No constraint can be sent to hosted OpenAI; the output is validated by parsing instead.
    expect(server.requests[0]!.body).not.toHaveProperty('structured_outputs');
    expect(openai.response).toBe(RESPONSES.DA);
  });

  it('refuses continue on a backend that cannot continue, before sending anything', async () => {
    const error = await turn('openai', { continuation: 'continue' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TurnError);
    expect((error as TurnError).kind).toBe('options');
    expect(server.requests).toHaveLength(0);
  });

  it('reports the model’s own choice when its analysis disagrees, and the response follows it', async () => {
    server.setHandler(scriptedModel({ analyzeChoice: 'DQ_AQ' }));
    const result = await turn('vllm', { continuation: 'continue' });
    expect(result.trace.selection.selected[0]).toBe('VQ_CQ');
    expect(result.trace.modelChoice).toBe('DQ_AQ');
    expect(result.cell).toBe('DQ_AQ');
    expect(result.action).toBe('AQ');
    expect(result.trace.notes.join(' ')).toMatch(/DQ_AQ.*VQ_CQ/);
  });
});

describe('stage 1 failures', () => {
  const GARBAGE = '<thinking>hmm</thinking><payoff>{"DQ_DA": "high"}</payoff>';

  it('retries once under the constraint when the unconstrained matrix does not parse', async () => {
    let calls = 0;
    server.setHandler((body) => {
      calls++;
      if (calls === 1) return { content: cutAtStop(body, GARBAGE) };
      return scriptedModel()(body);
    });
    const result = await turn('vllm', { continuation: 'continue', constrain: false });
    expect(calls).toBe(3);
    expect(server.requests[0]!.body).not.toHaveProperty('structured_outputs');
    expect(server.requests[1]!.body).toMatchObject({
      seed: 8,
      structured_outputs: { regex: buildRegex(DEFAULT_SPEC, { endAt: 'payoff' }) },
    });
    expect(result.trace.stages.map((s) => s.name)).toEqual(['stage1', 'stage1-retry', 'stage2']);
    expect(result.cell).toBe('VQ_CQ');
  });

  it('throws a TurnError with the model’s text when the backend takes no constraint to retry with', async () => {
    server.setHandler((body) => ({ content: cutAtStop(body, GARBAGE) }));
    const error = await turn('ollama').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TurnError);
    const e = error as TurnError;
    expect(e.kind).toBe('payoff');
    expect(e.details.text).toBe(GARBAGE);
    expect(e.message).toContain('DQ_DA');
    expect(e.details.problems?.join(' ')).toMatch(/DQ_DA.*must be an object/);
    expect(server.requests).toHaveLength(1);
  });

  it('goes on when a server ignores the regex but answers a valid matrix (constraint_ignored)', async () => {
    // Keys in an order no regex of the default spec allows (test/assistant/constraint-ignored.test.ts has more).
    const unordered = STAGE1.replace(
      /\{"[DV]Q_[A-Z]{2}".*\}\}/s,
      '{"VQ_DA": {"LLM": 1.9, "user": 2.4}, "VQ_CQ": {"LLM": 1.7, "user": 2.9}, "VQ_AQ": {"LLM": 1.4, "user": 2.3}, ' +
        '"DQ_DA": {"LLM": 1.6, "user": 2.8}, "DQ_CQ": {"LLM": 1.3, "user": 2.7}, "DQ_AQ": {"LLM": 1.0, "user": 2.5}}',
    );
    expect(unordered).not.toBe(STAGE1);
    server.setHandler(scriptedModel({ stage1: unordered }));
    const result = await turn('vllm');
    expect(result.trace.constraintIgnored?.map((c) => c.stage)).toEqual(['stage1']);
    expect(result.trace.constraintIgnored?.[0]?.violation).toMatch(/violates the regex constraint/);
  });

  it('writes the edited matrix in the spec’s payoff key order, whatever order the model used (unconstrained)', async () => {
    // Row-major keys in Python-literal style: read leniently, rewritten in the paper's order.
    const unordered = STAGE1.replace(
      /\{"[DV]Q_[A-Z]{2}".*\}\}/s,
      "{'DQ_DA': {'LLM': 1.6, 'user': 2.8}, 'DQ_CQ': {'LLM': 1.3, 'user': 2.7}, 'DQ_AQ': {'LLM': 1.0, 'user': 2.5}, " +
        "'VQ_DA': {'LLM': 1.9, 'user': 2.4}, 'VQ_CQ': {'LLM': 1.7, 'user': 2.9}, 'VQ_AQ': {'LLM': 1.4, 'user': 2.3},}",
    );
    expect(unordered).not.toBe(STAGE1);
    server.setHandler(scriptedModel({ stage1: unordered }));
    const result = await turn('ollama', { policy: PRESETS['paper-api'] });
    const prefix = messagesOf(server.requests[1]!.body!).at(-1)!.content;
    expect(prefix).toBe(STEERED_PAPER_API);
    expect(result.cell).toBe('DQ_DA');
  });
});

describe('sessions', () => {
  it('keeps the history: a clarifying question is followed by the user’s answer and a new turn', async () => {
    const session = createSession({ model: modelFor('vllm'), ...SAMPLING });
    const first = await session.ask(QUESTION);
    expect(first.action).toBe('CQ');
    const answer = 'The first true dinosaurs, please.';
    await session.ask(answer);
    expect(session.history).toEqual([
      { role: 'user', content: QUESTION },
      { role: 'assistant', content: RESPONSES.CQ },
      { role: 'user', content: answer },
      { role: 'assistant', content: RESPONSES.CQ },
    ]);
    const secondPrompt = messagesOf(server.requests[2]!.body!)[0]!.content;
    expect(secondPrompt).toBe(
      buildInstructionPrompt({
        question: answer,
        history: [
          { role: 'user', content: QUESTION },
          { role: 'assistant', content: RESPONSES.CQ! },
        ],
      }),
    );
    expect(secondPrompt).toContain(`User: ${QUESTION}`);
    expect(secondPrompt).toContain(`Assistant: ${RESPONSES.CQ}`);
    session.reset();
    expect(session.history).toEqual([]);
  });

  it('sends the history as chat messages when a turn is re-asked', async () => {
    const session = createSession({ model: modelFor('openai'), ...SAMPLING });
    await session.ask(QUESTION);
    server.requests.length = 0;
    await session.ask('The first true dinosaurs, please.');
    expect(messagesOf(server.requests[1]!.body!)).toEqual([
      { role: 'user', content: QUESTION },
      { role: 'assistant', content: RESPONSES.CQ },
      {
        role: 'user',
        content:
          'The first true dinosaurs, please.\n\nAsk exactly one clarifying question and do not answer yet.',
      },
    ]);
  });
});
