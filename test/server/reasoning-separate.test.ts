/**
 * `gtalign.reasoning: "separate"` on `POST /v1/chat/completions` and `/v1/responses`: the reply is the
 * `<response>` text and the reasoning comes apart from it (`reasoning_content` and `reasoning`; a reasoning
 * item), streamed as the model writes it.
 * The other side is the official `openai` client and the AI SDK's OpenAI-compatible provider; the upstream
 * is a scripted loopback server (test/server/scripted-upstream.ts) that replays the paper's example.
 */
import { createOpenAICompatible } from '@ai-sdk/openai-compatible';
import { generateText, streamText } from 'ai';
import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { reasoningOf } from '../../src/assistant/reasoning-stream.js';
import { extractBlocks } from '../../src/chain/blocks.js';
import { startProxyServer } from '../../src/server/proxy.js';
import { type StubReply, type StubRequestBody, stubModel } from '../support/openai-stub-server.js';
import { useDinosaurProxy, withGtalign } from './dinosaur-proxy.js';
import { dinosaurScript, QUESTION, RESPONSES, STAGE1 } from './scripted-upstream.js';

const KEY = 'sk-test-reasoning';
const setup = useDinosaurProxy(KEY);
const ASK = [{ role: 'user' as const, content: QUESTION }];
const THINKING = extractBlocks(STAGE1).blocks.thinking!.content.trim();

/** A stage-1 request: the one that stops at `</payoff>`. */
const isStage1 = (body: StubRequestBody): boolean =>
  Array.isArray(body.stop) && (body.stop as string[]).includes('</payoff>');

interface ReasoningMessage {
  content: string | null;
  reasoning_content?: string;
  reasoning?: string;
}

describe('separate reasoning, not streamed', () => {
  it('answers with the response as content and the thinking and analysis as reasoning', async () => {
    const completion = await setup.client.chat.completions.create(
      withGtalign({ model: 'gtalign-dino', messages: ASK }, { reasoning: 'separate', policy: 'paper-api' }),
    );
    const message = completion.choices[0]!.message as unknown as ReasoningMessage;
    expect(message.content).toBe(RESPONSES.DA);
    expect(message.reasoning_content).toMatch(
      new RegExp(`^${THINKING.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\n\n.*DQ_DA`, 's'),
    );
    expect(message.reasoning).toBe(message.reasoning_content);
    // Nothing of the matrix or the reply is in the reasoning.
    expect(message.reasoning_content).not.toMatch(/<payoff>|"LLM"|Triassic/);
    // The header says the same.
    const header = await setup.client.chat.completions.create(
      { model: 'gtalign-dino', messages: ASK },
      { headers: { 'x-gtalign-reasoning': 'separate' } },
    );
    const byHeader = header.choices[0]!.message as unknown as ReasoningMessage;
    expect(byHeader.content).toBe(RESPONSES.CQ);
    expect(byHeader.reasoning_content!.startsWith(`${THINKING}\n\n`)).toBe(true);
  });

  it('keeps the default reply free of reasoning fields, and refuses an unknown mode by name', async () => {
    const plain = await setup.client.chat.completions.create({ model: 'gtalign-dino', messages: ASK });
    expect(Object.keys(plain.choices[0]!.message).sort()).toEqual(['content', 'role']);
    const bad = await setup.client.chat.completions
      .create({ model: 'gtalign-dino', messages: ASK }, { headers: { 'x-gtalign-reasoning': 'loud' } })
      .catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(OpenAI.BadRequestError);
    expect((bad as Error).message).toContain(
      "header x-gtalign-reasoning must be none, full, separate, got 'loud'",
    );
    const badBody = await setup.client.chat.completions
      .create(withGtalign({ model: 'gtalign-dino', messages: ASK }, { reasoning: 'loud' }))
      .catch((e: unknown) => e);
    expect(badBody).toBeInstanceOf(OpenAI.BadRequestError);
    expect((badBody as Error).message).toContain('gtalign.reasoning');
  });
});

