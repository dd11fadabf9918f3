/**
 * `gtalign chat` (and `eval run`) with NO --vendor against SCRIPTED loopback stand-ins for vLLM, SGLang,
 * llama.cpp and Ollama (test/support/vendor-server.ts: real HTTP servers that answer the native endpoints
 * each kind exposes the way it does, and replay the paper's dinosaur example, GTALIGN.md §5, as chosen
 * outputs; they are not those servers). Detection picks the kind, the steering example works in
 * `continue` mode (default policy → VQ_CQ, `paper-api` → DQ_DA), and the exact vendor-specific request
 * bodies of both stages are asserted. An explicit --vendor makes no probe request; a generic server re-asks
 * under `auto` and says why.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { extractBlocks } from '../../src/chain/blocks.js';
import { buildGbnf, buildRegex } from '../../src/chain/grammar.js';
import { parsePayoff } from '../../src/chain/payoff.js';
import { renderMatrix, replacePayoffContent } from '../../src/chain/payoff-edit.js';
import { DEFAULT_SPEC } from '../../src/game/spec.js';
import { HAVE_DATA, shippedPath } from '../data/helpers.js';
import {
  dinosaurScript,
  MATRIX,
  PAPER_API_MATRIX,
  QUESTION,
  RESPONSES,
  STAGE1,
} from '../server/scripted-upstream.js';
import { runCliInProcess } from '../support/cli-in-process.js';
import type { StubRequestBody } from '../support/openai-stub-server.js';
import { type ScriptedKind, startVendorServer, type VendorServer } from '../support/vendor-server.js';

const KINDS = ['vllm', 'sglang', 'llamacpp', 'ollama'] as const;
const servers = new Map<ScriptedKind, VendorServer>();
let dir: string;

beforeAll(async () => {
  for (const kind of [...KINDS, 'generic'] as const) {
    servers.set(kind, await startVendorServer(kind, dinosaurScript()));
  }
  dir = await mkdtemp(join(tmpdir(), 'gtalign-vendor-detect-'));
});
afterAll(async () => {
  for (const s of servers.values()) await s.close();
  await rm(dir, { recursive: true, force: true });
});
beforeEach(() => {
  for (const s of servers.values()) {
    s.upstream.requests.length = 0;
    s.probes.length = 0;
  }
});
const at = (kind: ScriptedKind) => servers.get(kind)!;

/** No vendor, key or backend from the machine running the tests. */
const ENV = { GTALIGN_VENDOR: undefined, GTALIGN_API_KEY: undefined, OPENAI_API_KEY: undefined };
const chat = (kind: ScriptedKind, ...extra: string[]) =>
  runCliInProcess(
    [
      'chat',
      QUESTION,
      '--backend',
      'openai',
      '--base-url',
      at(kind).baseUrl,
      '--model',
      'stub-model',
      ...extra,
    ],
    { env: ENV },
  );

/** Each kind's fields: stage 1 (constraint) and stage 2 (continuation, thinking switch, constraint). */
const STAGE1_FIELDS: Record<(typeof KINDS)[number], Record<string, unknown>> = {
  vllm: { structured_outputs: { regex: buildRegex(DEFAULT_SPEC, { endAt: 'payoff' }) } },
  sglang: { regex: buildRegex(DEFAULT_SPEC, { endAt: 'payoff' }) },
  llamacpp: { grammar: buildGbnf(DEFAULT_SPEC, { endAt: 'payoff' }) },
  ollama: {},
};
const STAGE2_FIELDS: Record<(typeof KINDS)[number], Record<string, unknown>> = {
  vllm: {
    continue_final_message: true,
    add_generation_prompt: false,
    chat_template_kwargs: { enable_thinking: false },
    structured_outputs: { regex: buildRegex(DEFAULT_SPEC, { startAt: 'analyze' }) },
  },
  sglang: {
    continue_final_message: true,
    add_generation_prompt: false,
    chat_template_kwargs: { enable_thinking: false },
    regex: buildRegex(DEFAULT_SPEC, { startAt: 'analyze' }),
  },
  llamacpp: {
    chat_template_kwargs: { enable_thinking: false },
    grammar: buildGbnf(DEFAULT_SPEC, { startAt: 'analyze' }),
  },
  ollama: {},
};
const REASONS: Record<(typeof KINDS)[number], RegExp> = {
  vllm: /GET \/metrics has vllm: metrics; GET \/version answered \{"version": "0\.11\.0"\}/,
  sglang: /GET \/get_server_info answered with internal_states and model_path/,
  llamacpp: /GET \/props answered with default_generation_settings and build_info/,
  ollama: /GET \/api\/version answered \{"version": "0\.12\.3"\}/,
};

