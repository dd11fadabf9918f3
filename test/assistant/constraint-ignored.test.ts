/**
 * A constraint is a means, validation is the judge; and a stage 2 that restarts instead of continuing is
 * reported. The server is a SCRIPTED loopback stand-in (test/support/openai-stub-server.ts) that replays
 * chosen outputs: here a vLLM-style server that ignores `structured_outputs` and answers the paper's
 * dinosaur matrix with its keys in an order no regex of the default spec allows, one that answers garbage,
 * and servers whose chat template restarts the reply in stage 2.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { TurnError } from '../../src/assistant/errors.js';
import { runTurn, type TurnOptions } from '../../src/assistant/turn.js';
import type { OpenAIVendor } from '../../src/llm/dialect.js';
import { createOpenAIModel } from '../../src/llm/openai.js';
import { PRESETS } from '../../src/steering/presets.js';
import { dinosaurScript, QUESTION } from '../server/scripted-upstream.js';
import {
  type OpenAIStubServer,
  type StubRequestBody,
  startOpenAIStubServer,
} from '../support/openai-stub-server.js';

const THINKING =
  '<thinking>The user asks when dinosaurs first appeared. "First" could mean true dinosaurs or their ' +
  'relatives.</thinking>';
/** The paper's matrix, keys VQ first: neither the spec's nor the paper's listing order. */
const SHUFFLED =
  `${THINKING}\n<payoff>\n` +
  '{"VQ_DA": {"LLM": 1.9, "user": 2.4}, "VQ_CQ": {"LLM": 1.7, "user": 2.9}, "VQ_AQ": {"LLM": 1.4, "user": 2.3}, ' +
  '"DQ_DA": {"LLM": 1.6, "user": 2.8}, "DQ_CQ": {"LLM": 1.3, "user": 2.7}, "DQ_AQ": {"LLM": 1.0, "user": 2.5}}' +
  '\n</payoff>';
const GARBAGE = `${THINKING}\n<payoff>{"DQ_DA": "high", "VQ_CQ": "low"}</payoff>`;

type Message = { role: string; content: string };
const messagesOf = (body: StubRequestBody | undefined) => (body?.messages ?? []) as Message[];
const cut = (body: StubRequestBody, text: string) => {
  const stops = (body.stop as string[] | undefined) ?? [];
  const at = stops.map((s) => text.indexOf(s)).filter((i) => i >= 0);
  return at.length > 0 ? text.slice(0, Math.min(...at)) : text;
};

/** Stage 1 answers `stage1` (ignoring any constraint); the rest is the dinosaur script. */
function ignoring(stage1: (i: number) => string) {
  const rest = dinosaurScript();
  let firstStage = 0;
  return (body: StubRequestBody) => {
    const last = messagesOf(body).at(-1);
    if (last?.role !== 'assistant' && ((body.stop as string[] | undefined) ?? []).includes('</payoff>')) {
      return { content: cut(body, stage1(firstStage++)) };
    }
    return rest(body);
  };
}

let server: OpenAIStubServer;
beforeAll(async () => {
  server = await startOpenAIStubServer();
});
afterAll(async () => {
  await server.close();
});
beforeEach(() => {
  server.requests.length = 0;
});

const model = (vendor: OpenAIVendor) =>
  createOpenAIModel({ baseUrl: server.baseUrl, model: 'stub-model', vendor, maxRetries: 0 });
const turn = (vendor: OpenAIVendor, extra: Partial<TurnOptions> = {}) =>
  runTurn({ model: model(vendor), question: QUESTION, temperature: 0, seed: 7, maxTokens: 512, ...extra });