describe("the server's default", () => {
  it('a server started with reasoning separate answers so when the request does not say, and a request overrides it', async () => {
    const server = await startProxyServer({
      model: stubModel(setup.upstream),
      modelName: 'gtalign-dino',
      reasoning: 'separate',
      log: () => {},
    });
    try {
      const client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'unused', maxRetries: 0 });
      const byDefault = await client.chat.completions.create({ model: 'gtalign-dino', messages: ASK });
      const message = byDefault.choices[0]!.message as unknown as ReasoningMessage;
      expect(message.content).toBe(RESPONSES.CQ);
      expect(message.reasoning_content!.startsWith(`${THINKING}\n\n`)).toBe(true);
      const none = await client.chat.completions.create(
        withGtalign({ model: 'gtalign-dino', messages: ASK }, { reasoning: false }),
      );
      expect(Object.keys(none.choices[0]!.message).sort()).toEqual(['content', 'role']);
      const header = await client.responses.create(
        { model: 'gtalign-dino', input: QUESTION },
        { headers: { 'x-gtalign-reasoning': 'none' } },
      );
      expect(header.output.map((i) => i.type)).toEqual(['message']);
      const item = await client.responses.create({ model: 'gtalign-dino', input: QUESTION });
      expect(item.output.map((i) => i.type)).toEqual(['reasoning', 'message']);
    } finally {
      await server.close();
    }
  });
});

