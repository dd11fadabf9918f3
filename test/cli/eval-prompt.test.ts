/**
 * `gtalign eval run --mode assistant`: which messages stage 1 sends. By default (`--prompt row`) each row's
 * own prompt, so a checkpoint trained on the data runs on its own distribution; `--prompt gtalign` sends
 * gtalign's wording built from the row's question and history; `--prompt-from FILE` the trained layout read
 * from FILE. Against a loopback OpenAI-compatible server (a scripted stand-in that records request bodies),
 * over rows of every shipped data source, read from ../shared/data at run time (skipped when absent).
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { buildMessages } from '../../src/chain/prompt.js';
import { loadRows } from '../../src/data/load.js';
import type { DatasetRow } from '../../src/data/row.js';
import { questionOf } from '../../src/eval/run.js';
import { HAVE_DATA, SHIPPED, shippedPath } from '../data/helpers.js';
import { runCliInProcess } from '../support/cli-in-process.js';
import {
  type OpenAIStubServer,
  type StubRequestBody,
  startOpenAIStubServer,
} from '../support/openai-stub-server.js';

type Message = { role: string; content: string };

const STAGE1 =
  '<thinking>Weighing a direct answer against a question.</thinking>\n<payoff>\n' +
  '{"DQ_AQ": {"LLM": 1.0, "user": 2.5}, "DQ_CQ": {"LLM": 1.3, "user": 2.7}, "DQ_DA": {"LLM": 2.6, "user": 2.8}, ' +
  '"VQ_AQ": {"LLM": 1.4, "user": 2.3}, "VQ_CQ": {"LLM": 1.7, "user": 2.9}, "VQ_DA": {"LLM": 1.9, "user": 2.4}}' +
  '\n</payoff>';

function scripted(body: StubRequestBody) {
  const messages = body.messages as Message[];
  const stops = (body.stop as string[] | undefined) ?? [];
  const cut = (t: string) => {
    const at = stops.map((s) => t.indexOf(s)).filter((i) => i >= 0);
    return at.length > 0 ? t.slice(0, Math.min(...at)) : t;
  };
  if (messages.at(-1)!.role === 'assistant') {
    return {
      content: cut('\n<analyze>I choose DQ_DA.</analyze>\n<response>The answer, directly.</response>'),
    };
  }
  return { content: cut(STAGE1) };
}

const TEST_FILES = SHIPPED.filter((f) => f.split === 'test').map((f) => shippedPath(f.name, f.split));
const PER_SOURCE = 3;

let server: OpenAIStubServer;
let dir: string;
beforeAll(async () => {
  server = await startOpenAIStubServer(scripted);
  dir = await mkdtemp(join(tmpdir(), 'gtalign-eval-prompt-'));
});
afterAll(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
});
beforeEach(() => {
  server.requests.length = 0;
});

/** The first `n` rows of each data source, as `--limit n` selects them. */
async function firstRows(files: readonly string[], n: number): Promise<DatasetRow[]> {
  const perSource = new Map<string, number>();
  return (await loadRows(files)).filter((r) => {
    const k = perSource.get(r.data_source) ?? 0;
    perSource.set(r.data_source, k + 1);
    return k < n;
  });
}

/** The messages of every stage-1 request (the ones that stop at `</payoff>`), as sorted JSON. */
const stage1Sent = (): string[] =>
  server.requests
    .filter((r) => ((r.body?.stop as string[] | undefined) ?? []).includes('</payoff>'))
    .map((r) => JSON.stringify(r.body!.messages))
    .sort();
const sortedJson = (xs: readonly unknown[]): string[] => xs.map((x) => JSON.stringify(x)).sort();

async function evalRun(name: string, extra: string[]) {
  const out = join(dir, name);
  const r = await runCliInProcess([
    'eval',
    'run',
    '--data',
    ...TEST_FILES,
    '--limit',
    String(PER_SOURCE),
    '--out',
    out,
    '--backend',
    'openai',
    '--base-url',
    server.baseUrl,
    '--model',
    'stub-model',
    '--vendor',
    'vllm',
    '--judge',
    'offline',
    '--tokenizer',
    'approx',
    '--no-progress',
    ...extra,
  ]);
  expect(r.stderr).not.toContain('internal error');
  expect(r.code, r.stderr).toBe(0);
  const config = JSON.parse(await readFile(join(out, 'config.json'), 'utf8')) as {
    generation: { prompt: string; promptFrom: string | null };
  };
  return { config };
}

describe.skipIf(!HAVE_DATA)('gtalign eval run --mode assistant: the stage-1 prompt', () => {
  let rows: DatasetRow[];
  beforeAll(async () => {
    rows = await firstRows(TEST_FILES, PER_SOURCE);
  });

  it("sends each row's own prompt messages by default, for rows of every shipped data source", {
    timeout: 120_000,
  }, async () => {
    const sources = new Set(rows.map((r) => r.data_source));
    expect([...sources].sort()).toEqual(['ambig_qa', 'math-hard', 'medium', 'minerva', 'wildguard']);
    // Multi-turn rows are among them: their history is carried as the row carries it.
    expect(rows.some((r) => questionOf(r).history.length > 0)).toBe(true);
    const { config } = await evalRun('row', []);
    expect(stage1Sent()).toEqual(sortedJson(rows.map((r) => r.prompt)));
    expect(config.generation).toMatchObject({ prompt: 'row', promptFrom: null });
  });

  it("sends gtalign's wording with --prompt gtalign, built from each row's question and history", {
    timeout: 120_000,
  }, async () => {
    const { config } = await evalRun('gtalign', ['--prompt', 'gtalign']);
    expect(stage1Sent()).toEqual(sortedJson(rows.map((r) => buildMessages(questionOf(r)))));
    expect(config.generation).toMatchObject({ prompt: 'gtalign', promptFrom: null });
  });

  it('sends the layout of --prompt-from FILE, which for the released rows is their own prompt', {
    timeout: 120_000,
  }, async () => {
    const from = shippedPath('medium', 'test');
    const { config } = await evalRun('trained', ['--prompt-from', from]);
    expect(stage1Sent()).toEqual(sortedJson(rows.map((r) => r.prompt)));
    expect(config.generation).toMatchObject({ prompt: 'trained', promptFrom: resolve(from) });
  });

  it('refuses the prompt flags in raw mode', async () => {
    const r = await runCliInProcess([
      'eval',
      'run',
      '--data',
      TEST_FILES[0]!,
      '--out',
      join(dir, 'raw'),
      '--mode',
      'raw',
      '--prompt',
      'gtalign',
      '--backend',
      'openai',
      '--base-url',
      server.baseUrl,
      '--model',
      'stub-model',
      '--judge',
      'offline',
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--prompt goes with --mode assistant, not --mode raw/);
  });
});
