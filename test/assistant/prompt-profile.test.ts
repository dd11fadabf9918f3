/**
 * Prompt profiles: the `trained` layout read at run time from a data file (`--prompt-from`) or a template
 * file, against a loopback OpenAI-compatible server (test/support/openai-stub-server.ts, a scripted
 * stand-in that records request bodies), through the library and through `gtalign chat`.
 *
 * The released data sets' wording is never part of the repository: every expectation below about it is
 * taken from the rows themselves, read from ../shared/data (or $GTALIGN_DATA_DIR) at run time; the tests
 * that need it are skipped, with a message, when the files are absent.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadPromptTemplate, templateFromDataFile } from '../../src/assistant/prompt-source.js';
import { createSession } from '../../src/assistant/session.js';
import { runTurn } from '../../src/assistant/turn.js';
import { buildMessages } from '../../src/chain/prompt.js';
import {
  type PromptTemplate,
  PromptTemplateError,
  parsePromptTemplate,
  renderTemplate,
} from '../../src/chain/prompt-profile.js';
import { loadRows } from '../../src/data/load.js';
import type { DatasetRow } from '../../src/data/row.js';
import { questionOf } from '../../src/eval/run.js';
import { createOpenAIModel } from '../../src/llm/openai.js';
import { startProxyServer } from '../../src/server/proxy.js';
import { HAVE_DATA, SHIPPED, shippedPath } from '../data/helpers.js';
import { runCliInProcess } from '../support/cli-in-process.js';
import {
  type OpenAIStubServer,
  type StubRequestBody,
  startOpenAIStubServer,
} from '../support/openai-stub-server.js';

type Message = { role: string; content: string };

const STAGE1 =
  '<thinking>Clear enough to answer.</thinking>\n<payoff>\n' +
  '{"DQ_AQ": {"LLM": 1.0, "user": 2.5}, "DQ_CQ": {"LLM": 1.3, "user": 2.7}, "DQ_DA": {"LLM": 2.6, "user": 2.8}, ' +
  '"VQ_AQ": {"LLM": 1.4, "user": 2.3}, "VQ_CQ": {"LLM": 1.7, "user": 2.9}, "VQ_DA": {"LLM": 1.9, "user": 2.4}}' +
  '\n</payoff>';
const REPLY = 'About 230 million years ago.';

/** The scripted model: stage 1 → a fixed matrix (DQ_DA best); stage 2 → a direct answer. */
function scripted(body: StubRequestBody) {
  const messages = body.messages as Message[];
  const stops = (body.stop as string[] | undefined) ?? [];
  const cut = (t: string) => {
    const at = stops.map((s) => t.indexOf(s)).filter((i) => i >= 0);
    return at.length > 0 ? t.slice(0, Math.min(...at)) : t;
  };
  if (messages.at(-1)!.role === 'assistant') {
    return { content: cut(`\n<analyze>I choose DQ_DA.</analyze>\n<response>${REPLY}</response>`) };
  }
  return { content: cut(STAGE1) };
}

let server: OpenAIStubServer;
let dir: string;
beforeAll(async () => {
  server = await startOpenAIStubServer(scripted);
  dir = await mkdtemp(join(tmpdir(), 'gtalign-prompt-'));
});
afterAll(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
});
beforeEach(() => {
  server.requests.length = 0;
});

const modelFor = () =>
  createOpenAIModel({ baseUrl: server.baseUrl, model: 'stub-model', vendor: 'vllm', maxRetries: 0 });
/** The messages of every stage-1 request (the ones that stop at `</payoff>`), in arrival order. */
const stage1Messages = (): Message[][] =>
  server.requests
    .filter((r) => ((r.body?.stop as string[] | undefined) ?? []).includes('</payoff>'))
    .map((r) => r.body!.messages as Message[]);

// ---------- the template format (our own wording only) ----------

