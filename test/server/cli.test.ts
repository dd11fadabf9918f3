/**
 * The real commands, as processes: `gtalign serve` in front of a loopback upstream (its model name found
 * through the upstream's /v1/models) and `gtalign reward serve --judge offline`; both print where they
 * listen, answer, and stop cleanly on SIGTERM; two `gtalign serve` processes sharing a response folder stream
 * and cancel each other's background runs. Unsafe setups are refused before anything listens.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliArgs, REPO_ROOT, runCli } from '../support/cli.js';
import { type OpenAIStubServer, startOpenAIStubServer } from '../support/openai-stub-server.js';
import { dinosaurScript, QUESTION, RESPONSES } from './scripted-upstream.js';

interface Started {
  child: ChildProcessWithoutNullStreams;
  url: string;
  stderr: () => string;
  stdout: () => string;
  exit: Promise<number | null>;
}

function start(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Started> {
  const child = spawn(process.execPath, cliArgs(args), {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env },
  });
  let stderr = '';
  let stdout = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    stdout += d;
  });
  const exit = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
      const m = /listening on (http:\/\/[\d.:]+)/.exec(stderr);
      if (m) resolve({ child, url: m[1]!, stderr: () => stderr, stdout: () => stdout, exit });
    });
    void exit.then((code) => reject(new Error(`exited with ${code} before listening: ${stderr}`)));
  });
}

let upstream: OpenAIStubServer;
beforeAll(async () => {
  upstream = await startOpenAIStubServer(dinosaurScript(), { model: 'qwen-dino' });
});
afterAll(async () => {
  await upstream.close();
});

describe('gtalign serve', () => {
  it('serves an upstream under a policy, with keys from the environment, and stops on SIGTERM', async () => {
    const accessLog = join(mkdtempSync(join(tmpdir(), 'gtalign-serve-log-')), 'access.log');
    const s = await start(
      [
        'serve',
        '--upstream-url',
        upstream.baseUrl,
        '--vendor',
        'vllm',
        '--port',
        '0',
        '--policy',
        'paper-api',
        '--api-key-env',
        'MY_KEYS',
        '--stored-responses',
        '0',
        '--max-background',
        '0',
        '--access-log',
        accessLog,
        '--reasoning',
        'separate',
      ],
      { MY_KEYS: 'k-one,k-two' },
    );
    expect(s.stderr()).toMatch(/model openai:qwen-dino|qwen-dino/);
    expect(s.stderr()).toContain(`2 API key(s), access log ${accessLog}`);
    const ask = (key: string) =>
      fetch(`${s.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
        body: JSON.stringify({ model: 'x', messages: [{ role: 'user', content: QUESTION }] }),
      });
    expect((await ask('k-three')).status).toBe(401);
    const res = await ask('k-two');
    expect(res.status).toBe(200);
    const body = (await res.json()) as {
      choices: Array<{ message: { content: string; reasoning_content?: string } }>;
      gtalign: { action: string };
    };
    expect(body.choices[0]!.message.content).toBe(RESPONSES.DA);
    // --reasoning separate: the server's default when the request does not say.
    expect(body.choices[0]!.message.reasoning_content).toMatch(/^The user asks when dinosaurs.*\n\n.*DQ_DA/s);
    expect(body.gtalign.action).toBe('DA');
    // The served model name was found through the upstream's /v1/models.
    expect(upstream.requests.at(-1)!.body!.model).toBe('qwen-dino');
    // --stored-responses 0: no response is kept for previous_response_id.
    const respond = (body: Record<string, unknown>) =>
      fetch(`${s.url}/v1/responses`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: 'Bearer k-one' },
        body: JSON.stringify({ model: 'x', ...body }),
      });
    const first = await respond({ input: QUESTION });
    expect(first.status).toBe(200);
    const { id } = (await first.json()) as { id: string };
    const next = await respond({ input: 'And then?', previous_response_id: id });
    expect(next.status).toBe(404);
    expect(((await next.json()) as { error: { code: string } }).error.code).toBe(
      'previous_response_not_found',
    );
    // --max-background 0: no background response runs.
    const background = await respond({ input: QUESTION, background: true });
    expect(background.status).toBe(429);
    expect(((await background.json()) as { error: { message: string } }).error.message).toContain(
      'at most 0 background responses',
    );
    s.child.kill('SIGTERM');
    expect(await s.exit).toBe(0);
    // --access-log: a line per request, written out by the time the process has exited.
    const logged = readFileSync(accessLog, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { status: number; turn?: { policy: string; action: string } });
    expect(logged.map((l) => l.status)).toEqual([401, 200, 200, 404, 429]);
    expect(logged[1]!.turn).toMatchObject({ policy: 'paper-api', action: 'DA' });
    expect(readFileSync(accessLog, 'utf8')).not.toContain('k-two');
    rmSync(dirname(accessLog), { recursive: true, force: true });
  });

  it('keeps responses in --stored-responses-dir across a restart: retrieved and continued by the next process', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gtalign-serve-responses-'));
    try {
      const args = ['serve', '--upstream-url', upstream.baseUrl, '--vendor', 'vllm', '--port', '0'];
      const first = await start([...args, '--stored-responses-dir', dir]);
      const created = await fetch(`${first.url}/v1/responses`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'x', input: 'Which dinosaur came first?' }),
      });
      expect(created.status).toBe(200);
      const body = await created.text();
      const { id } = JSON.parse(body) as { id: string };
      // A conversation object, and one exchange in it.
      const post = (path: string, payload: unknown) =>
        fetch(`${first.url}${path}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(payload),
        });
      const conv = (await (
        await post('/v1/conversations', { items: [{ role: 'user', content: 'Hello.' }] })
      ).json()) as {
        id: string;
      };
      expect(
        (await post('/v1/responses', { model: 'x', input: QUESTION, conversation: conv.id })).status,
      ).toBe(200);
      first.child.kill('SIGTERM');
      expect(await first.exit).toBe(0);
      // The two responses and the conversation, one file each.
      const files = readdirSync(dir);
      expect(files).toHaveLength(3);
      expect(files).toEqual(expect.arrayContaining([`${conv.id}.jsonl`, `${id}.json`]));

      const second = await start([...args, '--stored-responses-dir', dir]);
      const got = await fetch(`${second.url}/v1/responses/${id}`);
      expect(got.status).toBe(200);
      expect(await got.text()).toBe(body);
      upstream.requests.length = 0;
      const next = await fetch(`${second.url}/v1/responses`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'x', input: QUESTION, previous_response_id: id }),
      });
      expect(next.status).toBe(200);
      expect(JSON.stringify(upstream.requests[0]!.body!.messages)).toContain('Which dinosaur came first?');
      const items = (await (
        await fetch(`${second.url}/v1/conversations/${conv.id}/items?order=asc`)
      ).json()) as {
        data: Array<{ role: string }>;
      };
      expect(items.data.map((i) => i.role)).toEqual(['user', 'user', 'assistant']);
      second.child.kill('SIGTERM');
      expect(await second.exit).toBe(0);

      // A folder that cannot be made is refused at start, naming the flag.
      const blocked = join(dir, `${id}.json`, 'inside');
      const refused = await runCli([...args, '--stored-responses-dir', blocked]);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain(`--stored-responses-dir ${blocked}: cannot use it`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('two processes sharing --stored-responses-dir: one streams and cancels the background runs of the other', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gtalign-serve-shared-'));
    const args = ['serve', '--upstream-url', upstream.baseUrl, '--vendor', 'vllm', '--port', '0'];
    const a = await start([...args, '--stored-responses-dir', dir]);
    const b = await start([...args, '--stored-responses-dir', dir]);
    try {
      const create = async () => {
        const res = await fetch(`${a.url}/v1/responses`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ model: 'x', input: QUESTION, background: true }),
        });
        return ((await res.json()) as { id: string }).id;
      };
      const status = async (on: Started, id: string) =>
        ((await (await fetch(`${on.url}/v1/responses/${id}`)).json()) as { status: string }).status;
      // B streams A's run from the event file A wrote: byte for byte what A streams.
      const id = await create();
      const streamed = (on: Started) =>
        fetch(`${on.url}/v1/responses/${id}?stream=true`).then((r) => r.text());
      const onB = await streamed(b);
      expect(onB).toContain('event: response.completed');
      expect(onB).toBe(await streamed(a));
      expect(await status(b, id)).toBe('completed');
      // B cancels a run A holds: A aborts the upstream call, and both answer cancelled.
      const cutBefore = upstream.cutOff;
      upstream.setHandler(() => ({ hang: true }));
      const hung = await create();
      await expect.poll(() => upstream.inFlight, { timeout: 30_000 }).toBeGreaterThan(0);
      const cancel = await fetch(`${b.url}/v1/responses/${hung}/cancel`, { method: 'POST' });
      expect(cancel.status).toBe(200);
      expect(((await cancel.json()) as { status: string }).status).toBe('cancelled');
      await expect.poll(() => upstream.cutOff, { timeout: 30_000 }).toBe(cutBefore + 1);
      expect(await status(a, hung)).toBe('cancelled');
    } finally {
      upstream.setHandler(dinosaurScript());
      a.child.kill('SIGTERM');
      b.child.kill('SIGTERM');
      expect(await a.exit).toBe(0);
      expect(await b.exit).toBe(0);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses an open interface without keys, and a key variable that is empty', async () => {
    const open = await runCli([
      'serve',
      '--upstream-url',
      upstream.baseUrl,
      '--host',
      '0.0.0.0',
      '--port',
      '0',
    ]);
    expect(open.code).toBe(2);
    expect(open.stderr).toMatch(/--api-key-env NAME, or pass --no-auth/);
    const empty = await runCli([
      'serve',
      '--upstream-url',
      upstream.baseUrl,
      '--api-key-env',
      'NOT_SET_ANYWHERE',
    ]);
    expect(empty.code).toBe(2);
    expect(empty.stderr).toMatch(/unset or empty/);
  });
});

describe('gtalign reward serve', () => {
  it('serves /get_reward with offline verdicts and stops on SIGTERM', async () => {
    const s = await start(['reward', 'serve', '--judge', 'offline', '--port', '0', '--access-log', '-']);
    const c = readFileSync(`${REPO_ROOT}/test/fixtures/reward-parity.jsonl`, 'utf8')
      .split('\n')
      .map((l) => (l.trim() === '' ? undefined : (JSON.parse(l) as Record<string, unknown>)))
      .find((x) => x !== undefined && (x.expected as { score: number }).score > 0)!;
    const res = await fetch(`${s.url}/get_reward`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        query: [`PROMPT${c.response as string}`],
        prompts: ['PROMPT'],
        labels: [
          JSON.stringify({ data_source: c.data_source, ground_truth: c.ground_truth, verdict: c.verdict }),
        ],
      }),
    });
    const body = (await res.json()) as { rewards: number[] };
    expect(body.rewards[0]).toBeCloseTo((c.expected as { score: number }).score, 12);
    s.child.kill('SIGTERM');
    expect(await s.exit).toBe(0);
    // --access-log -: the lines on stdout.
    expect(JSON.parse(s.stdout().trim())).toMatchObject({
      route: '/get_reward',
      status: 200,
      samples: 1,
      failed: 0,
    });
  });

  it('needs a verdict source', async () => {
    const r = await runCli(['reward', 'serve', '--port', '0']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--judge offline/);
  });
});
