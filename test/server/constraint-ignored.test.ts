/**
 * `gtalign serve` in front of a vLLM-style upstream that ignores `structured_outputs`: the upstream is a
 * SCRIPTED loopback stand-in (test/support/openai-stub-server.ts) replaying the paper's dinosaur matrix with
 * its keys in an order no regex of the default spec allows. The turn succeeds, the response's notes say
 * `constraint_ignored`, and the Prometheus metrics count it per stage.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../src/server/listen.js';
import { type ProxyApp, startProxyServer } from '../../src/server/proxy.js';
import {
  type OpenAIStubServer,
  type StubRequestBody,
  startOpenAIStubServer,
  stubModel,
} from '../support/openai-stub-server.js';
import { dinosaurScript, QUESTION, RESPONSES } from './scripted-upstream.js';

const SHUFFLED =
  '<thinking>Fairly clear, but "first" is ambiguous.</thinking>\n<payoff>\n' +
  '{"VQ_DA": {"LLM": 1.9, "user": 2.4}, "VQ_CQ": {"LLM": 1.7, "user": 2.9}, "VQ_AQ": {"LLM": 1.4, "user": 2.3}, ' +
  '"DQ_DA": {"LLM": 1.6, "user": 2.8}, "DQ_CQ": {"LLM": 1.3, "user": 2.7}, "DQ_AQ": {"LLM": 1.0, "user": 2.5}}' +
  '\n</payoff>';

function ignoringUpstream() {
  const rest = dinosaurScript();
  return (body: StubRequestBody) => {
    const messages = body.messages as Array<{ role: string }>;
    const stops = (body.stop as string[] | undefined) ?? [];
    if (messages.at(-1)?.role !== 'assistant' && stops.includes('</payoff>')) {
      return { content: SHUFFLED.slice(0, SHUFFLED.indexOf('</payoff>')) };
    }
    return rest(body);
  };
}

let upstream: OpenAIStubServer;
let proxy: RunningServer & { app: ProxyApp };
beforeAll(async () => {
  upstream = await startOpenAIStubServer(ignoringUpstream());
  proxy = await startProxyServer({
    model: stubModel(upstream),
    log: () => {},
  });
});
afterAll(async () => {
  await proxy.close();
  await upstream.close();
});

describe('an upstream that ignores the constraint', () => {
  it('answers, notes constraint_ignored, and counts it in gtalign_constraint_ignored_total', async () => {
    const res = await fetch(`${proxy.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'x', messages: [{ role: 'user', content: QUESTION }] }),
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as {
      choices: Array<{ message: { content: string } }>;
      gtalign: { cell: string; notes: string[] };
    };
    expect(body.choices[0]!.message.content).toBe(RESPONSES.CQ);
    expect(body.gtalign.cell).toBe('VQ_CQ');
    expect(body.gtalign.notes.join('\n')).toMatch(/constraint_ignored \(stage1\)/);
    expect(upstream.requests[0]!.body).toHaveProperty('structured_outputs.regex');

    const metrics = await (await fetch(`${proxy.url}/metrics`)).text();
    expect(metrics).toContain('# TYPE gtalign_constraint_ignored_total counter');
    expect(metrics).toMatch(/^gtalign_constraint_ignored_total\{stage="stage1"\} 1$/m);
    expect(metrics).not.toMatch(/gtalign_constraint_ignored_total\{stage="stage2"\}/);
  });
});
