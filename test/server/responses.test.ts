/**
 * `POST /v1/responses` on `gtalign serve`, through the official `openai` npm client's `responses.create`
 * (non-streaming and streaming), unmodified. The upstream is a scripted loopback server (not a model): it
 * replays the paper's dinosaur example (scripted-upstream.ts): stage 1's reasoning and matrix, and a
 * stage 2 that answers by whichever matrix it is shown, so the text proves which matrix reached it.
 */
import OpenAI from 'openai';
import type { ResponseStreamEvent } from 'openai/resources/responses/responses';
import { describe, expect, it } from 'vitest';
import { useDinosaurProxy, withGtalign } from './dinosaur-proxy.js';
import {
  dinosaurScript,
  MATRIX,
  PAPER_API_MATRIX,
  QUESTION,
  RESPONSES,
  STAGE1,
} from './scripted-upstream.js';

const KEY = 'sk-test-responses-key';
const setup = useDinosaurProxy(KEY);

interface Trace {
  action: string;
  cell: string;
  matrix_before: unknown;
  matrix_after: unknown;
  policy: string;
  tokens: Record<string, { prompt: number; cached_prompt: number; completion: number }>;
  notes: string[];
}
const traceOf = (x: unknown): Trace => (x as { gtalign: Trace }).gtalign;

async function collect(stream: AsyncIterable<ResponseStreamEvent>): Promise<ResponseStreamEvent[]> {
  const events: ResponseStreamEvent[] = [];
  for await (const e of stream) events.push(e);
  return events;
}

describe('responses.create, non-streaming', () => {
  it('answers with the <response> text, usage, and the trace in metadata (JSON string) and a top-level gtalign object', async () => {
    const response = await setup.client.responses.create({
      model: 'gtalign-dino',
      input: QUESTION,
      metadata: { ticket: 'T-1' },
    });
    expect(response.object).toBe('response');
    expect(response.id).toMatch(/^resp_/);
    expect(response.status).toBe('completed');
    expect(response.model).toBe('gtalign-dino');
    expect(response.output_text).toBe(RESPONSES.CQ);
    expect(response.output).toHaveLength(1);
    const item = response.output[0]!;
    expect(item.type).toBe('message');
    if (item.type !== 'message') throw new Error('not a message');
    expect(item.role).toBe('assistant');
    expect(item.content[0]).toMatchObject({ type: 'output_text', text: RESPONSES.CQ, annotations: [] });

    const g = traceOf(response);
    expect([g.action, g.cell, g.policy]).toEqual(['CQ', 'VQ_CQ', 'none']);
    expect(g.matrix_before).toEqual(MATRIX);
    // metadata: string values only; the whole object as JSON, action and cell as short strings.
    const metadata = response.metadata!;
    expect(metadata.ticket).toBe('T-1');
    expect(JSON.parse(metadata.gtalign!)).toEqual(g);
    expect([metadata.gtalign_action, metadata.gtalign_cell]).toEqual(['CQ', 'VQ_CQ']);
    for (const v of Object.values(metadata)) expect(typeof v).toBe('string');
    expect(JSON.stringify(g.notes)).not.toContain('metadata');

    const usage = response.usage!;
    const completion = g.tokens.stage1!.completion + g.tokens.stage2!.completion;
    expect(usage.output_tokens).toBe(completion);
    expect(usage.input_tokens).toBe(g.tokens.stage1!.prompt + g.tokens.stage2!.prompt);
    expect(usage.total_tokens).toBe(usage.input_tokens + usage.output_tokens);
    expect(usage.input_tokens_details.cached_tokens).toBe(
      g.tokens.stage1!.cached_prompt + g.tokens.stage2!.cached_prompt,
    );
    expect(usage.output_tokens_details.reasoning_tokens).toBe(g.tokens.stage1!.completion);
    // The same turn as chat completions: stage 1 stops at </payoff>, stage 2 continues the message.
    expect(setup.upstream.requests).toHaveLength(2);
    expect(setup.upstream.requests[0]!.body!.stop).toEqual(['</payoff>']);
    expect(setup.upstream.requests[1]!.body!.messages).toEqual([
      expect.objectContaining({ role: 'user' }),
      { role: 'assistant', content: STAGE1 },
    ]);
  });

  it('steers by the gtalign body field or the x-gtalign-policy header: paper-api moves the choice to DQ_DA', async () => {
    const byBody = await setup.client.responses.create(
      withGtalign({ model: 'gtalign-dino', input: QUESTION }, { policy: 'paper-api' }),
    );
    expect(byBody.output_text).toBe(RESPONSES.DA);
    const g = traceOf(byBody);
    expect([g.action, g.cell]).toEqual(['DA', 'DQ_DA']);
    expect(g.matrix_after).toEqual(PAPER_API_MATRIX);
    const byHeader = await setup.client.responses.create(
      { model: 'gtalign-dino', input: QUESTION },
      { headers: { 'x-gtalign-policy': 'paper-api' } },
    );
    expect(byHeader.output_text).toBe(RESPONSES.DA);
  });

  it('reads message items as history, echoes instructions and notes what it did not use', async () => {
    const response = await setup.client.responses.create({
      model: 'gtalign-dino',
      instructions: 'Be terse.',
      input: [
        { role: 'developer', content: 'Answer in English.' },
        { role: 'user', content: 'Hi' },
        {
          type: 'message',
          id: 'msg_1',
          status: 'completed',
          role: 'assistant',
          content: [{ type: 'output_text', text: 'Hello!', annotations: [] }],
        },
        { type: 'message', role: 'user', content: [{ type: 'input_text', text: QUESTION }] },
      ],
    });
    expect(response.output_text).toBe(RESPONSES.CQ);
    expect(response.instructions).toBe('Be terse.');
    const notes = traceOf(response).notes.join(' ');
    expect(notes).toMatch(/instructions not used/);
    expect(notes).toMatch(/1 system\/developer item/);
    const prompt = JSON.stringify(setup.upstream.requests[0]!.body!.messages);
    expect(prompt).toContain('Hello!');
    expect(prompt).not.toContain('Answer in English.');
  });

  it('returns the whole four-block chain with gtalign.reasoning', async () => {
    const response = await setup.client.responses.create(
      withGtalign({ model: 'gtalign-dino', input: QUESTION }, { reasoning: true }),
    );
    expect(response.output_text.startsWith('<thinking>')).toBe(true);
    expect(response.output_text).toContain(`<response>${RESPONSES.CQ}</response>`);
  });
});

