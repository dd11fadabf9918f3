/**
 * The judge as a client of any ChatModel: a scripted model stands for a backend of one's own, so the
 * judge's own timeout, retries, reasons and cache identity are checked without a server.
 */
import { describe, expect, it } from 'vitest';
import {
  type ChatModel,
  ChatModelError,
  type ChatModelFailure,
  type GenerateRequest,
  type GenerateResult,
} from '../../src/llm/types.js';
import { createJudge } from '../../src/reward/judge.js';
import type { JudgeInput } from '../../src/reward/rubrics.js';

type Step = string | ChatModelError | 'hang';

/** A model that plays `steps` in order (the last one repeats) and records every request. */
function scripted(steps: Step[], capabilities: Partial<ChatModel['capabilities']> = {}) {
  const requests: GenerateRequest[] = [];
  const model: ChatModel = {
    id: 'scripted:judge',
    capabilities: {
      continuation: false,
      gbnf: false,
      regex: false,
      seed: false,
      cacheReport: false,
      ...capabilities,
    },
    async generate(request) {
      const step = steps[Math.min(requests.length, steps.length - 1)]!;
      requests.push(request);
      if (step instanceof ChatModelError) throw step;
      if (step === 'hang') {
        // Answers only by failing when its signal aborts, as a real backend does.
        return new Promise<GenerateResult>((_resolve, reject) => {
          request.signal?.addEventListener('abort', () => reject(request.signal?.reason), { once: true });
        });
      }
      return {
        text: step,
        finishReason: 'stop',
        usage: { promptTokens: 1, cachedPromptTokens: 0, completionTokens: 1 },
        durationMs: 0,
      };
    },
    stream() {
      throw new Error('not used by the judge');
    },
    async close() {},
  };
  return { model, requests };
}

const failure = (reason: ChatModelFailure, status?: number) =>
  new ChatModelError(`scripted: ${reason}`, {
    backend: 'scripted',
    reason,
    ...(status === undefined ? {} : { status }),
  });

const input: JudgeInput = { question: 'What is 1 + 1?', response: '\\boxed{2}', ground_truth: '2' };
const fast = { retry: { attempts: 3, baseDelayMs: 0, maxDelayMs: 0 } };

describe('a judge on a ChatModel of its own', () => {
  it('sends the rubric at temperature 0 and reads the verdict', async () => {
    const { model, requests } = scripted(['Correct. \\boxed{1}']);
    const judge = createJudge({ model, maxTokens: 64 });
    await expect(judge.verdict('math', input)).resolves.toMatchObject({ ok: true, value: 1, attempts: 1 });
    expect(requests[0]).toMatchObject({ temperature: 0, maxTokens: 64 });
    expect(requests[0]?.messages[0]?.role).toBe('system');
    expect(requests[0]?.constraint).toBeUndefined();
  });

  it('times a hung model out itself and retries it', async () => {
    const { model, requests } = scripted(['hang', '\\boxed{0}']);
    // The hung call times out whatever the bound; the bound is wide so that the answer never misses it.
    const judge = createJudge({ model, timeoutMs: 1000, ...fast });
    await expect(judge.verdict('math', input)).resolves.toMatchObject({ ok: true, value: 0, attempts: 2 });
    expect(requests[0]?.signal?.aborted).toBe(true);
    expect(judge.stats().attemptErrorsByReason).toEqual({ timeout: 1 });

    const stuck = createJudge({ model: scripted(['hang']).model, timeoutMs: 20, ...fast });
    const r = await stuck.verdict('math', input);
    expect(r).toMatchObject({ ok: false, reason: 'timeout', attempts: 3 });
    if (!r.ok) expect(r.error).toBe('no complete response within 20 ms');
  });

  it('reads the reason of a ChatModelError: what may pass is retried, what will not is final', async () => {
    const overloaded = scripted([failure('http_status', 503), failure('malformed'), '\\boxed{1}']);
    const judge = createJudge({ model: overloaded.model, ...fast });
    await expect(judge.verdict('math', input)).resolves.toMatchObject({ ok: true, attempts: 3 });
    expect(judge.stats().attemptErrorsByReason).toEqual({ http_status: 1, bad_response: 1 });

    const cases: Array<[ChatModelError, string]> = [
      [failure('http_status', 401), 'http_status'],
      [failure('engine'), 'backend'],
      [failure('too_large'), 'bad_response'],
    ];
    for (const [error, reason] of cases) {
      const { model, requests } = scripted([error]);
      const r = await createJudge({ model, ...fast }).verdict('math', input);
      expect(r).toMatchObject({ ok: false, reason, attempts: 1 });
      if (!r.ok) expect(r.error).toBe(error.message);
      expect(requests).toHaveLength(1);
    }
  });

  it('passes the caller’s abort to the model', async () => {
    const { model, requests } = scripted(['hang']);
    const judge = createJudge({ model, timeoutMs: 60_000 });
    const controller = new AbortController();
    const pending = judge.verdict('math', input, { signal: controller.signal });
    while (requests.length === 0) await new Promise((r) => setTimeout(r, 1));
    controller.abort();
    await expect(pending).resolves.toMatchObject({ ok: false, reason: 'aborted', attempts: 1 });
    expect(requests[0]?.signal?.aborted).toBe(true);
  });

  it('sends the constraint of the verdict kind, and keys the cache on it and on the model', () => {
    const grammar = 'root ::= "<abg>" ("0" | "1") "</abg>"';
    const { model, requests } = scripted(['<abg>1</abg>'], { gbnf: true });
    const judge = createJudge({ model, constraints: { ambiguity: { kind: 'gbnf', grammar } } });
    const messages = [{ role: 'user' as const, content: 'q' }];
    expect(judge.requestKey(messages, 'ambiguity')).not.toBe(judge.requestKey(messages, 'math'));
    expect(judge.requestKey(messages, 'math')).toBe(createJudge({ model }).requestKey(messages, 'math'));
    expect(createJudge({ model, cacheId: 'scripted:judge@v2' }).requestKey(messages)).not.toBe(
      judge.requestKey(messages),
    );
    return judge
      .verdict('ambiguity', {
        question: 'Who won?',
        response: 'Which year?',
        ground_truth: 'multipleQAs###x',
      })
      .then((r) => {
        expect(r).toMatchObject({ ok: true, value: 1 });
        expect(requests[0]?.constraint).toEqual({ kind: 'gbnf', grammar });
      });
  });
});
