import { afterEach, describe, expect, it } from 'vitest';
import { type OpenAIStubServer, startOpenAIStubServer } from '../support/openai-stub-server.js';

// The loopback stub is the "other side of the protocol" for the judge and, later, the LLM backends;
// these tests pin the wire format it speaks.

let server: OpenAIStubServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

const post = (url: string, body: unknown) =>
  fetch(`${url}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });

describe('OpenAI stub server', () => {
  it('answers a chat completion and records the request', async () => {
    server = await startOpenAIStubServer((body, i) => ({ content: `reply ${i} to ${String(body.model)}` }));
    const res = await post(server.baseUrl, {
      model: 'm1',
      messages: [{ role: 'user', content: 'hi there' }],
    });
    expect(res.status).toBe(200);
    const json = (await res.json()) as Record<string, unknown>;
    expect(json).toMatchObject({
      object: 'chat.completion',
      model: 'm1',
      choices: [
        { index: 0, message: { role: 'assistant', content: 'reply 0 to m1' }, finish_reason: 'stop' },
      ],
      usage: { prompt_tokens: 2, completion_tokens: 4, total_tokens: 6 },
    });
    expect(server.requests[0]?.body).toEqual({
      model: 'm1',
      messages: [{ role: 'user', content: 'hi there' }],
    });
  });

  it('streams chat.completion.chunk events ending with [DONE]', async () => {
    server = await startOpenAIStubServer(() => ({ content: '<thinking>ok</thinking>', chunkSize: 5 }));
    const res = await post(server.baseUrl, {
      model: 'm',
      messages: [],
      stream: true,
      stream_options: { include_usage: true },
    });
    expect(res.headers.get('content-type')).toBe('text/event-stream');
    const events = (await res.text())
      .split('\n\n')
      .filter((e) => e !== '')
      .map((e) => e.replace(/^data: /, ''));
    expect(events[events.length - 1]).toBe('[DONE]');
    const chunks = events.slice(0, -1).map(
      (e) =>
        JSON.parse(e) as {
          object: string;
          choices: Array<{ delta?: { content?: string }; finish_reason: string | null }>;
          usage?: unknown;
        },
    );
    expect(chunks.every((c) => c.object === 'chat.completion.chunk')).toBe(true);
    const text = chunks.map((c) => c.choices[0]?.delta?.content ?? '').join('');
    expect(text).toBe('<thinking>ok</thinking>');
    expect(chunks.some((c) => c.choices[0]?.delta?.content === '<thin')).toBe(true);
    expect(chunks.find((c) => c.choices[0]?.finish_reason === 'stop')).toBeDefined();
    expect(chunks[chunks.length - 1]?.usage).toBeDefined();
  });

  it('sends scripted errors, raw bodies, 404s and 400s', async () => {
    server = await startOpenAIStubServer((_b, i) =>
      i === 0 ? { status: 503, errorMessage: 'overloaded' } : { raw: 'not json' },
    );
    const a = await post(server.baseUrl, { messages: [] });
    expect(a.status).toBe(503);
    expect(await a.json()).toMatchObject({ error: { message: 'overloaded' } });
    const b = await post(server.baseUrl, { messages: [] });
    expect(await b.text()).toBe('not json');
    const c = await fetch(`${server.baseUrl}/completions`, { method: 'POST', body: '{}' });
    expect(c.status).toBe(404);
    const d = await fetch(`${server.baseUrl}/chat/completions`, { method: 'POST', body: '[1,2' });
    expect(d.status).toBe(400);
    const models = (await (await fetch(`${server.baseUrl}/models`)).json()) as {
      data: Array<{ id: string }>;
    };
    expect(models.data[0]?.id).toBe('stub-model');
  });

  it('closes even while a request hangs', async () => {
    server = await startOpenAIStubServer(() => ({ hang: true }));
    const pending = post(server.baseUrl, { messages: [] }).catch((e: unknown) => e);
    while (server.inFlight === 0) await new Promise((r) => setTimeout(r, 5));
    await server.close();
    expect(await pending).toBeInstanceOf(Error);
    server = undefined;
  });
});