describe('template files', () => {
  it('fills in the documented defaults and renders system + one user message', () => {
    const t = parsePromptTemplate(
      {
        system: 'SYS',
        instructions: 'Write the four blocks. ',
        history: { layout: 'first-user', before: 'First: ' },
      },
      'my.json',
    );
    expect(t).toEqual({
      system: 'SYS',
      instructions: 'Write the four blocks. ',
      question: 'Question: ',
      history: { layout: 'first-user', before: 'First: ', after: '' },
      source: 'my.json',
    });
    expect(renderTemplate(t, 'Why?')).toEqual([
      { role: 'system', content: 'SYS' },
      { role: 'user', content: 'Write the four blocks. Question: Why?' },
    ]);
    // first-user: only the conversation's first user message is carried, before the instructions.
    const history = [
      { role: 'user' as const, content: 'Help with a triangle.' },
      { role: 'assistant' as const, content: 'Which one?' },
      { role: 'user' as const, content: 'Equilateral.' },
      { role: 'assistant' as const, content: 'And then?' },
    ];
    expect(renderTemplate(t, 'Its area?', history)[1]!.content).toBe(
      'First: Help with a triangle.Write the four blocks. Question: Its area?',
    );
  });

  it('renders a transcript layout and a none layout', () => {
    const history = [
      { role: 'user' as const, content: 'Hi.' },
      { role: 'assistant' as const, content: 'Hello.' },
    ];
    const transcript = parsePromptTemplate(
      { instructions: 'I.', question: '\nQ: ', history: { layout: 'transcript', before: '[', after: ']\n' } },
      't.json',
    );
    expect(renderTemplate(transcript, 'Now?', history)).toEqual([
      { role: 'user', content: '[User: Hi.\n\nAssistant: Hello.]\nI.\nQ: Now?' },
    ]);
    const none = parsePromptTemplate({ instructions: 'I.', history: { layout: 'none' } }, 'n.json');
    expect(renderTemplate(none, 'Now?', history)).toEqual([{ role: 'user', content: 'I.Question: Now?' }]);
  });

  it('refuses a turn with earlier turns when the template does not say how to carry them', () => {
    const t = parsePromptTemplate({ instructions: 'I.' }, 'plain.json');
    expect(renderTemplate(t, 'Now?')).toEqual([{ role: 'user', content: 'I.Question: Now?' }]);
    expect(() => renderTemplate(t, 'Now?', [{ role: 'user', content: 'Hi.' }])).toThrow(PromptTemplateError);
    expect(() => renderTemplate(t, 'Now?', [{ role: 'user', content: 'Hi.' }])).toThrow(
      /plain\.json does not show how earlier turns are laid out/,
    );
  });

  it('names the file and the field of a bad template', async () => {
    expect(() => parsePromptTemplate({ instructions: '' }, 'a.json')).toThrow(
      /a\.json: .*field instructions/,
    );
    expect(() => parsePromptTemplate({ instructions: 'x', sytem: 'typo' }, 'b.json')).toThrow(/b\.json/);
    expect(() =>
      parsePromptTemplate({ instructions: 'x', history: { layout: 'every-other' } }, 'c.json'),
    ).toThrow(/c\.json: .*history/);
    const bad = join(dir, 'bad.json');
    await writeFile(bad, '{"instructions": ');
    await expect(loadPromptTemplate(bad)).rejects.toThrow(/bad\.json: not valid JSON/);
    await expect(loadPromptTemplate(join(dir, 'missing.json'))).rejects.toThrow(/no such file/);
    await expect(loadPromptTemplate(join(dir, 'notes.txt'))).rejects.toThrow(/unknown prompt source type/);
  });

  it('sends the template through runTurn (library) to the server', async () => {
    const file = join(dir, 'template.json');
    await writeFile(file, JSON.stringify({ system: 'Be brief.', instructions: 'Use four blocks. ' }));
    const template = await loadPromptTemplate(file);
    const result = await runTurn({
      model: modelFor(),
      question: 'When did dinosaurs first appear?',
      prompt: { profile: 'trained', template },
    });
    expect(result.response).toBe(REPLY);
    expect(stage1Messages()).toEqual([
      [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Use four blocks. Question: When did dinosaurs first appear?' },
      ],
    ]);
    // Stage 2 continues the same messages.
    expect((server.requests[1]!.body!.messages as Message[]).slice(0, 2)).toEqual(stage1Messages()[0]);
  });
});