describe('conversation state with previous_response_id', () => {
  /** The messages of turn `turn`'s first upstream call (each turn makes two: stage 1 and stage 2), as JSON. */
  const stage1Prompt = (turn: number): string =>
    JSON.stringify(setup.upstream.requests[turn * 2]?.body?.messages);
  const count = (text: string, part: string): number =>
    text.split(JSON.stringify(part).slice(1, -1)).length - 1;

  it('continues a kept response: the model sees the earlier questions and answers, the client sends only the new one', async () => {
    const first = await setup.client.responses.create({
      model: 'gtalign-dino',
      input: 'Which dinosaur is the largest?',
    });
    expect(first.previous_response_id).toBeNull();
    const second = await setup.client.responses.create({
      model: 'gtalign-dino',
      input: QUESTION,
      previous_response_id: first.id,
    });
    expect(second.previous_response_id).toBe(first.id);
    const third = await setup.client.responses.create({
      model: 'gtalign-dino',
      input: 'Thanks, and the smallest?',
      previous_response_id: second.id,
    });
    expect(setup.upstream.requests).toHaveLength(6);
    // Turn 1 knows nothing earlier; turn 2 has turn 1; turn 3 has turns 1 and 2, in order.
    expect(stage1Prompt(0)).not.toContain(first.output_text);
    const two = stage1Prompt(1);
    expect(two).toContain('Which dinosaur is the largest?');
    expect(two).toContain(first.output_text);
    const three = stage1Prompt(2);
    const firstAt = three.indexOf('Which dinosaur is the largest?');
    expect(firstAt).toBeGreaterThanOrEqual(0);
    expect(three.indexOf(JSON.stringify(QUESTION).slice(1, -1), firstAt)).toBeGreaterThan(firstAt);
    // Both earlier answers (the same text here) are in it, and the new question.
    expect(count(three, first.output_text)).toBe(count(stage1Prompt(0), first.output_text) + 2);
    expect(three).toContain('Thanks, and the smallest?');
    expect(third.output_text).toBe(RESPONSES.CQ);
  });

  it('a streamed response is kept too, once completed', async () => {
    const events = await collect(
      await setup.client.responses.create({
        model: 'gtalign-dino',
        input: 'Streamed question',
        stream: true,
      }),
    );
    const completed = events.at(-1)!;
    if (completed.type !== 'response.completed') throw new Error('no response.completed');
    setup.upstream.requests.length = 0;
    await setup.client.responses.create({
      model: 'gtalign-dino',
      input: QUESTION,
      previous_response_id: completed.response.id,
    });
    expect(stage1Prompt(0)).toContain('Streamed question');
    expect(stage1Prompt(0)).toContain(completed.response.output_text ?? RESPONSES.CQ);
  });
});

