import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { TurnError } from '../../src/assistant/errors.js';
import { parsePayoff } from '../../src/chain/payoff.js';
import { chatLoop } from '../../src/cli/chat.js';
import { selectCell } from '../../src/game/select.js';
import { writeTinyLlamaGguf } from '../../src/llm/gguf-writer.js';
import { runCli } from '../support/cli.js';
import { runCliInProcess } from '../support/cli-in-process.js';
import { ggufFile } from '../support/gguf-file.js';
import {
  type OpenAIStubServer,
  type StubRequestBody,
  startOpenAIStubServer,
} from '../support/openai-stub-server.js';

const QUESTION = 'When did dinosaurs first appear?';
const STAGE1 =
  '<thinking>Probably clear; "first" could mean true dinosaurs or relatives.</thinking>\n<payoff>\n' +
  '{"DQ_DA": {"LLM": 1.6, "user": 2.8}, "DQ_CQ": {"LLM": 1.3, "user": 2.7}, "DQ_AQ": {"LLM": 1.0, "user": 2.5}, ' +
  '"VQ_DA": {"LLM": 1.9, "user": 2.4}, "VQ_CQ": {"LLM": 1.7, "user": 2.9}, "VQ_AQ": {"LLM": 1.4, "user": 2.3}}' +
  '\n</payoff>';
const REPLIES: Record<string, string> = {
  DA: 'About 230 million years ago, in the Late Triassic.',
  CQ: 'Do you mean the first true dinosaurs, or their earliest relatives?',
  AQ: 'About 230 million years ago. Want to know which came first?',
};

type Message = { role: string; content: string };

/** A scripted model: stage 1 → the paper's matrix; stage 2 → the reply for the cell the prefix's matrix selects. */
function scripted(body: StubRequestBody) {
  const messages = body.messages as Message[];
  const last = messages.at(-1)!;
  const stops = (body.stop as string[] | undefined) ?? [];
  const cut = (text: string) => {
    const at = stops.map((s) => text.indexOf(s)).filter((i) => i >= 0);
    return at.length > 0 ? text.slice(0, Math.min(...at)) : text;
  };
  if (last.role === 'assistant') {
    const p = last.content;
    const parsed = parsePayoff(p.slice(p.indexOf('<payoff>') + 8, p.indexOf('</payoff>')));
    const cell = parsed.ok ? selectCell(parsed.matrix).selected[0]! : 'VQ_CQ';
    return {
      content: cut(`\n<analyze>I choose ${cell}.</analyze>\n<response>${REPLIES[cell.slice(3)]}</response>`),
    };
  }
  if (stops.includes('</payoff>')) return { content: cut(STAGE1) };
  return { content: last.content.includes('directly') ? REPLIES.DA! : REPLIES.CQ! };
}

let server: OpenAIStubServer;
let dir: string;
beforeAll(async () => {
  server = await startOpenAIStubServer(scripted);
  dir = await mkdtemp(join(tmpdir(), 'gtalign-cli-chat-'));
});
afterAll(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
});
beforeEach(() => {
  server.requests.length = 0;
});

const openai = () => ['--backend', 'openai', '--base-url', server.baseUrl, '--model', 'stub-model'];
/** `gtalign chat QUESTION` on the llama.cpp-kind stub under the paper's API edit, with `flags`. */
const chatPaperApi = (...flags: string[]) =>
  runCliInProcess(['chat', QUESTION, ...openai(), '--vendor', 'llamacpp', '--policy', 'paper-api', ...flags]);
// No pulled model and no GTALIGN_MODEL, whatever the machine running the tests has.
const isolated = () => ({ XDG_CACHE_HOME: join(dir, 'empty-cache'), GTALIGN_MODEL: '' });