describe('separate reasoning, streamed', () => {
  it('streams the thinking before stage 1 has ended, then the analysis, then the response', async () => {
    // Stage 1 streams in small pieces and stops halfway until the client has seen reasoning: it cannot
    // finish unless the thinking reached the client while stage 1 was still being written.
    let release: () => void = () => {};
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    const script = dinosaurScript({ chunkSize: 3 });
    setup.upstream.setHandler(async (body): Promise<StubReply> => {
      const reply = script(body);
      if (!isStage1(body)) return reply;
      const text = reply.content!;
      const half = text.indexOf('A direct answer');
      return { ...reply, chunks: [text.slice(0, half), text.slice(half)], chunkGate: [undefined, released] };
    });
    const stream = await setup.client.chat.completions.create(
      withGtalign(
        { model: 'gtalign-dino', messages: ASK, stream: true as const },
        { reasoning: 'separate', policy: 'paper-api' },
      ),
    );
    let reasoning = '';
    let content = '';
    let contentAfterReasoning = true;
    let last: unknown;
    for await (const chunk of stream) {
      const delta = chunk.choices[0]?.delta as (ReasoningMessage & { content?: string }) | undefined;
      if (delta?.reasoning_content !== undefined) {
        expect(delta.reasoning).toBe(delta.reasoning_content);
        if (content !== '') contentAfterReasoning = false;
        reasoning += delta.reasoning_content;
        release();
      }
      content += delta?.content ?? '';
      last = chunk;
    }
    expect(contentAfterReasoning).toBe(true);
    expect(content).toBe(RESPONSES.DA);
    const g = (last as { gtalign: { action: string } }).gtalign;
    expect(g.action).toBe('DA');
    expect(reasoning.startsWith(`${THINKING}\n\n`)).toBe(true);
    expect(reasoning).toMatch(/DQ_DA/);
    // Stage 1 went upstream as a streaming request: that is what lets the thinking out early.
    expect(setup.upstream.requests[0]!.body!.stream).toBe(true);
  });

  it('a stage-1 failure after the thinking went out arrives in the stream, where the client raises it', async () => {
    const script = dinosaurScript();
    setup.upstream.setHandler((body) => {
      // Valid thinking, then a matrix that is not one, on every stage-1 request (a retry's too).
      return isStage1(body)
        ? { content: '<thinking>Let me see.</thinking>\n<payoff>{"DQ_DA": 7}' }
        : script(body);
    });
    const stream = await setup.client.chat.completions.create(
      withGtalign({ model: 'gtalign-dino', messages: ASK, stream: true as const }, { reasoning: 'separate' }),
    );
    let reasoning = '';
    const read = async () => {
      for await (const chunk of stream) {
        reasoning += (chunk.choices[0]?.delta as ReasoningMessage | undefined)?.reasoning_content ?? '';
      }
    };
    await expect(read()).rejects.toThrow(/no valid payoff matrix/);
    expect(reasoning.startsWith('Let me see.')).toBe(true);
    expect(setup.upstream.requests.every((r) => (r.body!.stop as string[]).includes('</payoff>'))).toBe(true);
  });

  it('a client that leaves while the thinking streams cuts the upstream stage-1 request', async () => {
    // Stage 1 sends its first half, then never the rest: only the client's leaving can end it.
    const never = new Promise<void>(() => {});
    const script = dinosaurScript();
    setup.upstream.setHandler((body): StubReply => {
      const reply = script(body);
      if (!isStage1(body)) return reply;
      const text = reply.content!;
      const half = text.indexOf('A direct answer');
      return { ...reply, chunks: [text.slice(0, half), text.slice(half)], chunkGate: [undefined, never] };
    });
    const cutBefore = setup.upstream.cutOff;
    const controller = new AbortController();
    const stream = await setup.client.chat.completions.create(
      withGtalign({ model: 'gtalign-dino', messages: ASK, stream: true as const }, { reasoning: 'separate' }),
      { signal: controller.signal },
    );
    let reasoning = '';
    // The client's stream ends (or throws) once it aborts; either way it has left.
    await (async () => {
      for await (const chunk of stream) {
        reasoning += (chunk.choices[0]?.delta as ReasoningMessage | undefined)?.reasoning_content ?? '';
        if (reasoning !== '') controller.abort();
      }
    })().catch(() => {});
    expect(controller.signal.aborted).toBe(true);
    expect(THINKING.startsWith(reasoning)).toBe(true);
    await expect.poll(() => setup.upstream.cutOff, { timeout: 30_000 }).toBe(cutBefore + 1);
    expect(setup.upstream.requests).toHaveLength(1);
  });

  it('reaches the AI SDK as reasoning parts, apart from the text', async () => {
    const provider = createOpenAICompatible({
      name: 'gtalign',
      baseURL: `${setup.proxy.url}/v1`,
      apiKey: KEY,
      headers: { 'x-gtalign-reasoning': 'separate', 'x-gtalign-policy': 'paper-api' },
    });
    const streamed = streamText({ model: provider('gtalign-dino'), prompt: QUESTION });
    let reasoningDeltas = 0;
    let text = '';
    let reasoning = '';
    for await (const part of streamed.fullStream) {
      if (part.type === 'reasoning-delta') {
        reasoningDeltas++;
        reasoning += part.text;
      } else if (part.type === 'text-delta') text += part.text;
    }
    expect(text).toBe(RESPONSES.DA);
    expect(reasoningDeltas).toBeGreaterThan(1);
    expect(reasoning.startsWith(`${THINKING}\n\n`)).toBe(true);
    const whole = await generateText({ model: provider('gtalign-dino'), prompt: QUESTION });
    expect(whole.text).toBe(RESPONSES.DA);
    expect(whole.reasoningText).toBe(reasoning);
    // The same reasoning a non-streamed request returns: the turn's thinking and analysis.
    const plain = await setup.client.chat.completions.create(
      withGtalign({ model: 'gtalign-dino', messages: ASK }, { reasoning: 'full', policy: 'paper-api' }),
    );
    expect(reasoning).toBe(reasoningOf(plain.choices[0]!.message.content!));
  });
});

