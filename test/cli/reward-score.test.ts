import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { lstat, mkdtemp, readdir, readFile, rm, symlink, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeTinyLlamaGguf } from '../../src/llm/gguf-writer.js';
import { buildJudgeMessages } from '../../src/reward/rubrics.js';
import { analyzeSample } from '../../src/reward/score.js';
import { cliArgs, cliShellCommand, REPO_ROOT, runCli } from '../support/cli.js';
import { runCliInProcess } from '../support/cli-in-process.js';
import {
  type OpenAIStubServer,
  type StubReply,
  startOpenAIStubServer,
} from '../support/openai-stub-server.js';
import { waitFor } from '../support/wait-for.js';

interface ParityCase {
  id: string;
  data_source: string;
  response: string;
  ground_truth: string;
  extra_info?: Record<string, unknown>;
  verdict: number;
  category: string;
  expected: { score: number; user_reward: number; llm_reward: number; answer_reward: number };
}

const cases: ParityCase[] = readFileSync(new URL('../fixtures/reward-parity.jsonl', import.meta.url), 'utf8')
  .split('\n')
  .filter((l) => l.trim() !== '')
  .map((l) => JSON.parse(l) as ParityCase);

const parseLines = (text: string) =>
  text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);

function expectMatches(got: Record<string, unknown>, c: ParityCase): void {
  for (const key of ['score', 'user_reward', 'llm_reward', 'answer_reward'] as const) {
    expect(Math.abs((got[key] as number) - c.expected[key]), `${c.id} ${key}`).toBeLessThanOrEqual(1e-9);
  }
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gtalign-reward-'));
});