describe('gtalign chat --json against an OpenAI-compatible server', () => {
  it('prints the whole result: response, action, cell and trace', async () => {
    const r = await runCliInProcess([
      'chat',
      QUESTION,
      ...openai(),
      '--vendor',
      'vllm',
      '--policy',
      'paper-api',
      '--json',
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const result = JSON.parse(r.stdout) as Record<string, unknown> & {
      trace: {
        matrixAfter: Record<string, unknown>;
        continuation: string;
        selection: { selected: string[] };
      };
    };
    expect(result.response).toBe(REPLIES.DA);
    expect(result.action).toBe('DA');
    expect(result.cell).toBe('DQ_DA');
    expect(result.trace.continuation).toBe('continue');
    expect(result.trace.matrixAfter.DQ_DA).toEqual({ LLM: 2.6, user: 2.3 });
    expect(result.trace.selection.selected).toEqual(['DQ_DA']);
    const stage2 = server.requests[1]!.body!;
    expect(stage2.continue_final_message).toBe(true);
    expect((stage2.messages as Message[]).at(-1)!.content).toContain('"DQ_DA": {"LLM": 2.6, "user": 2.3}');
  });

  it('re-asks with --continuation reask, and without a policy asks a clarifying question', async () => {
    const r = await runCliInProcess([
      'chat',
      QUESTION,
      ...openai(),
      '--vendor',
      'vllm',
      '--continuation',
      'reask',
      '--json',
    ]);
    expect(r.code).toBe(0);
    const result = JSON.parse(r.stdout) as {
      response: string;
      action: string;
      trace: { continuation: string };
    };
    expect(result).toMatchObject({ response: REPLIES.CQ, action: 'CQ', trace: { continuation: 'reask' } });
    expect((server.requests[1]!.body!.messages as Message[]).at(-1)!.content).toBe(
      `${QUESTION}\n\nAsk exactly one clarifying question and do not answer yet.`,
    );
  });

  it('prints the response and, with --trace, the matrices, edits and choice as tables', async () => {
    const r = await chatPaperApi('--trace');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(REPLIES.DA);
    expect(r.stdout).toMatch(/cell\s+model wrote\s+edit\s+steered\s+U\+L/);
    // Payoffs read as in `game analyze`: the user's utility first (it used to print "(LLM, user)").
    expect(r.stdout).toMatch(/DQ_DA <\s+U 2\.8, L 1\.6\s+U -0\.5, L \+1\s+U 2\.3, L 2\.6\s+4\.9/);
    expect(r.stdout).toContain('DA LLM: +1 for DA (fixed edit)');
    expect(r.stdout).toContain('Selected (sum): DQ_DA');
    expect(r.stdout).toMatch(/stage2\s+\d+\s+\d+\s+\d+\s+\d+\s+gbnf/);
  });

  it('with --show-reasoning prints the thinking, then the analysis, then the response', async () => {
    const r = await chatPaperApi('--show-reasoning');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(
      'Probably clear; "first" could mean true dinosaurs or relatives.\n\nI choose DQ_DA.\n\n' +
        `${REPLIES.DA}\n`,
    );
    // Stage 1 streamed from the server, so the thinking is printed as it is written.
    expect(server.requests[0]!.body!.stream).toBe(true);
    // With --trace, the steering tables stand between the thinking and the analysis.
    const traced = await chatPaperApi('--show-reasoning', '--trace');
    const out = traced.stdout;
    const thinking = out.indexOf('Probably clear');
    const tables = out.indexOf('Selected (sum): DQ_DA');
    const analysis = out.indexOf('I choose DQ_DA.');
    const reply = out.indexOf(REPLIES.DA!);
    expect(thinking).toBeGreaterThan(0);
    expect([thinking < tables, tables < analysis, analysis < reply]).toEqual([true, true, true]);
    expect(out.slice(analysis, reply)).toBe('I choose DQ_DA.\n\n');
  });

  it('runs a session from stdin when no question is given, one JSON line per turn', async () => {
    const r = await runCli(['chat', ...openai(), '--vendor', 'vllm', '--json'], {
      stdin: `${QUESTION}\nThe first true dinosaurs.\n`,
    });
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(JSON.parse(lines[0]!)).toMatchObject({ question: QUESTION, action: 'CQ' });
    expect(JSON.parse(lines[1]!).question).toBe('The first true dinosaurs.');
    // The second turn's prompt carries the first exchange.
    const secondPrompt = (server.requests[2]!.body!.messages as Message[])[0]!.content;
    expect(secondPrompt).toContain(`User: ${QUESTION}`);
    expect(secondPrompt).toContain(`Assistant: ${REPLIES.CQ}`);
  });

  it('reports a failed turn of a session and goes on, exiting 1; with --json the failure has its line', async () => {
    let calls = 0;
    server.setHandler((body) => {
      calls++;
      return calls === 1 ? { content: '<thinking>x</thinking><payoff>{"DQ_DA": 1}' } : scripted(body);
    });
    try {
      const r = await runCliInProcess(['chat', ...openai(), '--vendor', 'ollama', '--json'], {
        stdin: `${QUESTION}\n${QUESTION}\n`,
      });
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('gave no valid payoff matrix');
      expect(r.stderr).toContain('<payoff>{\\"DQ_DA\\": 1}');
      // One line per question, in order: a script reading N lines knows which question failed.
      const lines = r.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      expect(lines).toHaveLength(2);
      expect(lines[0]).toEqual({
        question: QUESTION,
        error: { message: expect.stringContaining('gave no valid payoff matrix'), code: 'model' },
      });
      expect(lines[1]).toMatchObject({ question: QUESTION, action: 'CQ' });
    } finally {
      server.setHandler(scripted);
    }
  });

  it('rejects bad options with exit 2 and names them', async () => {
    const bad = await runCliInProcess(['chat', QUESTION, ...openai(), '--analysis', 'oracle']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--analysis must be one of model, solver');
    const noModel = await runCliInProcess([
      'chat',
      QUESTION,
      '--backend',
      'openai',
      '--base-url',
      server.baseUrl,
    ]);
    expect(noModel.code).toBe(2);
    expect(noModel.stderr).toContain('--model NAME');
    const policy = await runCliInProcess(['chat', QUESTION, ...openai(), '--policy', 'cheap']);
    expect(policy.code).toBe(1);
    expect(policy.stderr).toContain('cheap');
    // node-llama-cpp would raise a smaller context to 256 without a word.
    const small = await runCliInProcess(['chat', QUESTION, '--backend', 'local', '--context-size', '100']);
    expect(small.code).toBe(2);
    expect(small.stderr).toContain('--context-size must be an integer ≥ 256');
  });

  it('tells the user how to get a local model when there is none', async () => {
    const r = await runCliInProcess(['chat', QUESTION], { env: isolated() });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('gtalign models pull');
    expect(r.stderr).toContain('--model PATH');
    expect(r.stderr).toContain(join(dir, 'empty-cache', 'gtalign', 'models'));
  });
});

describe('gtalign chat on the local backend', () => {
  it('answers with a generated GGUF model', { timeout: 60_000 }, async () => {
    const modelPath = join(dir, 'tiny.gguf');
    await writeTinyLlamaGguf(modelPath, { seed: 1 });
    const r = await runCliInProcess(
      [
        'chat',
        QUESTION,
        '--model',
        modelPath,
        '--policy',
        'api',
        '--max-chars',
        '12',
        '--seed',
        '3',
        '--json',
      ],
      { env: isolated() },
    );
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const result = JSON.parse(r.stdout) as {
      output: string;
      trace: { formatProblems: string[]; stages: unknown[] };
    };
    expect(result.trace.formatProblems).toEqual([]);
    expect(result.trace.stages).toHaveLength(2);
  });
});

// ---------- gtalign models pull ----------

/** A whole GGUF file of about 300 kB (one tensor), as the server of these tests sends it. */
const GGUF_BYTES = ggufFile(7);

async function fileServer(
  handler: Parameters<typeof createServer>[1],
): Promise<{ url: string; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const s: Server = createServer(handler);
  s.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        s.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      }),
  };
}