describe('responses.retrieve and responses.delete of a stored response', () => {
  it('retrieves a response as it was sent (non-streamed and streamed), and forgets a deleted one', async () => {
    const created = await setup.client.responses.create({ model: 'gtalign-dino', input: QUESTION });
    const got = await setup.client.responses.retrieve(created.id);
    // The same object, byte for byte the same JSON apart from the client's convenience field.
    expect(JSON.stringify({ ...got, output_text: undefined })).toBe(
      JSON.stringify({ ...created, output_text: undefined }),
    );
    expect(got.output_text).toBe(created.output_text);
    expect(traceOf(got).cell).toBe(traceOf(created).cell);

    const events = await collect(
      await setup.client.responses.create({ model: 'gtalign-dino', input: QUESTION, stream: true }),
    );
    const completed = events.at(-1)!;
    if (completed.type !== 'response.completed') throw new Error('no response.completed');
    const again = await setup.client.responses.retrieve(completed.response.id);
    expect(again.status).toBe('completed');
    const streamedText =
      completed.response.output[0]?.type === 'message' ? completed.response.output[0].content[0] : undefined;
    expect(again.output_text).toBe(streamedText?.type === 'output_text' ? streamedText.text : 'no text');

    await setup.client.responses.delete(created.id);
    const gone = await setup.client.responses.retrieve(created.id).catch((e: unknown) => e);
    expect(gone).toBeInstanceOf(OpenAI.NotFoundError);
    expect((gone as InstanceType<typeof OpenAI.NotFoundError>).message).toMatch(/not found/);
    // Deleted means gone for previous_response_id too; deleting twice is a 404.
    const follow = await setup.client.responses
      .create({ model: 'gtalign-dino', input: 'And?', previous_response_id: created.id })
      .catch((e: unknown) => e);
    expect(follow).toBeInstanceOf(OpenAI.NotFoundError);
    expect(await setup.client.responses.delete(created.id).catch((e: unknown) => e)).toBeInstanceOf(
      OpenAI.NotFoundError,
    );
    // The other one is still there.
    expect((await setup.client.responses.retrieve(completed.response.id)).id).toBe(completed.response.id);
  });

  it('lists the messages a response was made from, a previous_response_id chain included, in pages', async () => {
    const first = await setup.client.responses.create({
      model: 'gtalign-dino',
      input: 'Which dinosaur is the largest?',
    });
    const second = await setup.client.responses.create({
      model: 'gtalign-dino',
      input: [
        { role: 'user', content: 'A side note first.' },
        { role: 'assistant', content: 'Noted.' },
        { role: 'user', content: QUESTION },
      ],
      previous_response_id: first.id,
    });
    const listed: Array<{ id: string; role: string; content: Array<{ type: string; text: string }> }> = [];
    for await (const item of setup.client.responses.inputItems.list(second.id, { limit: 2 }))
      listed.push(item as (typeof listed)[number]);
    // Newest first: the question, the two items before it, the first answer, the first question.
    expect(listed.map((i) => [i.role, i.content[0]!.text])).toEqual([
      ['user', QUESTION],
      ['assistant', 'Noted.'],
      ['user', 'A side note first.'],
      ['assistant', first.output_text],
      ['user', 'Which dinosaur is the largest?'],
    ]);
    expect(listed[3]!.content[0]!.type).toBe('output_text');
    const asc = await setup.client.responses.inputItems.list(second.id, { order: 'asc', limit: 100 });
    expect(asc.data.map((i) => i.id)).toEqual(listed.map((i) => i.id).reverse());
    expect(new Set(listed.map((i) => i.id)).size).toBe(5);
  });

  it('keeps nothing to retrieve with store: false; streams a kept response again; refuses cancel by name', async () => {
    const unstored = await setup.client.responses.create({
      model: 'gtalign-dino',
      input: QUESTION,
      store: false,
    });
    expect(await setup.client.responses.retrieve(unstored.id).catch((e: unknown) => e)).toBeInstanceOf(
      OpenAI.NotFoundError,
    );
    const kept = await setup.client.responses.create({ model: 'gtalign-dino', input: QUESTION });
    // Streamed again: the events a stream of it sends, rebuilt from the kept response, the text in one delta.
    const replay = await collect(await setup.client.responses.retrieve(kept.id, { stream: true }));
    expect(replay.map((e) => e.type)).toEqual([
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.content_part.added',
      'response.output_text.delta',
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.completed',
    ]);
    expect(replay.map((e) => e.sequence_number)).toEqual(replay.map((_, i) => i));
    const delta = replay.find((e) => e.type === 'response.output_text.delta') as { delta: string };
    expect(delta.delta).toBe(RESPONSES.CQ);
    const completed = replay.at(-1) as { response: { id: string; output: unknown } };
    expect(completed.response.id).toBe(kept.id);
    expect(completed.response.output).toEqual(kept.output);
    const rest = await collect(
      await setup.client.responses.retrieve(kept.id, { stream: true, starting_after: 6 }),
    );
    expect(rest.map((e) => e.sequence_number)).toEqual([7, 8]);
    const badAfter = await setup.client.responses
      .retrieve(kept.id, { stream: true, starting_after: -1 } as never)
      .catch((e: unknown) => e);
    expect((badAfter as InstanceType<typeof OpenAI.BadRequestError>).param).toBe('starting_after');
    // Made without background: nothing to cancel (background-responses.test.ts covers the rest).
    const cancel = await setup.client.responses.cancel(kept.id).catch((e: unknown) => e);
    expect(cancel).toBeInstanceOf(OpenAI.BadRequestError);
    // Without the key, retrieval is refused like every other route.
    const anonymous = new OpenAI({ baseURL: `${setup.proxy.url}/v1`, apiKey: 'wrong', maxRetries: 0 });
    expect(await anonymous.responses.retrieve(kept.id).catch((e: unknown) => e)).toBeInstanceOf(
      OpenAI.AuthenticationError,
    );
  });
});