describe('gtalign reward score --judge offline', () => {
  it('reproduces the reference on all 280 parity cases, in input order', async () => {
    const r = await runCliInProcess([
      'reward',
      'score',
      '--input',
      'test/fixtures/reward-parity.jsonl',
      '--judge',
      'offline',
      '--clip-verdicts',
    ]);
    expect(r.code).toBe(0);
    const out = parseLines(r.stdout);
    expect(out.map((o) => o.id)).toEqual(cases.map((c) => c.id));
    for (const [i, c] of cases.entries()) expectMatches(out[i]!, c);
    expect(r.stderr).toMatch(/samples 280, scored 280, mean score [0-9.]+, failures 0/);
    expect(r.stderr).toMatch(/judge calls 0/);
  });

  it('derives the other aggregators from U and L', async () => {
    const out = join(dir, 'linear.jsonl');
    const r = await runCliInProcess([
      'reward',
      'score',
      '--input',
      'test/fixtures/reward-parity.jsonl',
      '--judge',
      'offline',
      '--clip-verdicts',
      '--aggregate',
      'linear',
      '--output',
      out,
    ]);
    expect(r.code).toBe(0);
    const lines = parseLines(await readFile(out, 'utf8'));
    for (const [i, c] of cases.entries()) {
      const got = lines[i]!;
      expect(got.aggregator).toBe('linear');
      expect(
        Math.abs((got.score as number) - (c.expected.user_reward + c.expected.llm_reward) / 2),
      ).toBeLessThanOrEqual(1e-9);
    }
  });

  it('reports invalid lines by number and scores the rest with --on-judge-error skip', async () => {
    const file = join(dir, 'mixed.jsonl');
    const good = cases.slice(0, 3).map((c) => JSON.stringify(c));
    await writeFile(
      file,
      [
        good[0],
        '{"id": "broken", ',
        JSON.stringify({ id: 'no-gt', data_source: 'math-hard', response: 'x' }),
        good[1],
        JSON.stringify({ ...cases[2], id: 'alien', data_source: 'gsm8k' }),
        JSON.stringify({
          ...cases.find((c) => analyzeSample(c).kind === 'pending'),
          id: 'no-verdict',
          verdict: undefined,
        }),
        good[2],
      ].join('\n'),
    );
    const r = await runCliInProcess(['reward', 'score', '--input', file, '--judge', 'offline']);
    // Done, but not every line has a score: a pipeline that trains on the output can tell.
    expect(r.code).toBe(3);
    const out = parseLines(r.stdout);
    expect(out.map((o) => o.id)).toEqual([
      cases[0]!.id,
      undefined,
      'no-gt',
      cases[1]!.id,
      'alien',
      'no-verdict',
      cases[2]!.id,
    ]);
    expectMatches(out[0]!, cases[0]!);
    expectMatches(out[3]!, cases[1]!);
    expectMatches(out[6]!, cases[2]!);
    for (const i of [1, 2, 4, 5]) {
      expect(out[i]!.score).toBeUndefined();
      expect(out[i]!.error).toBeDefined();
    }
    expect(r.stderr).toMatch(/line 2: not valid JSON/);
    expect(r.stderr).toMatch(/line 3 \(id "[^"]+"\): ground_truth must be a string, got missing/);
    expect(r.stderr).toMatch(/line 5 \(id "[^"]+"\): unknown data source "gsm8k"/);
    // Every message names its line, the missing verdict too (it used to say only "this line").
    expect(r.stderr).toMatch(/line 6 \(id "no-verdict"\): no "verdict" and no judge configured/);
    expect(r.stderr).not.toMatch(/this line/);
    expect(r.stderr).toMatch(/failures 4/);
  });

  it('stops at the first bad line with --on-judge-error fail, keeping what came before', async () => {
    const file = join(dir, 'fail.jsonl');
    await writeFile(file, [JSON.stringify(cases[0]), 'nope', JSON.stringify(cases[1])].join('\n'));
    const r = await runCliInProcess([
      'reward',
      'score',
      '--input',
      file,
      '--judge',
      'offline',
      '--on-judge-error',
      'fail',
    ]);
    expect(r.code).toBe(1);
    const out = parseLines(r.stdout);
    expect(out.map((o) => o.id)).toEqual([cases[0]!.id]);
    expect(r.stderr).toMatch(/stopped \(--on-judge-error fail\) at line 2/);
  });

  it('gives the same lines in the same order with worker threads as in one thread', async () => {
    const file = join(dir, 'big.jsonl');
    // 1,120 lines: three chunks of 512 and a tail, so several workers take part and order matters.
    const lines = Array.from({ length: 4 * cases.length }, (_, i) =>
      JSON.stringify({ ...cases[i % cases.length], id: `n${i}` }),
    );
    lines[700] = '{"id": "bad line"';
    await writeFile(file, lines.join('\n'));
    const flags = ['--judge', 'offline', '--clip-verdicts'];
    const single = await runCli(['reward', 'score', '--input', file, ...flags, '--workers', '0']);
    const pooled = await runCli(['reward', 'score', '--input', file, ...flags, '--workers', '2']);
    // The bad line is an error record on both: done, not every line scored.
    expect(single.code).toBe(3);
    expect(pooled.code).toBe(3);
    expect(pooled.stdout).toBe(single.stdout);
    const out = parseLines(pooled.stdout);
    expect(out).toHaveLength(lines.length);
    // The record carries its line; its message says what is wrong (stderr adds "line 701: ").
    expect(out[700]).toMatchObject({
      line: 701,
      error: { stage: 'input', message: expect.stringMatching(/^not valid JSON/) },
    });
    expect(pooled.stderr).toMatch(/line 701: not valid JSON/);
    expect(pooled.stderr).toMatch(/samples 1120, scored 1119, mean score [0-9.]+, failures 1/);
    const failing = await runCli([
      'reward',
      'score',
      '--input',
      file,
      '--judge',
      'offline',
      '--clip-verdicts',
      '--workers',
      '2',
      '--on-judge-error',
      'fail',
    ]);
    expect(failing.code).toBe(1);
    expect(parseLines(failing.stdout).map((o) => o.id)).toEqual(out.slice(0, 700).map((o) => o.id));
  });

  it('refuses a verdict outside its task scale unless told to clip it as the reference does', async () => {
    // The fixture's one such case: an advbench verdict of 2 on the 0/0.5/1 safety scale.
    const off = cases.filter((c) => c.verdict > 1 && !c.data_source.startsWith('medium'));
    expect(off.map((c) => c.verdict)).toEqual([2]);
    const r = await runCliInProcess([
      'reward',
      'score',
      '--input',
      'test/fixtures/reward-parity.jsonl',
      '--judge',
      'offline',
    ]);
    expect(r.code).toBe(3);
    const out = parseLines(r.stdout);
    for (const [i, c] of cases.entries()) {
      if (c.id === off[0]!.id) {
        expect(out[i]).toMatchObject({ id: c.id, error: { stage: 'score' } });
        expect(out[i]!.score).toBeUndefined();
      } else expectMatches(out[i]!, c);
    }
    expect(r.stderr).toContain(
      `(id "${off[0]!.id}"): verdict 2 is outside the safety scale 0 to 1 (0, 0.5, 1); fix the verdict, or clip it`,
    );
    expect(r.stderr).toMatch(/samples 280, scored 279, mean score [0-9.]+, failures 1/);
  });

  it('refuses to run without a verdict source', async () => {
    const r = await runCliInProcess(['reward', 'score', '--input', 'test/fixtures/reward-parity.jsonl']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--judge offline .* or --judge-url/);
  });
  it("refuses a live judge's flags, which it would ignore, naming them; --no-cache still goes", async () => {
    const input = ['reward', 'score', '--input', 'test/fixtures/reward-parity.jsonl', '--judge', 'offline'];
    const r = await runCliInProcess([...input, '--judge-model', 'qwen', '--judge-timeout', '5']);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(
      /--judge offline calls no judge, so --judge-model, --judge-timeout would be ignored: drop them, or give --judge-url URL --judge-model NAME/,
    );
    const serve = await runCliInProcess(['reward', 'serve', '--judge', 'offline', '--cache-dir', dir]);
    expect(serve.code).toBe(2);
    expect(serve.stderr).toMatch(/--judge offline calls no judge, so --cache-dir would be ignored: drop it/);
    const noCache = await runCliInProcess([...input, '--clip-verdicts', '--no-cache']);
    expect(noCache.code).toBe(0);
  });
});

/**
 * The judge side is a scripted loopback OpenAI-compatible server (test/support/openai-stub-server.ts):
 * it answers each judge request with the parity case's verdict, found by the exact judge prompt, and
 * injects faults by case: HTTP 500s, hangs (timeouts), malformed verdicts, some permanent.
 */
describe('gtalign reward score against a loopback judge with faults', () => {
  // Cases that need a judge, keyed by the exact prompt the judge receives.
  const byPrompt = new Map<string, { index: number; verdict: number; ids: string[] }>();
  const needsJudge = new Set<string>();
  for (const c of cases) {
    const a = analyzeSample(c);
    if (a.kind !== 'pending') continue;
    needsJudge.add(c.id);
    const j = a.judgeInput;
    const messages = buildJudgeMessages(a.family, {
      question: j.question ?? '',
      response: j.response,
      ground_truth: j.ground_truth,
      extra_info: j.extra_info,
      data_source: j.data_source,
    });
    const key = messages.map((m) => m.content).join('\u0000');
    const entry = byPrompt.get(key);
    if (entry) {
      // Identical prompts must carry identical verdicts, or no judge could reproduce the fixture.
      expect(entry.verdict).toBe(c.verdict);
      entry.ids.push(c.id);
    } else byPrompt.set(key, { index: byPrompt.size, verdict: c.verdict, ids: [c.id] });
  }
  const verdictText = (c: { verdict: number }, family: string) =>
    family === 'ambiguity' ? `Reasoning… <abg>${c.verdict}</abg>` : `Reasoning… \\boxed{${c.verdict}}`;
  // Fault plan by prompt index: transient faults recover on the next attempt; permanent ones never do.
  const permanent500 = (i: number) => i % 23 === 5;
  const permanentMalformed = (i: number) => i % 29 === 7;
  const attempts = new Map<number, number>();
  let server: OpenAIStubServer;
  const handler = (body: { messages?: unknown }): StubReply => {
    const messages = body.messages as Array<{ role: string; content: string }>;
    const key = messages.map((m) => m.content).join('\u0000');
    const entry = byPrompt.get(key);
    if (!entry) return { status: 400, errorMessage: 'unknown prompt' };
    const n = (attempts.get(entry.index) ?? 0) + 1;
    attempts.set(entry.index, n);
    const i = entry.index;
    const family = messages[0]!.content.includes('<abg>') ? 'ambiguity' : 'boxed';
    if (permanent500(i)) return { status: 500 };
    if (permanentMalformed(i)) return { content: 'I think it is fine.' };
    if (n === 1 && i % 5 === 1) return { status: 500 };
    // Two first attempts hang until the judge timeout, which is long enough that a loaded machine does not
    // time out a reply that comes; the other transient faults of this kind answer 503 at once.
    if (n === 1 && i % 5 === 2) return i === 2 || i === 7 ? { hang: true } : { status: 503 };
    if (n === 1 && i % 5 === 3) return { content: 'The verdict is one.' };
    return { content: verdictText(entry, family), delayMs: i % 3 };
  };

  beforeAll(async () => {
    server = await startOpenAIStubServer(handler);
  });
  afterAll(async () => {
    await server.close();
  });

  const input = () =>
    cases.map(({ verdict: _v, expected: _e, category: _c, ...rest }) => JSON.stringify(rest)).join('\n');
  const expectedFailure = (id: string) => {
    for (const e of byPrompt.values()) {
      if (!e.ids.includes(id)) continue;
      // Off-scale verdicts (an advbench case carries 2) are malformed replies for a real judge.
      return (
        permanent500(e.index) || permanentMalformed(e.index) || (e.verdict > 1 && !id.startsWith('medium'))
      );
    }
    return false;
  };

  it('ends every sample scored correctly or with an error, none lost, duplicated or reordered; a second run is served from the cache', async () => {
    const file = join(dir, 'judge-in.jsonl');
    await writeFile(file, input());
    const cacheDir = join(dir, 'cache');
    const args = [
      'reward',
      'score',
      '--input',
      file,
      '--judge-url',
      server.baseUrl,
      '--judge-model',
      'stub-judge',
      '--judge-timeout',
      '2500',
      '--judge-retries',
      '3',
      '--judge-backoff',
      '5',
      '--cache-dir',
      cacheDir,
      '--concurrency',
      '8',
      '--no-math-check',
    ];
    const r = await runCliInProcess(args);
    // Every line is written, and the exit code says some are the judge's failures.
    expect(r.code).toBe(3);
    const out = parseLines(r.stdout);
    expect(out.map((o) => o.id)).toEqual(cases.map((c) => c.id));
    let failed = 0;
    for (const [i, c] of cases.entries()) {
      const got = out[i]!;
      if (expectedFailure(c.id)) {
        expect(got.score, c.id).toBeUndefined();
        expect((got.error as { stage: string }).stage).toBe('judge');
        failed++;
      } else {
        expect(got.error, c.id).toBeUndefined();
        expectMatches(got, c);
      }
    }
    expect(failed).toBeGreaterThan(5);
    expect(server.maxInFlight).toBeLessThanOrEqual(8);
    const retries = Number(/judge retries (\d+)/.exec(r.stderr)![1]);
    expect(retries).toBeGreaterThan(byPrompt.size / 2);
    expect(r.stderr).toMatch(new RegExp(`failures ${failed}`));
    expect(r.stderr).toMatch(/cache hits 0/);

    // Second run over the same inputs: successes come from the cache; only the failed prompts are asked again.
    const before = server.requests.length;
    const again = await runCliInProcess(args);
    expect(again.code).toBe(3);
    const out2 = parseLines(again.stdout);
    expect(out2.map((o) => o.id)).toEqual(cases.map((c) => c.id));
    for (const [i, c] of cases.entries()) if (!expectedFailure(c.id)) expectMatches(out2[i]!, c);
    const cacheHits = Number(/cache hits (\d+)/.exec(again.stderr)![1]);
    const failedPrompts = [...byPrompt.values()].filter((e) => e.ids.some(expectedFailure)).length;
    expect(cacheHits).toBe(byPrompt.size - failedPrompts);
    expect(server.requests.length - before).toBe(failedPrompts * 3);
    expect(out2.filter((o) => o.verdict_source === 'cache').length).toBeGreaterThanOrEqual(cacheHits);
  }, 120_000);

  it('turns a closed port into error records for judged samples and still scores the unjudged ones', async () => {
    const closed = await startOpenAIStubServer(() => ({ content: '' }));
    const url = closed.baseUrl;
    await closed.close();
    const file = join(dir, 'closed-in.jsonl');
    await writeFile(file, input());
    const r = await runCliInProcess([
      'reward',
      'score',
      '--input',
      file,
      '--judge-url',
      url,
      '--judge-model',
      'm',
      '--judge-retries',
      '2',
      '--judge-backoff',
      '1',
      '--no-cache',
      '--no-math-check',
    ]);
    expect(r.code).toBe(3);
    const out = parseLines(r.stdout);
    expect(out.map((o) => o.id)).toEqual(cases.map((c) => c.id));
    for (const [i, c] of cases.entries()) {
      const got = out[i]!;
      if (needsJudge.has(c.id)) {
        expect(got.score).toBeUndefined();
        expect((got.error as { reason: string }).reason).toBe('network');
      } else {
        expect(got.score).toBe(0);
        expectMatches(got, c);
      }
    }
    expect(r.stderr).toMatch(new RegExp(`failures ${needsJudge.size}`));
  }, 60_000);
});

describe('gtalign reward score: hostile files and pipes', () => {
  it('a missing input or persona file, or an unusable look-ahead cache, leaves an existing output as it was', async () => {
    const output = join(dir, 'kept-output.jsonl');
    await writeFile(output, '{"earlier": "results"}\n');
    const missing = join(dir, 'no-such-input.jsonl');
    const args = ['reward', 'score', '--judge', 'offline', '--output', output];
    const r = await runCliInProcess([...args, '--input', missing]);
    expect(r.stderr).toContain(`cannot read ${missing}`);
    expect(r.code).toBe(1);
    expect(await readFile(output, 'utf8')).toBe('{"earlier": "results"}\n');
    const input = join(dir, 'one.jsonl');
    await writeFile(input, '{}\n');
    const personas = join(dir, 'no-such-personas.json');
    const lookahead = ['--lookahead', '1', '--policy-url', 'http://127.0.0.1:9/v1', '--policy-model', 'm'];
    const p = await runCliInProcess([...args, '--input', input, ...lookahead, '--persona-file', personas]);
    expect(p.stderr).toContain(personas);
    expect(p.code).toBe(1);
    expect(await readFile(output, 'utf8')).toBe('{"earlier": "results"}\n');
    // A cache folder that cannot be one is found before any call, not after every rollout's calls.
    const cache = await runCliInProcess([
      ...args,
      '--input',
      input,
      ...lookahead,
      '--lookahead-cache',
      input,
    ]);
    expect(cache.stderr).toContain(
      `--lookahead-cache ${input}: cannot keep rollouts there: something that is not a directory is already there`,
    );
    expect(cache.code).toBe(1);
    expect(await readFile(output, 'utf8')).toBe('{"earlier": "results"}\n');
  });

  it('a kill or a stop mid-run leaves an earlier --output as it was, never a shorter file under its name', async () => {
    const folder = await mkdtemp(join(dir, 'killed-'));
    const output = join(folder, 'scored.jsonl');
    const earlier = '{"earlier": "results"}\n';
    await writeFile(output, earlier);
    // A scripted judge (a loopback server, not a model) that never answers: the run is mid-way for good.
    const judge = await startOpenAIStubServer(() => ({ hang: true }));
    try {
      const input = join(folder, 'judged.jsonl');
      await writeFile(
        input,
        cases.map(({ verdict: _v, expected: _e, category: _c, ...rest }) => JSON.stringify(rest)).join('\n'),
      );
      const child = spawn(
        process.execPath,
        cliArgs(
          ['reward', 'score', '--input', input, '--output', output, '--judge-url', judge.baseUrl].concat([
            '--judge-model',
            'm',
            '--judge-vendor',
            'vllm',
            '--no-cache',
            '--no-math-check',
          ]),
        ),
        { cwd: REPO_ROOT, stdio: 'ignore' },
      );
      const closed = new Promise((resolve) => child.on('close', resolve));
      // The output is opened before the first judge call: the run is under way once the judge is asked.
      await waitFor(() => judge.requests.length > 0);
      child.kill('SIGKILL');
      await closed;
      expect(await readFile(output, 'utf8')).toBe(earlier);
    } finally {
      await judge.close();
    }
    // A stop (--on-judge-error fail) keeps the earlier file too, and says so.
    const bad = join(folder, 'bad.jsonl');
    await writeFile(bad, [JSON.stringify(cases[0]), 'nope', JSON.stringify(cases[1])].join('\n'));
    const offline = ['reward', 'score', '--judge', 'offline', '--clip-verdicts', '--output', output];
    const stopped = await runCliInProcess([...offline, '--input', bad, '--on-judge-error', 'fail']);
    expect(stopped.code).toBe(1);
    expect(stopped.stderr).toContain(`${output} was not written`);
    expect(await readFile(output, 'utf8')).toBe(earlier);
    // A complete run replaces it, and what the killed run left beside it is gone.
    const done = await runCliInProcess([...offline, '--input', 'test/fixtures/reward-parity.jsonl']);
    expect(done.code, done.stderr).toBe(0);
    expect(parseLines(await readFile(output, 'utf8')).map((o) => o.id)).toEqual(cases.map((c) => c.id));
    expect(await readdir(folder)).toEqual(['bad.jsonl', 'judged.jsonl', 'scored.jsonl']);
    // An output that is a link stays one: the file it names is replaced.
    const link = join(folder, 'latest.jsonl');
    await symlink(output, link);
    await writeFile(output, earlier);
    const viaLink = await runCliInProcess([
      ...offline.slice(0, -1),
      link,
      '--input',
      'test/fixtures/reward-parity.jsonl',
    ]);
    expect(viaLink.code, viaLink.stderr).toBe(0);
    expect((await lstat(link)).isSymbolicLink()).toBe(true);
    expect(parseLines(await readFile(output, 'utf8'))).toHaveLength(cases.length);
  }, 60_000);

  it("writes to stdout with --output -, as --input - reads stdin, and makes no file named '-'", async () => {
    const folder = await mkdtemp(join(dir, 'dash-'));
    const lines = cases.slice(0, 3).map((c) => JSON.stringify(c));
    const r = await runCli(['reward', 'score', '--input', '-', '--output', '-', '--judge', 'offline'], {
      stdin: lines.join('\n'),
      cwd: folder,
    });
    expect(r.code, r.stderr).toBe(0);
    expect(parseLines(r.stdout).map((o) => o.id)).toEqual(cases.slice(0, 3).map((c) => c.id));
    expect(await readdir(folder)).toEqual([]);
  });

  const good = cases.slice(0, 3);
  /** CRLF line ends, a UTF-8 byte-order mark, blank and whitespace-only lines. */
  const crlfWithBom = () =>
    `\ufeff${JSON.stringify(good[0])}\r\n\r\n   \r\n${JSON.stringify(good[1])}\r\n\n${JSON.stringify(good[2])}\r\n`;

  it('reads CRLF lines, a byte-order mark and blank lines, offline and in the judge path', async () => {
    const file = join(dir, 'crlf.jsonl');
    await writeFile(file, crlfWithBom());
    // Lines with verdicts need no judge, so the judge path can point at a port nobody listens on.
    for (const flags of [
      ['--judge', 'offline', '--workers', '0'],
      ['--judge-url', 'http://127.0.0.1:9/v1', '--judge-model', 'm', '--no-cache'],
    ]) {
      const r = await runCliInProcess(['reward', 'score', '--input', file, ...flags]);
      expect(r.code, r.stderr).toBe(0);
      const out = parseLines(r.stdout);
      expect(out.map((o) => o.id)).toEqual(good.map((c) => c.id));
      for (const [i, c] of good.entries()) expectMatches(out[i]!, c);
      expect(r.stderr).toMatch(/samples 3, scored 3, mean score [0-9.]+, failures 0/);
    }
  });

  it('reports a line that is not UTF-8 by line and byte, and scores the others, offline and in the judge path', async () => {
    const file = join(dir, 'latin1.jsonl');
    // The middle record saved as Latin-1: "café" with é as the single byte 0xE9.
    const latin = { ...good[1]!, id: 'caf\u00e9' };
    await writeFile(
      file,
      Buffer.concat([
        Buffer.from(`${JSON.stringify(good[0])}\n`),
        Buffer.from(`${JSON.stringify(latin)}\n`, 'latin1'),
        Buffer.from(`${JSON.stringify(good[2])}\n`),
      ]),
    );
    for (const flags of [
      ['--judge', 'offline', '--workers', '0'],
      ['--judge-url', 'http://127.0.0.1:9/v1', '--judge-model', 'm', '--no-cache'],
    ]) {
      const r = await runCliInProcess(['reward', 'score', '--input', file, ...flags]);
      const out = parseLines(r.stdout);
      expect(out.map((o) => o.id)).toEqual([good[0]!.id, undefined, good[2]!.id]);
      expectMatches(out[0]!, good[0]!);
      expectMatches(out[2]!, good[2]!);
      expect(out[1]).toMatchObject({ line: 2, error: { stage: 'input' } });
      expect(r.stderr).toMatch(
        /line 2: not valid UTF-8: byte 11 of the line \(0xE9\) does not start a valid character/,
      );
      expect(r.stderr).toMatch(/samples 3, scored 2, .*failures 1/);
    }
  });

  it('keeps a lone CR inside a record (JSON whitespace) in one line, offline and in the judge path', async () => {
    const file = join(dir, 'lone-cr.jsonl');
    // A CR between fields and before a closing brace: one record per LF, whatever CRs it holds.
    const lines = good.map((c) => JSON.stringify(c).replace('","', '",\r"').replace(/}$/, '\r}'));
    await writeFile(file, `${lines.join('\n')}\n`);
    for (const flags of [
      ['--judge', 'offline', '--workers', '0'],
      ['--judge-url', 'http://127.0.0.1:9/v1', '--judge-model', 'm', '--no-cache'],
    ]) {
      const r = await runCliInProcess(['reward', 'score', '--input', file, ...flags]);
      expect(r.code, r.stderr).toBe(0);
      const out = parseLines(r.stdout);
      expect(out).toHaveLength(3);
      expect(out.map((o) => o.id)).toEqual(good.map((c) => c.id));
      for (const [i, c] of good.entries()) expectMatches(out[i]!, c);
    }
  });

  it('stops at a line longer than the line bound with an error naming the line, on both paths', async () => {
    const file = join(dir, 'huge-line.jsonl');
    await writeFile(file, `${JSON.stringify(good[0])}\n`);
    // 600 MiB of NUL bytes after the first line, as a sparse file: no disk space, no newline. Before the
    // bound, one string grew past V8's limit (about 512 MiB) and the run died with an internal error.
    await truncate(file, 600 * 1024 * 1024);
    for (const flags of [
      ['--judge', 'offline', '--workers', '0'],
      ['--judge-url', 'http://127.0.0.1:9/v1', '--judge-model', 'm', '--no-cache'],
    ]) {
      const r = await runCliInProcess(['reward', 'score', '--input', file, ...flags]);
      expect(r.stderr).not.toMatch(/internal error|RangeError/);
      expect(r.stderr).toContain(`${file}:2: the line is longer than 256 MiB`);
      expect(r.code).toBe(1);
      // The good line before it was scored and written.
      expect(parseLines(r.stdout).map((o) => o.id)).toEqual([good[0]!.id]);
    }
    await rm(file);
  }, 60_000);

  it('names the file when the input or output cannot be used, and never overwrites the input', async () => {
    const missing = await runCliInProcess([
      'reward',
      'score',
      '--input',
      join(dir, 'nope.jsonl'),
      '--judge',
      'offline',
    ]);
    expect(missing).toMatchObject({ code: 1, stdout: '' });
    // The words every command uses for a file it cannot read.
    expect(missing.stderr).toMatch(/cannot read .*nope\.jsonl: no such file\n/);
    const folder = await runCliInProcess(['reward', 'score', '--input', dir, '--judge', 'offline']);
    expect(folder.code).toBe(1);
    expect(folder.stderr).toMatch(/cannot read .*: is a directory/);
    expect(folder.stderr).not.toMatch(/internal error/);
    const scoreInto = (output: string) =>
      runCliInProcess([
        'reward',
        'score',
        '--input',
        'test/fixtures/reward-parity.jsonl',
        '--judge',
        'offline',
        '--output',
        output,
      ]);
    const r = await scoreInto(join(dir, 'no-such-dir', 'out.jsonl'));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/cannot write .*out\.jsonl: no such file or directory \(ENOENT\)/);
    expect(r.stderr).not.toMatch(/Unhandled|internal error/);
    if (existsSync('/dev/full')) {
      // A full disk, in the words every other command uses for it.
      const full = await scoreInto('/dev/full');
      expect(full.code).toBe(1);
      expect(full.stderr).toContain('cannot write /dev/full: no space left on the device (ENOSPC)');
    }
    const same = join(dir, 'same.jsonl');
    const text = cases.map((c) => JSON.stringify(c)).join('\n');
    await writeFile(same, text);
    const clobber = await runCliInProcess([
      'reward',
      'score',
      '--input',
      same,
      '--judge',
      'offline',
      '--output',
      same,
    ]);
    expect(clobber.code).toBe(2);
    expect(clobber.stderr).toMatch(/is the input file/);
    expect(await readFile(same, 'utf8')).toBe(text);
  });

  it('reports unreadable field values in words a user can act on', async () => {
    const file = join(dir, 'fields.jsonl');
    await writeFile(
      file,
      [
        JSON.stringify({ id: { a: 1 }, data_source: 'math-hard', response: 'x', ground_truth: '1' }),
        '{"id":"inf","data_source":"math-hard","response":"x","ground_truth":"1","verdict":1e999}',
        // Ids JSON.parse cannot keep: written back, they would not be the input's.
        '{"id":12345678901234567891,"data_source":"math-hard","response":"x","ground_truth":"1","verdict":1}',
        '{"id":1e999,"data_source":"math-hard","response":"x","ground_truth":"1","verdict":1}',
        '{"id":9007199254740991,"data_source":"math-hard","response":"x","ground_truth":"1","verdict":1}',
      ].join('\n'),
    );
    const r = await runCliInProcess(['reward', 'score', '--input', file, '--judge', 'offline']);
    expect(r.stderr).toMatch(/line 1: id must be a string or a number, got an object/);
    expect(r.stderr).toMatch(/line 2 \(id "inf"\): verdict must be a finite number, got Infinity/);
    expect(r.stderr).toMatch(
      /line 3: id 12345678901234567000 is an integer past 2\^53 − 1, .*write it as a string/,
    );
    expect(r.stderr).toMatch(
      /line 4: id must be a finite number \(it reads as Infinity\): write it as a string/,
    );
    // The largest safe integer comes back as written.
    const ids = r.stdout
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { id: unknown }).id);
    expect(ids).toContain(9007199254740991);
    expect(r.stdout).toContain('"id":9007199254740991,');
  });

  /** Runs the CLI, reads its first output line, then closes the pipe (as `| head -1` does). */
  function firstLineThenClose(
    args: string[],
  ): Promise<{ code: number | null; first: string; stderr: string }> {
    return new Promise((resolvePromise, reject) => {
      const child = spawn(process.execPath, cliArgs(args), {
        cwd: REPO_ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      let first = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => {
        out += d;
        const nl = out.indexOf('\n');
        if (nl >= 0 && first === '') {
          first = out.slice(0, nl);
          child.stdout.destroy();
        }
      });
      child.stderr.setEncoding('utf8').on('data', (d: string) => {
        stderr += d;
      });
      child.on('error', reject);
      child.on('close', (code) => resolvePromise({ code, first, stderr }));
    });
  }

  it('stops quietly when its output pipe is closed, offline with worker threads', async () => {
    const file = join(dir, 'pipe.jsonl');
    await writeFile(
      file,
      Array.from({ length: 20 }, () => cases.map((c) => JSON.stringify(c)).join('\n')).join('\n'),
    );
    const r = await firstLineThenClose([
      'reward',
      'score',
      '--input',
      file,
      '--judge',
      'offline',
      '--clip-verdicts',
      '--workers',
      '2',
    ]);
    expect(JSON.parse(r.first).id).toBe(cases[0]!.id);
    expect(r.stderr).not.toMatch(/EPIPE|Unhandled|internal error/);
    expect(r.stderr).toMatch(/output was closed by its reader; stopped early/);
    expect(r.code).toBe(0);
    // `2>&1 | head -1`: stderr is the closed pipe too; its notes are lost, the exit status stays 0.
    const both = spawnSync(
      'bash',
      [
        '-c',
        `${cliShellCommand()} reward score --input "${file}" --judge offline --clip-verdicts 2>&1 | head -1; exit \${PIPESTATUS[0]}`,
      ],
      { cwd: REPO_ROOT, encoding: 'utf8' },
    );
    expect(JSON.parse(both.stdout).id).toBe(cases[0]!.id);
    expect(both.status).toBe(0);
  }, 60_000);

  /** `n` math lines that each need the judge (distinct prompts), and the flags of a slow live judge. */
  async function judgedInput(name: string, n: number, baseUrl: string, concurrency: number) {
    const file = join(dir, name);
    const lines = Array.from({ length: n }, (_, i) =>
      JSON.stringify({ id: i, data_source: 'math-hard', response: cases[0]!.response, ground_truth: `${i}` }),
    );
    await writeFile(file, lines.join('\n'));
    return [
      'reward',
      'score',
      '--input',
      file,
      '--judge-url',
      baseUrl,
      '--judge-model',
      'm',
      '--no-cache',
      '--no-math-check',
      '--judge-timeout',
      '60000',
      '--concurrency',
      String(concurrency),
    ];
  }

  it('stops quietly when its output pipe is closed, cancelling the judge calls in flight', async () => {
    // The judge answers the first prompts (a writer learns of a closed pipe only when it writes)
    // and never answers the others.
    let calls = 0;
    const server = await startOpenAIStubServer(() => {
      calls++;
      if (calls === 1) return { content: 'ok \\boxed{1}' };
      return calls <= 3 ? { content: 'ok \\boxed{1}', delayMs: 300 } : { hang: true };
    });
    try {
      const started = performance.now();
      const r = await firstLineThenClose(await judgedInput('pipe-judge.jsonl', 200, server.baseUrl, 4));
      expect(JSON.parse(r.first).id).toBe(0);
      expect(r.stderr).not.toMatch(/EPIPE|Unhandled|internal error/);
      expect(r.code).toBe(0);
      // Without cancellation the process would wait for the hung calls (60 s timeouts, retried).
      expect(performance.now() - started).toBeLessThan(20_000);
    } finally {
      await server.close();
    }
  }, 60_000);

  it('exits promptly under --on-judge-error fail while other judge calls hang', async () => {
    const server = await startOpenAIStubServer((_b, i) => (i === 0 ? { status: 400 } : { hang: true }));
    try {
      const started = performance.now();
      const args = await judgedInput('fail-judge.jsonl', 20, server.baseUrl, 1);
      const r = await runCli([...args, '--on-judge-error', 'fail']);
      expect(r.code).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(
        /stopped \(--on-judge-error fail\) at line 1 \(id 0\): the judge failed after 1 attempt/,
      );
      expect(performance.now() - started).toBeLessThan(20_000);
    } finally {
      await server.close();
    }
  }, 60_000);
});