describe('gtalign serve (the proxy) with a trained template', () => {
  it("sends the template's layout upstream for a client's question", async () => {
    const template = parsePromptTemplate(
      {
        system: 'Be brief.',
        instructions: 'Use four blocks. ',
        history: { layout: 'first-user', before: 'Earlier: ' },
      },
      'inline.json',
    );
    const proxy = await startProxyServer({
      model: modelFor(),
      prompt: { profile: 'trained', template },
      host: '127.0.0.1',
      port: 0,
    });
    try {
      const res = await fetch(`${proxy.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          model: 'gtalign',
          messages: [
            { role: 'user', content: 'Help me with dinosaurs.' },
            { role: 'assistant', content: 'Which part?' },
            { role: 'user', content: 'When did they appear?' },
          ],
        }),
      });
      expect(res.status).toBe(200);
      const body = (await res.json()) as { choices: Array<{ message: { content: string } }> };
      expect(body.choices[0]!.message.content).toBe(REPLY);
      expect(stage1Messages()).toEqual([
        [
          { role: 'system', content: 'Be brief.' },
          {
            role: 'user',
            content: 'Earlier: Help me with dinosaurs.Use four blocks. Question: When did they appear?',
          },
        ],
      ]);
    } finally {
      await proxy.close();
    }
  });
});

// ---------- layouts read from the released data ----------

const TEST_FILES = SHIPPED.filter((f) => f.split === 'test').map((f) => shippedPath(f.name, f.split));
const ALL_FILES = SHIPPED.map((f) => shippedPath(f.name, f.split));
const MEDIUM = shippedPath('medium', 'test');
const MATH = shippedPath('math-hard', 'test');

const chatHistory = (row: DatasetRow) => row.extra_info.chat_history as Message[];
const isSingleTurn = (row: DatasetRow) => chatHistory(row).length === 1;
/** The first rows of a file, single-turn and multi-turn ones. */
async function sampleRows(file: string, n = 4): Promise<DatasetRow[]> {
  const rows = await loadRows([file]);
  const single = rows.filter(isSingleTurn).slice(0, n);
  const multi = rows.filter((r) => !isSingleTurn(r)).slice(0, n);
  return [...single, ...multi];
}

describe.skipIf(!HAVE_DATA)('--prompt-from a shipped data file', () => {
  it('reproduces the rows of every shipped file and data source byte for byte from their question and history', {
    timeout: 60_000,
  }, async () => {
    const fromMedium = await loadPromptTemplate(MEDIUM);
    expect(fromMedium.history?.layout).toBe('first-user');
    let checked = 0;
    let multi = 0;
    for (const file of ALL_FILES) {
      for (const row of await sampleRows(file)) {
        const { question, history } = questionOf(row);
        expect(renderTemplate(fromMedium, question, history), row.id).toEqual(row.prompt);
        checked++;
        if (history.length > 0) multi++;
      }
    }
    expect(checked).toBeGreaterThanOrEqual(5 * 4);
    expect(multi).toBeGreaterThan(0);
  });

  it('reads the system message and instructions from the first row of each file; the history layout when a row shows it', {
    timeout: 60_000,
  }, async () => {
    const templates: PromptTemplate[] = [];
    for (const file of TEST_FILES) {
      const [first] = await loadRows([file], { limit: 1 });
      const t = await templateFromDataFile(file);
      templates.push(t);
      expect(t.system).toBe(first!.prompt[0]!.content);
      // The instruction text precedes the question marker of the first row's user message.
      const user = first!.prompt.at(-1)!.content;
      expect(user).toContain(`${t.instructions}${t.question}${questionOf(first!).question}`);
      expect(t.question.startsWith('Question:')).toBe(true);
      expect(t.instructions).not.toContain(questionOf(first!).question);
      const rows = await loadRows([file]);
      if (rows.some((r) => !isSingleTurn(r))) expect(t.history?.layout, file).toBe('first-user');
      else expect(t.history, file).toBeUndefined();
    }
    // Every file shows the same layout, as far as it shows one.
    for (const t of templates) {
      expect(t.system).toBe(templates[0]!.system);
      expect(t.instructions).toBe(templates[0]!.instructions);
    }
  });

  it('refuses earlier turns with a template from a file of single-turn rows, naming the fix', async () => {
    const t = await loadPromptTemplate(shippedPath('wildguard', 'test'));
    expect(t.history).toBeUndefined();
    const rows = await loadRows([MATH]);
    const row = rows.find((r) => !isSingleTurn(r))!;
    const { question, history } = questionOf(row);
    await expect(
      runTurn({ model: modelFor(), question, history, prompt: { profile: 'trained', template: t } }),
    ).rejects.toThrow(/does not show how earlier turns are laid out.*|multi-turn rows/);
    expect(server.requests).toHaveLength(0);
  });

  it('sends the row layout with a new question (library), and multi-turn history in the row layout', {
    timeout: 30_000,
  }, async () => {
    const template = await loadPromptTemplate(MEDIUM);
    const rows = await loadRows([MEDIUM]);
    const single = rows.find(isSingleTurn)!;
    const [system, user] = single.prompt as [Message, Message];
    const asked = chatHistory(single)[0]!.content;
    expect(user.content.endsWith(asked)).toBe(true);
    const NEW = 'Can you help me title an essay about tidal energy?';

    const result = await runTurn({
      model: modelFor(),
      question: NEW,
      prompt: { profile: 'trained', template },
    });
    expect(result.response).toBe(REPLY);
    expect(stage1Messages()).toEqual([
      [system, { role: 'user', content: `${user.content.slice(0, -asked.length)}${NEW}` }],
    ]);

    // A session: the second turn carries the first question in the layout of the data's multi-turn rows,
    // so asking a multi-turn row's user messages reproduces that row's prompt exactly.
    const row = rows.find((r) => chatHistory(r).length === 3)!;
    const [u0, , u2] = chatHistory(row) as [Message, Message, Message];
    server.requests.length = 0;
    const session = createSession({ model: modelFor(), prompt: { profile: 'trained', template } });
    await session.ask(u0.content);
    await session.ask(u2.content);
    const [firstTurn, secondTurn] = stage1Messages();
    expect(firstTurn).toEqual([
      system,
      { role: 'user', content: `${user.content.slice(0, -asked.length)}${u0.content}` },
    ]);
    expect(secondTurn).toEqual(row.prompt);
  });

  it('gtalign chat --prompt-from FILE sends the row layout with the question, one-shot and in a session', {
    timeout: 120_000,
  }, async () => {
    const rows = await loadRows([MATH]);
    const single = rows.find(isSingleTurn)!;
    const { question } = questionOf(single);
    const flags = [
      '--backend',
      'openai',
      '--base-url',
      server.baseUrl,
      '--model',
      'stub-model',
      '--vendor',
      'vllm',
    ];
    const env = { XDG_CACHE_HOME: join(dir, 'cache'), GTALIGN_MODEL: '' };

    const once = await runCliInProcess(['chat', question, ...flags, '--prompt-from', MATH, '--json'], {
      env,
    });
    expect(once.stderr).toBe('');
    expect(once.code).toBe(0);
    expect(JSON.parse(once.stdout).response).toBe(REPLY);
    expect(stage1Messages()).toEqual([single.prompt]);

    // Interactive: the rows' user messages, one per line; the second turn's prompt is the row's own.
    const row = rows.find((r) => {
      const h = chatHistory(r);
      return h.length === 3 && h.every((m) => !m.content.includes('\n') && m.content.trim() === m.content);
    });
    expect(row, 'a math-hard test row with three one-line turns').toBeDefined();
    const [u0, , u2] = chatHistory(row!) as [Message, Message, Message];
    server.requests.length = 0;
    const session = await runCliInProcess(['chat', ...flags, '--prompt-from', MATH, '--prompt', 'trained'], {
      env,
      stdin: `${u0.content}\n${u2.content}\n`,
    });
    expect(session.stderr).toBe('');
    expect(session.code).toBe(0);
    const turns = stage1Messages();
    expect(turns).toHaveLength(2);
    expect(turns[1]).toEqual(row!.prompt);

    // Without --prompt-from, chat keeps gtalign's own wording.
    server.requests.length = 0;
    const plain = await runCliInProcess(['chat', question, ...flags, '--json'], { env });
    expect(plain.code).toBe(0);
    expect(stage1Messages()).toEqual([buildMessages({ question })]);
  });
});

describe('prompt settings on the command line', () => {
  const flags = () => ['--backend', 'openai', '--base-url', server.baseUrl, '--model', 'stub-model'];

  it('rejects --prompt trained without --prompt-from, --prompt row in chat, and --prompt-from with gtalign', {
    timeout: 120_000,
  }, async () => {
    const [a, b, c] = await Promise.all([
      runCliInProcess(['chat', 'Why?', ...flags(), '--prompt', 'trained']),
      runCliInProcess(['chat', 'Why?', ...flags(), '--prompt', 'row']),
      runCliInProcess(['chat', 'Why?', ...flags(), '--prompt', 'gtalign', '--prompt-from', 'x.parquet']),
    ]);
    expect(a.code).toBe(2);
    expect(a.stderr).toMatch(/--prompt trained needs --prompt-from FILE/);
    expect(b.code).toBe(2);
    expect(b.stderr).toMatch(/--prompt row goes with eval run and eval sweep/);
    expect(c.code).toBe(2);
    expect(c.stderr).toMatch(/--prompt-from goes with --prompt trained/);
    expect(server.requests).toHaveLength(0);
  });

  it('names a prompt source that cannot be read', { timeout: 60_000 }, async () => {
    const r = await runCliInProcess([
      'chat',
      'Why?',
      ...flags(),
      '--prompt-from',
      join(dir, 'nothing.parquet'),
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/nothing\.parquet/);
    expect(r.stderr).not.toContain('internal error');
  });

  it('shows the prompt settings in gtalign config show, with their sources', {
    timeout: 120_000,
  }, async () => {
    const commands = [['chat'], ['serve'], ['eval', 'run'], ['eval', 'sweep']];
    const results = await Promise.all(
      commands.map((command) =>
        runCliInProcess(['config', 'show', ...command, '--json'], {
          env: { GTALIGN_PROMPT_FROM: '/data/medium/test.parquet', GTALIGN_PROMPT: '' },
        }),
      ),
    );
    for (const [i, command] of commands.entries()) {
      const r = results[i]!;
      expect(r.code, r.stderr).toBe(0);
      const settings = (
        JSON.parse(r.stdout) as { settings: Array<{ key: string; value: unknown; source: { kind: string } }> }
      ).settings;
      const from = settings.find((s) => s.key === 'prompt.from');
      expect(from, command.join(' ')).toMatchObject({
        value: '/data/medium/test.parquet',
        source: { kind: 'env' },
      });
      expect(
        settings.find((s) => s.key === 'prompt.profile'),
        command.join(' '),
      ).toBeDefined();
    }
  });
});