describe('conversation objects (the Conversations API) and responses.create with conversation', () => {
  /** The messages of the last turn's stage 1, as JSON. */
  const lastStage1 = (): string => JSON.stringify(setup.upstream.requests.at(-2)?.body?.messages);

  it('keeps the history in the conversation: each response reads it and adds its question and answer', async () => {
    const conv = await setup.client.conversations.create({
      items: [
        { type: 'message', role: 'system', content: 'Be brief.' },
        { type: 'message', role: 'user', content: 'Which dinosaur is the largest?' },
      ],
      metadata: { topic: 'dinosaurs' },
    });
    expect(conv).toMatchObject({ object: 'conversation', metadata: { topic: 'dinosaurs' } });
    expect(conv.id).toMatch(/^conv_[0-9a-f]{32}$/);
    const first = await setup.client.responses.create({
      model: 'gtalign-dino',
      input: QUESTION,
      conversation: conv.id,
    });
    expect(first.conversation).toEqual({ id: conv.id });
    expect(lastStage1()).toContain('Which dinosaur is the largest?');
    expect(lastStage1()).not.toContain('Be brief.'); // system items stay in the conversation, unsent
    const events = await collect(
      await setup.client.responses.create({
        model: 'gtalign-dino',
        input: 'And the smallest?',
        conversation: { id: conv.id },
        stream: true,
      }),
    );
    expect(events.at(-1)!.type).toBe('response.completed');
    // The second turn saw the first question, its answer and the earlier item, in order.
    const second = lastStage1();
    const at = [
      second.indexOf('Which dinosaur is the largest?'),
      second.indexOf(JSON.stringify(QUESTION).slice(1, -1)),
      second.indexOf(JSON.stringify(first.output_text).slice(1, -1)),
    ];
    expect(at.every((i) => i >= 0)).toBe(true);
    expect([...at].sort((a, b) => a - b)).toEqual(at);

    // Listed newest first by default, and in pages the client follows.
    const listed: Array<{ id: string; role: string; content: Array<{ type: string; text: string }> }> = [];
    for await (const item of setup.client.conversations.items.list(conv.id, { limit: 2 }))
      listed.push(item as (typeof listed)[number]);
    expect(listed.map((i) => i.role)).toEqual(['assistant', 'user', 'assistant', 'user', 'user', 'system']);
    expect(listed[2]!.id).toBe(first.output[0]!.id); // the answer keeps its output item's id
    expect(listed[2]!.content[0]).toMatchObject({ type: 'output_text', text: first.output_text });
    expect(listed[1]!.content[0]).toEqual({ type: 'input_text', text: 'And the smallest?' });
    const asc = await setup.client.conversations.items.list(conv.id, { order: 'asc', limit: 100 });
    expect(asc.data.map((i) => i.id)).toEqual(listed.map((i) => i.id).reverse());

    // Items added, read, removed; metadata replaced; the conversation deleted.
    const added = await setup.client.conversations.items.create(conv.id, {
      items: [{ type: 'message', role: 'user', content: [{ type: 'input_text', text: 'One more thing.' }] }],
    });
    expect(added.data).toHaveLength(1);
    const addedId = (added.data[0] as { id: string }).id;
    const one = await setup.client.conversations.items.retrieve(addedId, { conversation_id: conv.id });
    expect(one).toMatchObject({ role: 'user', content: [{ type: 'input_text', text: 'One more thing.' }] });
    await setup.client.conversations.items.delete(addedId, { conversation_id: conv.id });
    expect((await setup.client.conversations.items.list(conv.id, { limit: 100 })).data).toHaveLength(6);
    const updated = await setup.client.conversations.update(conv.id, { metadata: { topic: 'fossils' } });
    expect(updated.metadata).toEqual({ topic: 'fossils' });
    expect((await setup.client.conversations.retrieve(conv.id)).metadata).toEqual({ topic: 'fossils' });
    expect(await setup.client.conversations.delete(conv.id)).toMatchObject({ id: conv.id, deleted: true });
    expect(await setup.client.conversations.retrieve(conv.id).catch((e: unknown) => e)).toBeInstanceOf(
      OpenAI.NotFoundError,
    );
  });

  it('refuses conversation with previous_response_id, bad items and bad pages, each naming the field', async () => {
    const conv = await setup.client.conversations.create();
    expect(conv.metadata).toEqual({});
    const prior = await setup.client.responses.create({ model: 'gtalign-dino', input: QUESTION });
    const both = await setup.client.responses
      .create({ model: 'gtalign-dino', input: 'And?', conversation: conv.id, previous_response_id: prior.id })
      .catch((e: unknown) => e);
    expect(both).toBeInstanceOf(OpenAI.BadRequestError);
    expect((both as InstanceType<typeof OpenAI.BadRequestError>).param).toBe('conversation');
    const tool = await setup.client.conversations.items
      .create(conv.id, { items: [{ type: 'function_call_output', call_id: 'c', output: 'x' }] })
      .catch((e: unknown) => e);
    expect(tool).toBeInstanceOf(OpenAI.BadRequestError);
    expect((tool as InstanceType<typeof OpenAI.BadRequestError>).param).toBe('items.0.type');
    const page = await setup.client.conversations.items
      .list(conv.id, { limit: 500 })
      .catch((e: unknown) => e);
    expect(page).toBeInstanceOf(OpenAI.BadRequestError);
    expect((page as InstanceType<typeof OpenAI.BadRequestError>).param).toBe('limit');
    const tooMany = await setup.client.conversations
      .create({
        items: Array.from({ length: 21 }, () => ({
          type: 'message' as const,
          role: 'user' as const,
          content: 'x',
        })),
      })
      .catch((e: unknown) => e);
    expect(tooMany).toBeInstanceOf(OpenAI.BadRequestError);
  });
});