/** The stage-1 text with the payoff block's content replaced as gtalign renders an edited matrix. */
function steeredPrefix(): string {
  const block = extractBlocks(STAGE1).blocks.payoff!;
  return replacePayoffContent(
    STAGE1,
    block.contentStart,
    block.contentEnd,
    renderMatrix(PAPER_API_MATRIX, DEFAULT_SPEC),
  );
}

interface ChatJson {
  cell: string;
  action: string;
  response: string;
  trace: { continuation: string; continuationReason: string; notes: string[] };
  backend: {
    kind: string;
    vendor: string;
    vendorSource: string;
    line: string;
    detection?: { reason: string };
  };
}

describe('gtalign chat with no --vendor: detection, then the steering example in continue mode', () => {
  for (const kind of KINDS) {
    for (const [policy, cell] of [
      ['none', 'VQ_CQ'],
      ['paper-api', 'DQ_DA'],
    ] as const) {
      it(`${kind}-style server, policy ${policy} → ${cell}, with the exact request bodies`, async () => {
        const server = at(kind);
        const r = await chat(kind, '--continuation', 'continue', '--policy', policy, '--json');
        expect(r.stderr).toBe('');
        expect(r.code).toBe(0);
        const out = JSON.parse(r.stdout) as ChatJson;
        expect(out.cell).toBe(cell);
        expect(out.response).toBe(RESPONSES[cell.slice(3)]);
        expect(out.trace.continuation).toBe('continue');
        expect(out.backend).toMatchObject({ kind: 'openai', vendor: kind, vendorSource: 'detected' });
        expect(out.backend.line).toMatch(
          new RegExp(`^backend: detected ${kind} at ${server.baseUrl.replace(/[./]/g, '\\$&')} \\(`),
        );
        expect(out.backend.line).toMatch(REASONS[kind]);
        // One probe of each native endpoint, all before the first chat request.
        expect(server.probes.map((p) => p.path).sort()).toEqual([
          '/api/version',
          '/get_server_info',
          '/metrics',
          '/props',
          '/server_info',
          '/version',
        ]);

        const [first, second] = server.upstream.requests.map((q) => q.body as StubRequestBody);
        expect(server.upstream.requests).toHaveLength(2);
        const messages = first!.messages as Array<{ role: string; content: string }>;
        expect(messages.at(-1)).toMatchObject({ role: 'user' });
        expect(messages.at(-1)!.content).toContain(QUESTION);
        expect(first).toEqual({
          model: 'stub-model',
          messages,
          max_tokens: 1024,
          stop: ['</payoff>'],
          stream: false,
          ...STAGE1_FIELDS[kind],
        });
        const prefix = policy === 'none' ? STAGE1 : steeredPrefix();
        expect(second).toEqual({
          model: 'stub-model',
          messages: [...messages, { role: 'assistant', content: prefix }],
          max_tokens: 1024,
          stop: ['</response>'],
          stream: false,
          ...STAGE2_FIELDS[kind],
        });
        // The prefix carries the matrix the policy made.
        const shown = extractBlocks(prefix).blocks.payoff!.content;
        const parsed = parsePayoff(shown);
        expect(parsed.ok && parsed.matrix).toEqual(policy === 'none' ? MATRIX : PAPER_API_MATRIX);
      });
    }
  }

  it('prints the detection as the first line of --trace, and streams stage 2', async () => {
    const server = at('llamacpp');
    const r = await chat('llamacpp', '--continuation', 'continue', '--trace');
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n')[0]).toBe(
      `backend: detected llamacpp at ${server.baseUrl} (GET /props answered with default_generation_settings and build_info)`,
    );
    expect(r.stdout).toContain(RESPONSES.CQ);
    expect(server.upstream.requests[1]!.body).toMatchObject({
      stream: true,
      chat_template_kwargs: { enable_thinking: false },
    });
  });

  it('an explicit --vendor makes no probe request, and says so', async () => {
    const server = at('vllm');
    const r = await chat('vllm', '--vendor', 'vllm', '--continuation', 'continue', '--json');
    expect(r.code).toBe(0);
    expect(server.probes).toEqual([]);
    const out = JSON.parse(r.stdout) as ChatJson;
    expect(out.backend).toMatchObject({ vendor: 'vllm', vendorSource: 'given' });
    expect(out.backend.line).toBe(`backend: vllm at ${server.baseUrl} (given with --vendor, not probed)`);
    expect(out.cell).toBe('VQ_CQ');
  });

  it('a generic server: auto re-asks and the trace says why; continue is refused with the reason', async () => {
    const server = at('generic');
    const r = await chat('generic', '--json');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as ChatJson;
    expect(out.backend).toMatchObject({ vendor: 'openai', vendorSource: 'detected' });
    expect(out.trace.continuation).toBe('reask');
    expect(out.trace.continuationReason).toMatch(
      /^auto: openai:stub-model cannot continue an assistant turn \(detected openai at .* \(no probe answered as vLLM, SGLang, llama\.cpp or Ollama do: taken as a generic OpenAI-compatible server/,
    );
    expect(out.trace.notes.join('\n')).toMatch(/so stage 2 re-asks the question/);
    expect(server.upstream.requests).toHaveLength(2);
    expect(server.upstream.requests[1]!.body).not.toHaveProperty('continue_final_message');

    const refused = await chat('generic', '--continuation', 'continue');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(
      /openai:stub-model cannot continue an assistant turn \(detected openai at /,
    );
  });
});

describe.skipIf(!HAVE_DATA)('gtalign eval run with no --vendor', () => {
  it("records the detected backend (and the judge's) in config.json", { timeout: 60_000 }, async () => {
    const judge = await startVendorServer('sglang', () => ({ content: '<abg>1</abg>' }));
    try {
      const out = join(dir, 'run');
      const r = await runCliInProcess(
        [
          'eval',
          'run',
          '--data',
          shippedPath('ambig_qa', 'test'),
          '--limit',
          '1',
          '--out',
          out,
          '--backend',
          'openai',
          '--base-url',
          at('ollama').baseUrl,
          '--model',
          'stub-model',
          '--judge-url',
          judge.baseUrl,
          '--judge-model',
          'stub-judge',
          '--no-cache',
        ],
        { env: ENV },
      );
      expect(r.code, r.stderr).toBe(0);
      const config = JSON.parse(await readFile(join(out, 'config.json'), 'utf8')) as {
        backend: { vendor: string; vendorSource: string; detection: { reason: string; probes: unknown[] } };
        judge: { vendor: string; detection: string };
      };
      expect(config.backend).toMatchObject({ kind: 'openai', vendor: 'ollama', vendorSource: 'detected' });
      expect(config.backend.detection.reason).toMatch(REASONS.ollama);
      expect(config.backend.detection.probes).toHaveLength(6);
      expect(config.judge).toMatchObject({ kind: 'live', vendor: 'sglang' });
      expect(config.judge.detection).toMatch(REASONS.sglang);
    } finally {
      await judge.close();
    }
  });
});