describe('separate reasoning on the Responses API', () => {
  it('puts a reasoning item before the message, and keeps both', async () => {
    const created = await setup.client.responses.create(
      withGtalign({ model: 'gtalign-dino', input: QUESTION }, { reasoning: 'separate', policy: 'paper-api' }),
    );
    expect(created.output.map((i) => i.type)).toEqual(['reasoning', 'message']);
    const item = created.output[0] as OpenAI.Responses.ResponseReasoningItem;
    expect(item.id.startsWith('rs_')).toBe(true);
    expect(item.summary).toEqual([]);
    expect(item.content).toEqual([{ type: 'reasoning_text', text: expect.stringMatching(/DQ_DA/) }]);
    expect(item.content![0]!.text.startsWith(`${THINKING}\n\n`)).toBe(true);
    expect(created.output_text).toBe(RESPONSES.DA);
    const kept = await setup.client.responses.retrieve(created.id);
    expect(kept.output).toEqual(created.output);
    // Replayed as a stream from the store: the reasoning item's events, then the message's.
    const replay = await setup.client.responses.retrieve(created.id, { stream: true });
    const types: string[] = [];
    for await (const event of replay) types.push(event.type);
    expect(types).toContain('response.reasoning_text.done');
    expect(types.indexOf('response.reasoning_text.done')).toBeLessThan(
      types.indexOf('response.output_text.delta'),
    );
    // An agent hands the output back as input with its next message: the reasoning item is skipped.
    const next = await setup.client.responses.create({
      model: 'gtalign-dino',
      input: [
        { role: 'user', content: QUESTION },
        ...(created.output as OpenAI.Responses.ResponseInputItem[]),
        { role: 'user', content: 'And the first birds?' },
      ],
    });
    expect(next.status).toBe('completed');
    expect(JSON.stringify((next as unknown as { gtalign: { notes: string[] } }).gtalign.notes)).toContain(
      '1 reasoning item(s) skipped',
    );
    // In the background: the kept response has the same two items.
    const queued = await setup.client.responses.create(
      withGtalign(
        { model: 'gtalign-dino', input: QUESTION, background: true },
        { reasoning: 'separate', policy: 'paper-api' },
      ),
    );
    await expect
      .poll(async () => (await setup.client.responses.retrieve(queued.id)).status)
      .toBe('completed');
    const finished = await setup.client.responses.retrieve(queued.id);
    expect(finished.output.map((i) => i.type)).toEqual(['reasoning', 'message']);
    expect((finished.output[0] as OpenAI.Responses.ResponseReasoningItem).content).toEqual(item.content);
  });

  it('in a conversation, adds the reasoning item before the message, and the next turn reads past it', async () => {
    const conv = await setup.client.conversations.create();
    const plain = await setup.client.responses.create(
      withGtalign(
        { model: 'gtalign-dino', input: QUESTION, conversation: conv.id },
        { reasoning: 'separate', policy: 'paper-api' },
      ),
    );
    setup.upstream.setHandler(dinosaurScript({ chunkSize: 3 }));
    const stream = await setup.client.responses.create(
      withGtalign(
        {
          model: 'gtalign-dino',
          input: 'And the first birds?',
          conversation: conv.id,
          stream: true as const,
        },
        { reasoning: 'separate', policy: 'paper-api' },
      ),
    );
    let streamed: OpenAI.Responses.Response | undefined;
    for await (const event of stream) if (event.type === 'response.completed') streamed = event.response;
    const items = await setup.client.conversations.items.list(conv.id, { order: 'asc', limit: 100 });
    // Each exchange as its output lists it: the question, the reasoning item, the message.
    expect(items.data.map((i) => i.type)).toEqual([
      'message',
      'reasoning',
      'message',
      'message',
      'reasoning',
      'message',
    ]);
    expect(items.data.slice(1, 3)).toEqual(plain.output);
    expect(items.data.slice(4, 6)).toEqual(streamed!.output);
    const one = await setup.client.conversations.items.retrieve(plain.output[0]!.id!, {
      conversation_id: conv.id,
    });
    expect(one).toEqual(plain.output[0]);
    // The turn reads the messages only: the history sent upstream holds no reasoning.
    setup.upstream.requests.length = 0;
    await setup.client.responses.create({
      model: 'gtalign-dino',
      input: 'And today?',
      conversation: conv.id,
    });
    const sent = JSON.stringify(setup.upstream.requests.map((r) => r.body!.messages));
    expect(sent).toContain('And the first birds?');
    expect(sent).not.toContain(THINKING);
  });

  it('takes a reasoning item added by hand, and refuses by name what it cannot keep', async () => {
    const conv = await setup.client.conversations.create();
    const added = await setup.client.conversations.items.create(conv.id, {
      items: [
        {
          type: 'reasoning',
          id: 'rs_client',
          summary: [],
          content: [
            { type: 'reasoning_text', text: 'First ' },
            { type: 'reasoning_text', text: 'this.' },
          ],
        },
      ],
    });
    const item = added.data[0] as OpenAI.Responses.ResponseReasoningItem;
    expect(item).toMatchObject({
      type: 'reasoning',
      content: [{ type: 'reasoning_text', text: 'First this.' }],
    });
    expect(await setup.client.conversations.items.retrieve(item.id, { conversation_id: conv.id })).toEqual(
      item,
    );
    const refused = async (extra: Record<string, unknown>) => {
      const err = await setup.client.conversations.items
        .create(conv.id, {
          items: [{ type: 'reasoning', id: 'rs_x', summary: [], content: [], ...extra }],
        } as unknown as OpenAI.Conversations.ItemCreateParams)
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(OpenAI.BadRequestError);
      return (err as InstanceType<typeof OpenAI.BadRequestError>).param;
    };
    expect(await refused({ summary: [{ type: 'summary_text', text: 'gist' }] })).toBe('items.0.summary');
    expect(
      await refused({ encrypted_content: 'opaque', content: [{ type: 'reasoning_text', text: 'x' }] }),
    ).toBe('items.0.encrypted_content');
    expect(await refused({})).toBe('items.0.content');
    expect(await refused({ content: [{ type: 'output_text', text: 'x' }] })).toBe('items.0.content.0');
    expect((await setup.client.conversations.items.list(conv.id)).data).toHaveLength(1);
  });

  it('streams the reasoning item while the model writes it, then the message at index 1', async () => {
    setup.upstream.setHandler(dinosaurScript({ chunkSize: 3 }));
    const stream = await setup.client.responses.create(
      withGtalign(
        { model: 'gtalign-dino', input: QUESTION, stream: true as const },
        { reasoning: 'separate', policy: 'paper-api' },
      ),
    );
    const events: OpenAI.Responses.ResponseStreamEvent[] = [];
    for await (const event of stream) events.push(event);
    expect(events.map((e) => e.sequence_number)).toEqual(events.map((_, i) => i));
    const types = events.map((e) => e.type);
    const deltas = events.filter((e) => e.type === 'response.reasoning_text.delta');
    expect(deltas.length).toBeGreaterThan(2);
    const reasoning = deltas
      .map((e) => (e as OpenAI.Responses.ResponseReasoningTextDeltaEvent).delta)
      .join('');
    const squeezed = types.filter((t, i) => t !== types[i - 1]);
    expect(squeezed).toEqual([
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.content_part.added',
      'response.reasoning_text.delta',
      'response.reasoning_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.output_item.added',
      'response.content_part.added',
      'response.output_text.delta',
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.completed',
    ]);
    const indexes = events.flatMap((e) => ('output_index' in e ? [[e.type, e.output_index]] : []));
    expect(indexes.filter(([t]) => String(t).includes('reasoning')).every(([, i]) => i === 0)).toBe(true);
    expect(indexes.filter(([t]) => String(t).includes('output_text')).every(([, i]) => i === 1)).toBe(true);
    const done = events.at(-1) as OpenAI.Responses.ResponseCompletedEvent;
    const item = done.response.output[0] as OpenAI.Responses.ResponseReasoningItem;
    expect(item.content![0]!.text).toBe(reasoning);
    expect(reasoning.startsWith(`${THINKING}\n\n`)).toBe(true);
    const message = done.response.output[1] as OpenAI.Responses.ResponseOutputMessage;
    expect(message.content).toEqual([expect.objectContaining({ type: 'output_text', text: RESPONSES.DA })]);
    expect(setup.upstream.requests[0]!.body!.stream).toBe(true);
  });
});