describe('responses.create, streaming', () => {
  it('sends the Responses event sequence; the deltas add up to the <response> text; completed carries usage and the trace', async () => {
    setup.upstream.setHandler(dinosaurScript({ chunkSize: 3 }));
    const events = await collect(
      await setup.client.responses.create({ model: 'gtalign-dino', input: QUESTION, stream: true }),
    );
    const types = events.map((e) => e.type);
    const deltas = events.filter((e) => e.type === 'response.output_text.delta');
    expect(deltas.length).toBeGreaterThan(3);
    expect(types).toEqual([
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.content_part.added',
      ...deltas.map(() => 'response.output_text.delta'),
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.completed',
    ]);
    expect(events.map((e) => e.sequence_number)).toEqual(events.map((_, i) => i));
    expect(deltas.map((e) => (e.type === 'response.output_text.delta' ? e.delta : '')).join('')).toBe(
      RESPONSES.CQ,
    );
    const created = events[0]!;
    if (created.type !== 'response.created') throw new Error('no response.created');
    expect(created.response.status).toBe('in_progress');
    const done = events.find((e) => e.type === 'response.output_text.done');
    expect(done?.type === 'response.output_text.done' && done.text).toBe(RESPONSES.CQ);
    const completed = events.at(-1)!;
    if (completed.type !== 'response.completed') throw new Error('no response.completed');
    expect(completed.response.id).toBe(created.response.id);
    expect(completed.response.status).toBe('completed');
    expect(completed.response.usage?.output_tokens).toBeGreaterThan(10);
    expect(traceOf(completed.response).cell).toBe('VQ_CQ');
    expect(completed.response.metadata?.gtalign_action).toBe('CQ');
  });

  it('reports an upstream failure during stage 2 as an error event and response.failed', async () => {
    let calls = 0;
    const script = dinosaurScript();
    setup.upstream.setHandler((body) =>
      calls++ === 1 ? { status: 500, errorMessage: 'stage 2 exploded' } : script(body),
    );
    const events = await collect(
      await setup.client.responses.create({ model: 'gtalign-dino', input: QUESTION, stream: true }),
    );
    const error = events.at(-2)!;
    const failed = events.at(-1)!;
    expect(error.type).toBe('error');
    if (error.type !== 'error') throw new Error('no error event');
    expect(error.code).toBe('upstream_error');
    expect(error.message).toMatch(/stage 2 exploded/);
    expect(failed.type).toBe('response.failed');
    if (failed.type !== 'response.failed') throw new Error('no response.failed');
    expect(failed.response.status).toBe('failed');
    expect(failed.response.error?.message).toMatch(/stage 2 exploded/);
  });

  it('a failure before any output (upstream down in stage 1) is a plain 502, which the client raises', async () => {
    setup.upstream.setHandler(() => ({ status: 503, errorMessage: 'overloaded' }));
    const err = await setup.client.responses
      .create({ model: 'gtalign-dino', input: QUESTION, stream: true })
      .then(collect)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.InternalServerError);
    expect((err as InstanceType<typeof OpenAI.APIError>).status).toBe(502);
    expect((err as InstanceType<typeof OpenAI.APIError>).message).toMatch(/overloaded/);
  });
});