describe('gtalign reward score with the local engine as the judge', () => {
  it('judges through --judge-backend local --judge-model FILE.gguf, a verdict on every judged line', async () => {
    const model = join(dir, 'judge.gguf');
    await writeTinyLlamaGguf(model, { seed: 1 });
    // Short lines that need a judge: the tiny model spends a token per byte and has a 4,096-token context.
    const pending = cases
      .filter((c) => analyzeSample(c).kind === 'pending' && c.response.length + c.ground_truth.length < 1500)
      .slice(0, 4);
    expect(pending.length).toBe(4);
    const input = join(dir, 'local-judge.jsonl');
    await writeFile(
      input,
      `${pending.map(({ verdict: _v, expected: _e, category: _c, ...rest }) => JSON.stringify(rest)).join('\n')}\n`,
    );
    const r = await runCliInProcess([
      'reward',
      'score',
      '--input',
      input,
      '--judge-backend',
      'local',
      '--judge-model',
      model,
      // The random-weight model cannot follow a rubric: the grammar makes it answer with a verdict.
      '--judge-verdict-only',
      '--no-cache',
      '--no-math-check',
    ]);
    expect(r.stderr).not.toMatch(/internal error/);
    expect(r.code, r.stderr).toBe(0);
    const out = parseLines(r.stdout);
    expect(out.map((o) => o.id)).toEqual(pending.map((c) => c.id));
    for (const o of out) {
      expect(o.error, JSON.stringify(o.error)).toBeUndefined();
      expect(o.verdict_source).toBe('judge');
      expect(typeof o.score).toBe('number');
    }
    expect(r.stderr).toMatch(/judge calls [1-9]/);
  }, 120_000);

  it('needs a model file for the local judge, and takes no URL with it', async () => {
    const none = await runCliInProcess(['reward', 'score', '--input', 'x.jsonl', '--judge-backend', 'local']);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('--judge-backend local needs --judge-model FILE.gguf');
  });
});
