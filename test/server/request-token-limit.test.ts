/**
 * A request's own token limit (`max_output_tokens`, `max_tokens`, `max_completion_tokens`) lowers the
 * server's for each stage. One too low for stage 1's reasoning and matrix is the request's to raise: a 400
 * naming its field, as the official `openai` client (6.49.0) reads it, not a 502 blaming the model and the
 * server's --max-tokens. The server's own limit being too low stays a 502. The upstream is a SCRIPTED
 * loopback server (the paper's dinosaur example, not a model) that stops at `max_tokens` words, with
 * finish reason `length`, as a model stops at its token limit.
 */
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../src/server/listen.js';
import { startProxyServer } from '../../src/server/proxy.js';
import {
  type OpenAIStubServer,
  type StubReply,
  type StubRequestBody,
  startOpenAIStubServer,
  stubModel,
} from '../support/openai-stub-server.js';
import { dinosaurScript, QUESTION } from './scripted-upstream.js';

/** The dinosaur script, each reply cut at the request's `max_tokens` words. */
function wordLimited() {
  const script = dinosaurScript();
  return async (body: StubRequestBody): Promise<StubReply> => {
    const reply = await script(body);
    const max = (body.max_completion_tokens ?? body.max_tokens) as number | undefined;
    const words = (reply.content ?? '').split(/(?<=\s)/);
    if (max === undefined || words.length <= max) return reply;
    return { ...reply, content: words.slice(0, max).join(''), finishReason: 'length' };
  };
}

let upstream: OpenAIStubServer;
let proxy: RunningServer;
let lowServer: RunningServer;
const clientOf = (server: RunningServer) =>
  new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'none', maxRetries: 0 });

beforeAll(async () => {
  upstream = await startOpenAIStubServer(wordLimited());
  proxy = await startProxyServer({ model: stubModel(upstream), log: () => {} });
  // A server whose own limit is too low for stage 1.
  lowServer = await startProxyServer({ model: stubModel(upstream), maxTokens: 20, log: () => {} });
});
afterAll(async () => {
  await proxy?.close(0);
  await lowServer?.close(0);
  await upstream?.close();
});

const fail = (p: Promise<unknown>) =>
  p.then(
    () => {
      throw new Error('expected the request to fail');
    },
    (e: unknown) => e as InstanceType<typeof OpenAI.APIError>,
  );

describe('a request token limit too low for the turn', () => {
  it('responses: max_output_tokens is named in a 400', async () => {
    const err = await fail(
      clientOf(proxy).responses.create({ model: 'm', input: QUESTION, max_output_tokens: 20 }),
    );
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect(err.param).toBe('max_output_tokens');
    expect(err.code).toBe('token_limit_too_low');
    expect(err.message).toMatch(
      /max_output_tokens 20 is too low for the GTAlign turn: stage 1 .* 1024 tokens/,
    );
    // The same limit with room for the turn answers.
    const fits = await clientOf(proxy).responses.create({
      model: 'm',
      input: QUESTION,
      max_output_tokens: 500,
    });
    expect(fits.status).toBe('completed');
  });

  it('chat completions: max_tokens and max_completion_tokens are named in a 400', async () => {
    for (const field of ['max_tokens', 'max_completion_tokens'] as const) {
      const err = await fail(
        clientOf(proxy).chat.completions.create({
          model: 'm',
          messages: [{ role: 'user', content: QUESTION }],
          [field]: 20,
        }),
      );
      expect(err).toBeInstanceOf(OpenAI.BadRequestError);
      expect(err.param).toBe(field);
      expect(err.code).toBe('token_limit_too_low');
    }
  });

  it("the server's own limit too low stays a 502 naming the server's setting", async () => {
    for (const asked of [undefined, 20, 500]) {
      const err = await fail(
        clientOf(lowServer).responses.create({
          model: 'm',
          input: QUESTION,
          ...(asked === undefined ? {} : { max_output_tokens: asked }),
        }),
      );
      expect(err.status).toBe(502);
      expect(err.code).toBe('upstream_bad_output');
      expect(err.message).toMatch(/--max-tokens in the CLI/);
    }
  });
});