describe('errors in the Responses (OpenAI error object) shape', () => {
  type APIError = InstanceType<typeof OpenAI.APIError>;
  const fail = (p: Promise<unknown>): Promise<APIError> =>
    p.then(
      () => {
        throw new Error('expected the request to fail');
      },
      (e: unknown) => e as APIError,
    );

  it("replaces a client's metadata under the trace's keys, and says so in the notes", async () => {
    const again = await setup.client.responses.create({
      model: 'gtalign-dino',
      input: QUESTION,
      metadata: { ticket: 'T-1', gtalign: 'mine', gtalign_action: 'DA', gtalign_cell: 'DQ_DA' },
    });
    const notes = (again as unknown as { gtalign: { notes: string[] } }).gtalign.notes;
    expect(notes).toContain(
      "metadata gtalign, gtalign_action, gtalign_cell replaced: gtalign serve writes the turn's trace there",
    );
    expect(again.metadata!.ticket).toBe('T-1');
    expect(JSON.parse(again.metadata!.gtalign!)).toEqual((again as unknown as { gtalign: unknown }).gtalign);
  });

  it("takes a previous response's metadata sent back, its long gtalign trace included, and replaces the trace", async () => {
    const first = await setup.client.responses.create({
      model: 'gtalign-dino',
      input: QUESTION,
      metadata: { ticket: 'T-1' },
    });
    expect(first.metadata!.gtalign!.length).toBeGreaterThan(512);
    const next = await setup.client.responses.create({
      model: 'gtalign-dino',
      input: 'And the first birds?',
      previous_response_id: first.id,
      metadata: first.metadata,
    });
    expect(next.metadata!.ticket).toBe('T-1');
    expect(JSON.parse(next.metadata!.gtalign!)).toEqual((next as unknown as { gtalign: unknown }).gtalign);
    // A background response gives back only the client's own keys until its trace comes.
    const queued = await setup.client.responses.create({
      model: 'gtalign-dino',
      input: QUESTION,
      background: true,
      metadata: first.metadata,
    });
    expect(queued.metadata).toEqual({ ticket: 'T-1' });
    // Its run ends before the next test counts upstream requests.
    await expect
      .poll(async () => (await setup.client.responses.retrieve(queued.id)).status, { timeout: 20_000 })
      .toBe('completed');
    // The client's own values are still held to 512 characters.
    const long = await fail(
      setup.client.responses.create({
        model: 'gtalign-dino',
        input: QUESTION,
        metadata: { note: 'x'.repeat(513) },
      }),
    );
    expect(long).toBeInstanceOf(OpenAI.BadRequestError);
    expect(long.param).toBe('metadata.note');
    const hidden = await fail(
      setup.client.responses.create({
        model: 'gtalign-dino',
        input: QUESTION,
        metadata: { ['__proto__']: 'x'.repeat(513) } as Record<string, string>,
      }),
    );
    expect(hidden.param).toBe('metadata.__proto__');
  });

  it('gives back every metadata key, "__proto__" too (JSON.parse gives it as an ordinary key)', async () => {
    // A computed key makes an own property, which the client's JSON.stringify sends like any other.
    const metadata: Record<string, string> = { ['__proto__']: 'p', ticket: 'T-2' };
    const created = await setup.client.responses.create({ model: 'gtalign-dino', input: QUESTION, metadata });
    const own = (o: unknown) => Object.getOwnPropertyDescriptor(o, '__proto__')?.value;
    expect(own(created.metadata)).toBe('p');
    const stored = await setup.client.responses.retrieve(created.id);
    expect(own(stored.metadata)).toBe('p');

    const conv = await setup.client.conversations.create({ metadata });
    expect(own(conv.metadata)).toBe('p');
    const updated = await setup.client.conversations.update(conv.id, {
      metadata: { ['__proto__']: 'q' } as Record<string, string>,
    });
    expect(own(updated.metadata)).toBe('q');
  });

  it('bad input is a 400 BadRequestError naming the field', async () => {
    const notUser = await fail(
      setup.client.responses.create({ model: 'gtalign-dino', input: [{ role: 'assistant', content: 'Hi' }] }),
    );
    expect(notUser).toBeInstanceOf(OpenAI.BadRequestError);
    expect(notUser.status).toBe(400);
    expect(notUser.param).toBe('input.0.role');
    expect(notUser.type).toBe('invalid_request_error');

    const toolItem = await fail(
      setup.client.responses.create({
        model: 'gtalign-dino',
        input: [{ type: 'function_call_output', call_id: 'c1', output: '42' }],
      }),
    );
    expect(toolItem).toBeInstanceOf(OpenAI.BadRequestError);
    expect(toolItem.message).toMatch(/function_call_output/);

    const numbers = await fail(
      setup.client.responses.create({ model: 'gtalign-dino', input: 42 as unknown as string }),
    );
    expect(numbers).toBeInstanceOf(OpenAI.BadRequestError);
    expect(numbers.param).toBe('input');

    const image = await fail(
      setup.client.responses.create({
        model: 'gtalign-dino',
        input: [{ role: 'user', content: [{ type: 'input_image', image_url: 'x', detail: 'auto' }] }],
      }),
    );
    expect(image).toBeInstanceOf(OpenAI.BadRequestError);
    expect(image.param).toBe('input.0.content.0.type');

    // A stored prompt template (openai 6.49.0: `prompt: ResponsePrompt`) is not answered without it.
    const template = await fail(
      setup.client.responses.create({ model: 'gtalign-dino', input: QUESTION, prompt: { id: 'pmpt_1' } }),
    );
    expect(template).toBeInstanceOf(OpenAI.BadRequestError);
    expect(template.param).toBe('prompt');
    expect(template.message).toMatch(/prompt templates are not served/);

    // Moderation asked for (openai 6.49.0: `moderation: {model}`) is not skipped without a word.
    const moderated = await fail(
      setup.client.responses.create({
        model: 'gtalign-dino',
        input: QUESTION,
        moderation: { model: 'omni-moderation-latest' },
      }),
    );
    expect(moderated).toBeInstanceOf(OpenAI.BadRequestError);
    expect(moderated.param).toBe('moderation');
    expect(setup.upstream.requests).toHaveLength(0);
  });

  it('a previous_response_id not kept (unknown, or stored with store: false) is a 404 naming the field', async () => {
    const unknown = await fail(
      setup.client.responses.create({
        model: 'gtalign-dino',
        input: QUESTION,
        previous_response_id: 'resp_1',
      }),
    );
    expect(unknown).toBeInstanceOf(OpenAI.NotFoundError);
    expect(unknown.param).toBe('previous_response_id');
    expect(unknown.code).toBe('previous_response_not_found');
    expect(unknown.message).toMatch(/previous response "resp_1" not found.*send the whole conversation/);
    expect(setup.upstream.requests).toHaveLength(0);
    const unstored = await setup.client.responses.create({
      model: 'gtalign-dino',
      input: QUESTION,
      store: false,
    });
    const after = await fail(
      setup.client.responses.create({
        model: 'gtalign-dino',
        input: 'And?',
        previous_response_id: unstored.id,
      }),
    );
    expect(after).toBeInstanceOf(OpenAI.NotFoundError);
    const conversation = await fail(
      setup.client.responses.create({ model: 'gtalign-dino', input: QUESTION, conversation: 'conv_1' }),
    );
    expect(conversation).toBeInstanceOf(OpenAI.NotFoundError);
    expect(conversation.param).toBe('conversation');
    expect(conversation.code).toBe('conversation_not_found');
  });

  it('an unsupported policy is 400; an upstream error is 502; a missing key 401', async () => {
    const policy = await fail(
      setup.client.responses.create(
        withGtalign({ model: 'gtalign-dino', input: QUESTION }, { policy: 'nope' }),
      ),
    );
    expect(policy).toBeInstanceOf(OpenAI.BadRequestError);
    expect(policy.code).toBe('invalid_policy');

    setup.upstream.setHandler(() => ({ status: 500, errorMessage: 'boom' }));
    const upstreamErr = await fail(setup.client.responses.create({ model: 'gtalign-dino', input: QUESTION }));
    expect(upstreamErr).toBeInstanceOf(OpenAI.InternalServerError);
    expect(upstreamErr.status).toBe(502);
    expect(upstreamErr.code).toBe('upstream_error');

    const anonymous = new OpenAI({ baseURL: `${setup.proxy.url}/v1`, apiKey: 'wrong', maxRetries: 0 });
    const auth = await fail(anonymous.responses.create({ model: 'gtalign-dino', input: QUESTION }));
    expect(auth).toBeInstanceOf(OpenAI.AuthenticationError);
  });
});