describe('a server that ignores the constraint', () => {
  it('vLLM-style: a valid matrix with its keys in another order goes on, and the trace says constraint_ignored', async () => {
    server.setHandler(ignoring(() => SHUFFLED));
    const result = await turn('vllm', { continuation: 'continue', policy: PRESETS['paper-api'] });
    // The constraint was asked for…
    expect(server.requests[0]!.body).toHaveProperty('structured_outputs.regex');
    // …ignored, and the turn went on to the steered answer in one stage-1 call.
    expect(result.trace.stages.map((s) => s.name)).toEqual(['stage1', 'stage2']);
    expect(result.cell).toBe('DQ_DA');
    expect(result.trace.constraintIgnored).toEqual([
      { stage: 'stage1', violation: expect.stringMatching(/^the output violates the regex constraint/) },
    ]);
    expect(result.trace.stages[0]!.constraintIgnored).toMatch(/violates the regex constraint/);
    expect(result.trace.notes.join('\n')).toMatch(
      /constraint_ignored \(stage1\): the server ignored the regex constraint, but the output validated/,
    );
  });

  it('an output that does not parse still leads to the constrained retry, then to the clear error', async () => {
    server.setHandler(ignoring(() => GARBAGE));
    const error = await turn('vllm', { continuation: 'continue' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TurnError);
    const e = error as TurnError;
    expect(e.kind).toBe('payoff');
    expect(e.details.stage).toBe('stage1-retry');
    expect(e.message).toMatch(/gave no valid payoff matrix, even on the constrained retry/);
    expect(e.message).toMatch(/; the server ignored the constraint: the retry violates the regex constraint/);
    expect(server.requests).toHaveLength(2);
    expect(server.requests[1]!.body).toMatchObject({
      seed: 8,
      structured_outputs: { regex: expect.any(String) },
    });
  });

  it('a first output that does not parse, then a valid one that still ignores the constraint: retried, then noted', async () => {
    server.setHandler(ignoring((i) => (i === 0 ? GARBAGE : SHUFFLED)));
    const result = await turn('sglang', { continuation: 'continue' });
    expect(result.trace.stages.map((s) => s.name)).toEqual(['stage1', 'stage1-retry', 'stage2']);
    expect(result.trace.constraintIgnored?.map((c) => c.stage)).toEqual(['stage1-retry']);
    expect(result.cell).toBe('VQ_CQ');
  });

  it('the model layer still fails such an output unless the caller asks for a report', async () => {
    server.setHandler(() => ({ content: 'I will just answer: 4' }));
    const m = model('vllm');
    const constraint = { kind: 'regex', pattern: '<payoff>.*' } as const;
    await expect(m.generate({ messages: [{ role: 'user', content: 'q' }], constraint })).rejects.toThrow(
      /violates the regex constraint/,
    );
    const reported = await m.generate({
      messages: [{ role: 'user', content: 'q' }],
      constraint,
      onConstraintViolation: 'report',
    });
    expect(reported.text).toBe('I will just answer: 4');
    expect(reported.constraintViolation).toMatch(/violates the regex constraint/);
  });
});

describe('a stage 2 that restarts instead of continuing', () => {
  /** Stage 1 as scripted; stage 2 answers `reply`. */
  const restarting = (reply: string) => {
    const rest = dinosaurScript();
    return (body: StubRequestBody) =>
      messagesOf(body).at(-1)?.role === 'assistant' ? { content: cut(body, reply) } : rest(body);
  };

  it('a <think> block at the start is reported with the fix', async () => {
    server.setHandler(
      restarting(
        '<think>\nOkay, the user wants to know…\n</think>\n\n<analyze>VQ_CQ</analyze>\n<response>Hi</response>',
      ),
    );
    const error = await turn('vllm', { continuation: 'continue' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TurnError);
    const e = error as TurnError;
    expect(e.kind).toBe('response');
    expect(e.details.stage).toBe('stage2');
    expect(e.details.problems).toEqual(['it begins with a <think> block']);
    expect(e.message).toMatch(
      /stage 2 of vllm:stub-model restarted the reply instead of continuing the assistant turn/,
    );
    expect(e.message).toMatch(/chat_template_kwargs \{"enable_thinking": false\}/);
    expect(e.message).toMatch(/--continuation reask/);
    // The request that restarted did carry the thinking switch.
    expect(server.requests.at(-1)!.body).toMatchObject({
      continue_final_message: true,
      add_generation_prompt: false,
      chat_template_kwargs: { enable_thinking: false },
    });
  });

  it('a reply that writes the prefix’s blocks again is reported, with the llama.cpp fix', async () => {
    server.setHandler(
      restarting(`${THINKING}\n<payoff>{}</payoff>\n<analyze>x</analyze>\n<response>Hello</response>`),
    );
    const error = (await turn('llamacpp', { continuation: 'continue' }).catch(
      (e: unknown) => e,
    )) as TurnError;
    expect(error).toBeInstanceOf(TurnError);
    expect(error.details.problems).toEqual(["it writes the prefix's <thinking> block again"]);
    expect(error.message).toMatch(/start llama-server with --jinja and without --no-prefill-assistant/);
  });

  it('keepThinking leaves the template alone (no chat_template_kwargs), and a normal continuation passes', async () => {
    server.setHandler(dinosaurScript());
    const m = createOpenAIModel({
      baseUrl: server.baseUrl,
      model: 'stub-model',
      vendor: 'sglang',
      maxRetries: 0,
      keepThinking: true,
    });
    const result = await runTurn({ model: m, question: QUESTION, continuation: 'continue' });
    expect(result.cell).toBe('VQ_CQ');
    expect(server.requests[1]!.body).toMatchObject({ continue_final_message: true });
    expect(server.requests[1]!.body).not.toHaveProperty('chat_template_kwargs');
  });

  it('the caller’s own chat_template_kwargs are kept, with thinking switched off over them', async () => {
    server.setHandler(dinosaurScript());
    const m = createOpenAIModel({
      baseUrl: server.baseUrl,
      model: 'stub-model',
      vendor: 'vllm',
      maxRetries: 0,
      extraBody: { chat_template_kwargs: { custom: 1, enable_thinking: true } },
    });
    await runTurn({ model: m, question: QUESTION, continuation: 'continue' });
    expect(server.requests[0]!.body).toMatchObject({
      chat_template_kwargs: { custom: 1, enable_thinking: true },
    });
    expect(server.requests[1]!.body).toMatchObject({
      chat_template_kwargs: { custom: 1, enable_thinking: false },
    });
  });
});

describe('the continuation mode says why', () => {
  it('auto on a generic OpenAI server re-asks, and the trace names the detection that chose it', async () => {
    server.setHandler(dinosaurScript());
    const m = createOpenAIModel({
      baseUrl: server.baseUrl,
      model: 'stub-model',
      vendor: 'openai',
      maxRetries: 0,
      detection: {
        vendor: 'openai',
        reason: 'no probe answered as vLLM, SGLang, llama.cpp or Ollama do',
        baseUrl: server.baseUrl,
        probes: [],
      },
    });
    const result = await runTurn({ model: m, question: QUESTION });
    expect(result.trace.continuation).toBe('reask');
    expect(result.trace.continuationReason).toBe(
      `auto: openai:stub-model cannot continue an assistant turn (detected openai at ${server.baseUrl} (no probe answered as vLLM, SGLang, llama.cpp or Ollama do)), so stage 2 re-asks the question`,
    );
    expect(result.trace.notes[0]).toMatch(
      /^openai:stub-model cannot continue an assistant turn \(detected openai/,
    );
  });

  it('an explicit mode is reported as asked for', async () => {
    server.setHandler(dinosaurScript());
    const result = await turn('vllm', { continuation: 'continue' });
    expect(result.trace.continuationReason).toBe('continuation "continue" was asked for');
  });
});
