/**
 * The servers do not buffer an upstream body without end. In the proxy, one over the backend's limit is a
 * 502 that names the upstream URL and the limit; in the reward server, a judge reply over the judge
 * client's limit is a failed sample naming them. Either way the upstream body is cancelled.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createOpenAIModel } from '../../src/llm/openai.js';
import { createJudge } from '../../src/reward/judge.js';
import { startProxyServer } from '../../src/server/proxy.js';
import { startRewardServer } from '../../src/server/reward.js';
import { startEndlessUpstream } from './endless-upstream.js';

describe('an upstream body over the limit', () => {
  it('is a 502 naming the URL and the limit; the upstream response is closed', async () => {
    const upstream = await startEndlessUpstream({
      contentType: 'application/json',
      head: '{"choices":"',
      piece: 'x',
    });
    const proxy = await startProxyServer({
      model: createOpenAIModel({
        baseUrl: upstream.baseUrl,
        model: 'big',
        vendor: 'vllm',
        maxRetries: 0,
        maxResponseBytes: 1 << 20,
      }),
      log: () => {},
    });
    try {
      const res = await fetch(`${proxy.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ messages: [{ role: 'user', content: 'hi' }] }),
      });
      expect(res.status).toBe(502);
      const body = (await res.json()) as { error: { message: string; code: string } };
      expect(body.error.code).toBe('upstream_error');
      expect(body.error.message).toBe(
        `upstream error: vllm:big: ${upstream.baseUrl}/chat/completions sent a response body larger than 1048576 bytes (maxResponseBytes)`,
      );
      await upstream.closed(1);
      expect(upstream.requests).toBe(1);
      const metrics = await (await fetch(`${proxy.url}/metrics`)).text();
      expect(metrics).toMatch(/gtalign_upstream_errors_total\{kind="bad_output"\} 1\n/);
    } finally {
      await proxy.close();
      await upstream.close();
    }
  });
});

describe('a judge reply over the limit', () => {
  it('fails the sample with the judge URL and the limit, and closes the reply', async () => {
    const upstream = await startEndlessUpstream({
      contentType: 'application/json',
      head: '{"choices":"',
      piece: 'x',
    });
    const server = await startRewardServer({
      judge: createJudge({ baseUrl: upstream.baseUrl, model: 'judge', retry: { attempts: 1 }, env: {} }),
      mathCheck: false,
      log: () => {},
    });
    try {
      const sample = readFileSync(new URL('../fixtures/reward-parity.jsonl', import.meta.url), 'utf8')
        .split('\n')
        .map((l) => (l.trim() === '' ? undefined : (JSON.parse(l) as Record<string, unknown>)))
        .find((c) => c !== undefined && (c.expected as { score: number }).score > 0)!;
      const { verdict: _v, expected: _e, ...record } = sample;
      const res = await fetch(`${server.url}/v1/reward/score`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ samples: [record] }),
      });
      const body = (await res.json()) as { results: Array<{ error?: { stage: string; message: string } }> };
      expect(body.results[0]!.error?.stage).toBe('judge');
      expect(body.results[0]!.error?.message).toContain(
        `${upstream.baseUrl}/chat/completions sent a response body larger than 16777216 bytes`,
      );
      await upstream.closed(1);
      expect(upstream.requests).toBe(1);
    } finally {
      await server.close();
      await upstream.close();
    }
  });
});
