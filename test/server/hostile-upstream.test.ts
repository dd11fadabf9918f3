/**
 * Model outputs are hostile text: `gtalign serve` in front of a SCRIPTED loopback upstream that answers
 * stage 1 and stage 2 of every turn with generated text: the four blocks' tags in any order, cut or
 * repeated, matrices valid, damaged or absurd, any Unicode, stop strings honoured or ignored, streamed in
 * pieces of any size. Through chat completions and the Responses API, streamed and not.
 *
 * Shown, in each reply mode (`gtalign.reasoning` none, full, separate): every turn ends in a reply (200)
 * or a 502 that says the model's output could not be used, never an internal error (no 500, nothing
 * logged as one); a stream ends with its last event (`[DONE]`, or an error event naming the model's output
 * once the status line was out). Seeded, so a failure reproduces.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../src/server/listen.js';
import { startProxyServer } from '../../src/server/proxy.js';
import {
  type OpenAIStubServer,
  type StubReply,
  startOpenAIStubServer,
  stubModel,
} from '../support/openai-stub-server.js';
import { QUESTION, STAGE1 } from './scripted-upstream.js';

const VALID_MATRIX = STAGE1.slice(STAGE1.indexOf('<payoff>') + 8, STAGE1.indexOf('</payoff>'));

/** A payoff value: ordinary, absurd, or not a number at all. */
const payoffValue = fc.oneof(
  fc.double({ min: -5, max: 5, noNaN: true }).map(String),
  fc.constantFrom(
    '1e308',
    '-1e308',
    '1e-320',
    'NaN',
    'Infinity',
    '"2"',
    'null',
    '[]',
    '{}',
    '0x10',
    '1_0',
    '-0',
  ),
);
const damagedMatrix = fc
  .tuple(
    fc.subarray(['DQ_DA', 'DQ_CQ', 'DQ_AQ', 'VQ_DA', 'VQ_CQ', 'VQ_AQ', 'XQ_ZZ', 'DQ_DA']),
    fc.array(payoffValue, { minLength: 16, maxLength: 16 }),
  )
  .map(
    ([cells, values]) =>
      `{${cells.map((c, i) => `"${c}": {"LLM": ${values[2 * i]}, "user": ${values[2 * i + 1]}}`).join(', ')}}`,
  );

/** Text made of the format's pieces, in any order, with anything in between. */
const piece = fc.oneof(
  fc.constantFrom(
    '<thinking>',
    '</thinking>',
    '<payoff>',
    '</payoff>',
    '<analyze>',
    '</analyze>',
    '<response>',
    '</response>',
    '\n',
    VALID_MATRIX,
    'I choose VQ_CQ.',
    '<payoff>\n',
  ),
  damagedMatrix,
  fc.string({ maxLength: 20 }),
  fc.string({ unit: 'grapheme', maxLength: 10 }),
);
const hostileText = fc.oneof(
  fc.array(piece, { maxLength: 14 }).map((parts) => parts.join('')),
  // A well-formed stage 1 with anything after it (a server that ignored the stop string).
  fc.string({ maxLength: 40 }).map((tail) => `${STAGE1}${tail}`),
);

interface Script {
  stage1: string;
  stage2: string;
  honourStop: boolean;
  chunkSize: number;
}
const script: fc.Arbitrary<Script> = fc.record({
  stage1: hostileText,
  stage2: hostileText,
  honourStop: fc.boolean(),
  chunkSize: fc.integer({ min: 1, max: 64 }),
});

let upstream: OpenAIStubServer;
let proxy: RunningServer;
const logged: string[] = [];
let current: Script = { stage1: STAGE1, stage2: '<response>Hi</response>', honourStop: true, chunkSize: 4 };

beforeAll(async () => {
  upstream = await startOpenAIStubServer((body): StubReply => {
    const messages = (body.messages as Array<{ role: string }>) ?? [];
    let text = messages.at(-1)?.role === 'assistant' ? current.stage2 : current.stage1;
    const stops = Array.isArray(body.stop) ? (body.stop as string[]) : [];
    if (current.honourStop)
      for (const s of stops) {
        const at = text.indexOf(s);
        if (at >= 0) text = text.slice(0, at);
      }
    return { content: text, chunkSize: current.chunkSize };
  });
  proxy = await startProxyServer({
    model: stubModel(upstream),
    modelName: 'gtalign-dino',
    log: (line) => logged.push(line),
  });
});
afterAll(async () => {
  await proxy?.close();
  await upstream?.close();
});

/** One request; checks it ended in a reply or a 502 naming the model's output, and returns the status. */
async function ask(path: string, body: Record<string, unknown>): Promise<number> {
  const res = await fetch(`${proxy.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  const where = `${path} ${JSON.stringify(current).slice(0, 500)}: ${res.status} ${text.slice(0, 300)}`;
  expect([200, 502], where).toContain(res.status);
  if (res.status === 502) expect(text, where).toContain("the model's output could not be used");
  if (res.status === 200 && body.stream === true) {
    // The stream's last event: chat completions end with [DONE], the Responses API with its end or error.
    // A failure after the status line is an error event naming the model's output, which ends the stream.
    const last = text.trimEnd().split('\n').at(-1) ?? '';
    if (path.endsWith('/chat/completions'))
      expect(
        last === 'data: [DONE]' ||
          (last.startsWith('data: {"error"') && last.includes("the model's output could not be used")),
        where,
      ).toBe(true);
    else
      expect(
        /event: (response\.completed|response\.incomplete|response\.failed)\n[^\n]*\n\n$/.test(text),
        where,
      ).toBe(true);
  }
  return res.status;
}

async function fuzz(path: string, body: (stream: boolean) => Record<string, unknown>): Promise<void> {
  const seen = new Map<number, number>();
  await fc.assert(
    // Each reply mode too: `separate` streams stage 1's thinking as it comes, so a stage-1 failure may
    // come after the status line.
    fc.asyncProperty(
      script,
      fc.boolean(),
      fc.constantFrom('none', 'full', 'separate'),
      async (s, stream, reasoning) => {
        current = s;
        const status = await ask(path, { ...body(stream), gtalign: { reasoning } });
        seen.set(status, (seen.get(status) ?? 0) + 1);
      },
    ),
    { numRuns: 150, seed: 20261207, endOnFailure: true },
  );
  // Both outcomes were met.
  expect(seen.get(200) ?? 0, JSON.stringify([...seen])).toBeGreaterThan(0);
  expect(seen.get(502) ?? 0, JSON.stringify([...seen])).toBeGreaterThan(0);
  expect(logged.filter((l) => /internal|\n\s+at /.test(l))).toEqual([]);
}

describe('a hostile upstream', () => {
  it('chat completions', async () => {
    await fuzz('/v1/chat/completions', (stream) => ({
      model: 'gtalign-dino',
      messages: [{ role: 'user', content: QUESTION }],
      stream,
    }));
  });

  it('the Responses API', async () => {
    await fuzz('/v1/responses', (stream) => ({
      model: 'gtalign-dino',
      input: QUESTION,
      stream,
      store: false,
    }));
  });
});