describe('gtalign models pull', () => {
  it('downloads into the folder, reports progress, and leaves no temporary file', async () => {
    const files = await fileServer((req, res) => {
      if (req.url !== '/models/tiny-test.gguf') {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { 'content-length': String(GGUF_BYTES.length) });
      // Several chunks, so progress has something to report.
      for (let i = 0; i < GGUF_BYTES.length; i += 60_000) res.write(GGUF_BYTES.subarray(i, i + 60_000));
      res.end();
    });
    try {
      const target = join(dir, 'pulled');
      const r = await runCliInProcess([
        'models',
        'pull',
        '--url',
        `${files.url}/models/tiny-test.gguf`,
        '--dir',
        target,
      ]);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(`saved ${join(target, 'tiny-test.gguf')}`);
      expect(r.stderr).toContain('downloaded 100%');
      expect(await readFile(join(target, 'tiny-test.gguf'))).toEqual(GGUF_BYTES);
      expect(await readdir(target)).toEqual(['tiny-test.gguf']);

      const again = await runCliInProcess([
        'models',
        'pull',
        '--url',
        `${files.url}/models/tiny-test.gguf`,
        '--dir',
        target,
      ]);
      expect(again.code).toBe(0);
      expect(again.stdout).toContain('already there');

      // A chat finds the pulled model in the cache folder.
      const cache = join(dir, 'xdg');
      const pulled = await runCliInProcess(
        ['models', 'pull', '--url', `${files.url}/models/tiny-test.gguf`],
        {
          env: { XDG_CACHE_HOME: cache },
        },
      );
      expect(pulled.code).toBe(0);
      expect(await readdir(join(cache, 'gtalign', 'models'))).toEqual(['tiny-test.gguf']);
    } finally {
      await files.close();
    }
  });

  it('fails fast offline with the URL to fetch by hand', async () => {
    const closed = await fileServer(() => {});
    const url = `${closed.url}/model.gguf`;
    await closed.close(); // nothing listens there any more: connection refused
    const target = join(dir, 'offline');
    const started = Date.now();
    const r = await runCliInProcess(['models', 'pull', '--url', url, '--dir', target]);
    expect(r.code).toBe(1);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(r.stderr).toContain(`cannot reach ${url}`);
    expect(r.stderr).toContain(`download it by hand from ${url}`);
    expect(await readdir(target).catch(() => [])).toEqual([]);
  });

  it('gives up after the connect timeout when the server never answers', async () => {
    const silent = await fileServer(() => {});
    try {
      const started = Date.now();
      const r = await runCliInProcess([
        'models',
        'pull',
        '--url',
        `${silent.url}/m.gguf`,
        '--dir',
        join(dir, 'silent'),
        '--connect-timeout',
        '0.5',
      ]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('within 0.5 s (offline?)');
      expect(Date.now() - started).toBeLessThan(10_000);
    } finally {
      await silent.close();
    }
  });

  it('refuses what is not a GGUF file and an HTTP error, keeping nothing', async () => {
    const files = await fileServer((req, res) => {
      if (req.url === '/page.gguf')
        res.writeHead(200, { 'content-type': 'text/html' }).end('<html>login</html>');
      else res.writeHead(404).end('not found');
    });
    try {
      const target = join(dir, 'bad');
      const html = await runCliInProcess([
        'models',
        'pull',
        '--url',
        `${files.url}/page.gguf`,
        '--dir',
        target,
      ]);
      expect(html.code).toBe(1);
      expect(html.stderr).toContain('is not a GGUF file (it starts with "<htm", not "GGUF")');
      const missing = await runCliInProcess([
        'models',
        'pull',
        '--url',
        `${files.url}/nope.gguf`,
        '--dir',
        target,
      ]);
      expect(missing.code).toBe(1);
      expect(missing.stderr).toContain('HTTP 404');
      expect(await readdir(target)).toEqual([]);
    } finally {
      await files.close();
    }
  });

  it('writes nothing over an existing different file unless forced', async () => {
    const target = join(dir, 'existing');
    await rm(target, { recursive: true, force: true });
    const { mkdir } = await import('node:fs/promises');
    await mkdir(target, { recursive: true });
    const old = ggufFile(1);
    await writeFile(join(target, 'model.gguf'), old);
    const files = await fileServer((_req, res) => res.writeHead(200).end(GGUF_BYTES));
    try {
      const pull = ['models', 'pull', '--url', `${files.url}/model.gguf`, '--dir', target];
      const kept = await runCliInProcess(pull);
      expect(kept.code).toBe(0);
      expect(await readFile(join(target, 'model.gguf'))).toEqual(old);
      const forced = await runCliInProcess([...pull, '--force']);
      expect(forced.code).toBe(0);
      expect(await readFile(join(target, 'model.gguf'))).toEqual(GGUF_BYTES);
    } finally {
      await files.close();
    }
  });
});

// ---------- the interactive loop ----------

describe('chatLoop (the interactive session)', () => {
  /** A terminal-like input: bytes written to it are keys, as readline reads them from a TTY. */
  function terminal() {
    const input = new PassThrough();
    const output = new PassThrough();
    output.resume();
    return { input, output };
  }

  it('on a terminal, ctrl-c stops the reply in progress and the session goes on', async () => {
    const { input, output } = terminal();
    const asked: string[] = [];
    const reports: string[] = [];
    let started!: () => void;
    const running = new Promise<void>((resolve) => {
      started = resolve;
    });
    const done = chatLoop({
      input,
      output,
      tty: true,
      reset: () => {},
      report: (m) => reports.push(m),
      ask: (q, signal) => {
        asked.push(q);
        if (asked.length > 1) return Promise.resolve();
        started();
        // A reply that only ends when it is aborted (a long generation).
        return new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason)));
      },
    });
    input.write('When did dinosaurs first appear?\r');
    await running;
    input.write('\x03');
    input.write('And birds?\r');
    input.write('/quit\r');
    expect(await done).toBe(0);
    expect(asked).toEqual(['When did dinosaurs first appear?', 'And birds?']);
    expect(reports).toEqual(['interrupted; the turn is not kept in the conversation']);
  });

  it('on a terminal, ctrl-c at the prompt leaves the session', async () => {
    const { input, output } = terminal();
    const done = chatLoop({
      input,
      output,
      tty: true,
      reset: () => {},
      report: () => {},
      ask: async () => {},
    });
    input.write('\x03');
    expect(await done).toBe(0);
  });

  it('reads piped questions line by line, reports a failed turn and exits 1', async () => {
    const input = new PassThrough();
    const asked: string[] = [];
    const reports: string[] = [];
    let resets = 0;
    const done = chatLoop({
      input,
      tty: false,
      reset: () => {
        resets++;
      },
      report: (m) => reports.push(m),
      ask: async (q) => {
        asked.push(q);
        if (q === 'bad') throw new TurnError('payoff', 'stage 1 gave no valid payoff matrix');
      },
    });
    input.end('first\n\n  bad \n/reset\nlast\n');
    expect(await done).toBe(1);
    expect(asked).toEqual(['first', 'bad', 'last']);
    expect(resets).toBe(1);
    expect(reports).toEqual(['stage 1 gave no valid payoff matrix']);
  });
});
