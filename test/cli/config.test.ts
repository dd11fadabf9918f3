/**
 * One configuration, through the real CLI: every command takes its settings from, in rising order, the
 * defaults, the settings file, the environment and its flags; `gtalign config show` says where each value
 * comes from; a bad value is reported naming its source; reward weights moved from --config to
 * --reward-config (or the settings file's "reward").
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { parsePayoff } from '../../src/chain/payoff.js';
import { ALL_SETTINGS } from '../../src/config/settings/index.js';
import { selectCell } from '../../src/game/select.js';
import { cliArgs, REPO_ROOT } from '../support/cli.js';
import { runCliInProcess } from '../support/cli-in-process.js';
import {
  type OpenAIStubServer,
  type StubRequestBody,
  startOpenAIStubServer,
} from '../support/openai-stub-server.js';

// Whatever the machine running the tests has set, no setting comes from its environment.
const CLEAN: NodeJS.ProcessEnv = Object.fromEntries(
  [...ALL_SETTINGS.flatMap((s) => s.env ?? []), 'GTALIGN_CONFIG'].map((name) => [name, '']),
);
const cli = (args: string[], env: NodeJS.ProcessEnv = {}) =>
  runCliInProcess(args, { env: { ...CLEAN, ...env } });

const MATRIX =
  '{"DQ_DA": {"LLM": 1.6, "user": 2.8}, "DQ_CQ": {"LLM": 1.3, "user": 2.7}, "DQ_AQ": {"LLM": 1.0, "user": 2.5}, ' +
  '"VQ_DA": {"LLM": 1.9, "user": 2.4}, "VQ_CQ": {"LLM": 1.7, "user": 2.9}, "VQ_AQ": {"LLM": 1.4, "user": 2.3}}';
const STAGE1 = `<thinking>Clear enough.</thinking>\n<payoff>\n${MATRIX}\n</payoff>`;

type Message = { role: string; content: string };

/** Stage 1 → the matrix; stage 2 (or a raw request) → the rest of the four blocks. */
function model(body: StubRequestBody) {
  const messages = body.messages as Message[];
  const last = messages.at(-1)!;
  const stops = (body.stop as string[] | undefined) ?? [];
  const tail = (cell: string) => `\n<analyze>I choose ${cell}.</analyze>\n<response>Some answer.</response>`;
  if (last.role === 'assistant') {
    const p = last.content;
    const parsed = parsePayoff(p.slice(p.indexOf('<payoff>') + 8, p.indexOf('</payoff>')));
    return { content: tail(parsed.ok ? selectCell(parsed.matrix).selected[0]! : 'VQ_CQ') };
  }
  return { content: stops.includes('</payoff>') ? STAGE1 : STAGE1 + tail('VQ_CQ') };
}

let server: OpenAIStubServer;
let dir: string;
beforeAll(async () => {
  server = await startOpenAIStubServer(model, { model: 'stub-model' });
  dir = await mkdtemp(join(tmpdir(), 'gtalign-cli-config-'));
});
afterAll(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
});
beforeEach(() => {
  server.requests.length = 0;
});

let files = 0;
/** Writes a settings file in its own folder and returns its path. */
async function settings(content: unknown): Promise<string> {
  const path = join(dir, `settings-${++files}.json`);
  await writeFile(path, JSON.stringify(content));
  return path;
}

interface Shown {
  key: string;
  flag: string | null;
  value: unknown;
  source: { kind: string; path?: string; name?: string };
}

/** `gtalign config show COMMAND --json`, one setting by key. */
async function shown(command: string[], key: string, env: NodeJS.ProcessEnv = {}, flags: string[] = []) {
  const r = await cli(['config', 'show', ...command, '--json', ...flags], env);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  const out = JSON.parse(r.stdout) as { settings: Shown[]; file: string | null };
  const setting = out.settings.find((s) => s.key === key);
  expect(setting, key).toBeDefined();
  return setting!;
}

describe('chat: --max-tokens from each source, as the server receives it', () => {
  const chat = (extra: string[], env: NodeJS.ProcessEnv = {}) =>
    cli(
      [
        'chat',
        'When?',
        '--backend',
        'openai',
        '--base-url',
        server.baseUrl,
        '--model',
        'm',
        '--json',
        ...extra,
      ],
      env,
    );
  const sent = () => server.requests[0]!.body!.max_tokens;

  it('default: 1024', async () => {
    const r = await chat([]);
    expect(r.code).toBe(0);
    expect(sent()).toBe(1024);
  });

  it('settings file over the default', async () => {
    const file = await settings({ generation: { maxTokens: 512 } });
    expect((await chat(['--config', file])).code).toBe(0);
    expect(sent()).toBe(512);
  });

  it('environment over the settings file', async () => {
    const file = await settings({ generation: { maxTokens: 512 } });
    expect((await chat([], { GTALIGN_CONFIG: file, GTALIGN_MAX_TOKENS: '256' })).code).toBe(0);
    expect(sent()).toBe(256);
  });

  it('flag over the environment', async () => {
    const file = await settings({ generation: { maxTokens: 512 } });
    expect((await chat(['--config', file, '--max-tokens', '128'], { GTALIGN_MAX_TOKENS: '256' })).code).toBe(
      0,
    );
    expect(sent()).toBe(128);
  });

  it('takes the whole backend from the settings file, and --config before the command', async () => {
    const file = await settings({
      backend: { kind: 'openai', baseUrl: server.baseUrl, model: 'from-file', vendor: 'vllm' },
      steering: { policy: 'paper-api' },
    });
    const r = await cli(['--config', file, 'chat', 'When?', '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(server.requests[0]!.body!.model).toBe('from-file');
    // vllm continues the same assistant message; paper-api's edits make DQ_DA the choice.
    expect(server.requests[1]!.body!.continue_final_message).toBe(true);
    expect((JSON.parse(r.stdout) as { cell: string }).cell).toBe('DQ_DA');
  });

  it('leaves $GTALIGN_MODEL (a local GGUF file) out of the served model name', async () => {
    const r = await cli(['chat', 'When?', '--backend', 'openai', '--base-url', server.baseUrl], {
      GTALIGN_MODEL: '/models/x.gguf',
    });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--backend openai needs --model NAME');
  });

  it("serves the settings file's model when $GTALIGN_MODEL names a local file, and config show says so", async () => {
    const file = await settings({
      backend: { kind: 'openai', baseUrl: server.baseUrl, model: 'from-file', vendor: 'vllm' },
    });
    const env = { GTALIGN_CONFIG: file, GTALIGN_MODEL: '/models/x.gguf' };
    const r = await cli(['chat', 'When?', '--json'], env);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(server.requests[0]!.body!.model).toBe('from-file');
    const model = await shown(['chat'], 'backend.model', env);
    expect(model.value).toBe('from-file');
    expect(model.source).toEqual({ kind: 'file', path: file });
    // With the local backend the variable names the GGUF file, over the settings file.
    expect((await shown(['chat'], 'backend.model', env, ['--backend', 'local'])).source).toEqual({
      kind: 'env',
      name: 'GTALIGN_MODEL',
    });
  });
});

describe('reward: --concurrency (judge calls in flight) from each source', () => {
  const key = 'judge.concurrency';
  it('default 16, then file, environment and flag, each over the one below', async () => {
    const file = await settings({ judge: { concurrency: 8 } });
    const d = await shown(['reward', 'score'], key);
    expect([d.value, d.source.kind]).toEqual([16, 'default']);
    const f = await shown(['reward', 'score'], key, { GTALIGN_CONFIG: file });
    expect([f.value, f.source]).toEqual([8, { kind: 'file', path: file }]);
    const e = await shown(['reward', 'score'], key, { GTALIGN_CONFIG: file, GTALIGN_JUDGE_CONCURRENCY: '4' });
    expect([e.value, e.source]).toEqual([4, { kind: 'env', name: 'GTALIGN_JUDGE_CONCURRENCY' }]);
    const g = await shown(
      ['reward', 'score'],
      key,
      { GTALIGN_CONFIG: file, GTALIGN_JUDGE_CONCURRENCY: '4' },
      ['--concurrency', '2'],
    );
    expect([g.value, g.source.kind, g.flag]).toEqual([2, 'flag', '--concurrency']);
  });

  it("leaves the settings file's judge URL aside for --judge-backend local; as a flag it is a usage error", async () => {
    const file = await settings({ judge: { url: 'http://127.0.0.1:9/v1', model: 'Qwen/Qwen3-32B' } });
    const model = join(dir, 'no-such-judge.gguf');
    const args = ['reward', 'score', '--input', join(dir, 'none.jsonl'), '--judge-backend', 'local'];
    const r = await cli([...args, '--judge-model', model], { GTALIGN_CONFIG: file });
    expect(r.stderr).not.toContain('takes no --judge-url');
    expect(r.stderr).toContain(`model file not found: ${model}`);
    expect(r.code).toBe(1);
    const flag = await cli([...args, '--judge-model', model, '--judge-url', 'http://127.0.0.1:9/v1']);
    expect(flag.code).toBe(2);
    expect(flag.stderr).toContain('--judge-backend local takes no --judge-url');
  });

  it('scores with the judge mode and input the settings file gives', async () => {
    const input = join(dir, 'three.jsonl');
    const lines = readFileSync(join(REPO_ROOT, 'test/fixtures/reward-parity.jsonl'), 'utf8')
      .split('\n')
      .slice(0, 3);
    await writeFile(input, `${lines.join('\n')}\n`);
    const file = await settings({ judge: { mode: 'offline', clipVerdicts: true }, rewardScore: { input } });
    const r = await cli(['reward', 'score', '--config', file]);
    expect(r.code).toBe(0);
    expect(r.stdout.trim().split('\n')).toHaveLength(3);
    expect(r.stderr).toMatch(/samples 3, scored 3/);
  });
});

describe('eval: --concurrency (rows in flight) from each source, as the run records it', () => {
  let data: string;
  beforeAll(async () => {
    data = join(dir, 'rows.jsonl');
    const row = (i: number) =>
      JSON.stringify({
        prompt: [{ role: 'user', content: `request ${i}` }],
        data_source: 'wildguard',
        reward_model: { ground_truth: 'unharmful' },
        extra_info: { index: i, split: 'test' },
      });
    await writeFile(data, `${[0, 1].map(row).join('\n')}\n`);
  });
  let runs = 0;
  async function recorded(extra: string[], env: NodeJS.ProcessEnv = {}): Promise<number> {
    const out = join(dir, `run-${++runs}`);
    const r = await cli(
      [
        'eval',
        'run',
        '--data',
        data,
        '--out',
        out,
        '--mode',
        'raw',
        '--judge',
        'offline',
        '--no-progress',
        ...extra,
      ],
      { ...env },
    );
    expect(r.code, r.stderr).toBe(0);
    const config = JSON.parse(await readFile(join(out, 'config.json'), 'utf8')) as {
      runtime: { concurrency: number };
    };
    return config.runtime.concurrency;
  }
  const openai = () => ['--backend', 'openai', '--base-url', server.baseUrl, '--model', 'm'];

  it('default 4', async () => {
    expect(await recorded(openai())).toBe(4);
  });
  it('settings file over the default', async () => {
    const file = await settings({ eval: { concurrency: 3 } });
    expect(await recorded([...openai(), '--config', file])).toBe(3);
  });
  it('environment over the settings file', async () => {
    const file = await settings({ eval: { concurrency: 3 } });
    expect(await recorded([...openai(), '--config', file], { GTALIGN_CONCURRENCY: '2' })).toBe(2);
  });
  it('flag over the environment', async () => {
    const file = await settings({ eval: { concurrency: 3 } });
    expect(
      await recorded([...openai(), '--config', file, '--concurrency', '1'], { GTALIGN_CONCURRENCY: '2' }),
    ).toBe(1);
  });
});

/** Starts a long-running command and waits for the line saying where it listens. */
function startListening(
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, cliArgs(args), {
    cwd: REPO_ROOT,
    env: { ...process.env, ...CLEAN, ...env },
  });
  let stderr = '';
  return new Promise((resolve, reject) => {
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
      const m = /listening on (http:\/\/[\d.:]+)/.exec(stderr);
      if (m) resolve({ child, url: m[1]! });
    });
    child.on('close', (code) => reject(new Error(`exited with ${code} before listening: ${stderr}`)));
  });
}

describe('serve: --port from each source', () => {
  it('default 8080, then file, environment and flag, each over the one below', async () => {
    const file = await settings({ server: { port: 9000 } });
    const d = await shown(['serve'], 'server.port');
    expect([d.value, d.source.kind]).toEqual([8080, 'default']);
    expect((await shown(['reward', 'serve'], 'server.port')).value).toBe(5000);
    const f = await shown(['serve'], 'server.port', {}, ['--config', file]);
    expect([f.value, f.source]).toEqual([9000, { kind: 'file', path: file }]);
    const e = await shown(['serve'], 'server.port', { GTALIGN_PORT: '9100' }, ['--config', file]);
    expect([e.value, e.source]).toEqual([9100, { kind: 'env', name: 'GTALIGN_PORT' }]);
    const g = await shown(['serve'], 'server.port', { GTALIGN_PORT: '9100' }, [
      '--config',
      file,
      '--port',
      '9200',
    ]);
    expect([g.value, g.source.kind]).toEqual([9200, 'flag']);
  });

  it('listens where the settings file says, under the name it gives', async () => {
    const file = await settings({
      server: { port: 0 },
      serve: { upstreamUrl: server.baseUrl, upstreamModel: 'stub-model', modelName: 'from-file' },
    });
    const s = await startListening(['serve', '--config', file], {});
    try {
      expect(s.url).not.toMatch(/:8080$/);
      const models = (await (await fetch(`${s.url}/v1/models`)).json()) as { data: Array<{ id: string }> };
      expect(models.data.map((m) => m.id)).toEqual(['from-file']);
    } finally {
      s.child.kill('SIGTERM');
    }
  });
});

describe('data: --dir of data pull from each source, and data export from the settings file', () => {
  it('default under the cache folder, then file (from its folder), environment and flag', async () => {
    const cache = join(dir, 'xdg');
    const d = await shown(['data', 'pull'], 'dataPull.dir', { XDG_CACHE_HOME: cache });
    expect([d.value, d.source.kind]).toEqual([join(cache, 'gtalign', 'data'), 'default']);
    const file = await settings({ dataPull: { dir: 'pulled' } });
    const f = await shown(['data', 'pull'], 'dataPull.dir', { GTALIGN_CONFIG: file });
    expect([f.value, f.source.kind]).toEqual([join(dir, 'pulled'), 'file']);
    const e = await shown(['data', 'pull'], 'dataPull.dir', {
      GTALIGN_CONFIG: file,
      GTALIGN_DATA_DIR: '/srv/data',
    });
    expect([e.value, e.source]).toEqual(['/srv/data', { kind: 'env', name: 'GTALIGN_DATA_DIR' }]);
    const g = await shown(
      ['data', 'pull'],
      'dataPull.dir',
      { GTALIGN_CONFIG: file, GTALIGN_DATA_DIR: '/srv/data' },
      ['--dir', '/tmp/flag'],
    );
    expect([g.value, g.source.kind]).toEqual(['/tmp/flag', 'flag']);
  });

  it('exports in the format and to the file the settings file names; flags still win', async () => {
    const src = join(dir, 'src.jsonl');
    await writeFile(
      src,
      JSON.stringify({
        prompt: [{ role: 'user', content: 'hi' }],
        data_source: 'wildguard',
        reward_model: { ground_truth: 'unharmful' },
        extra_info: { index: 0, split: 'test' },
      }),
    );
    const file = await settings({ dataExport: { format: 'openrlhf', out: 'exported.jsonl' } });
    const r = await cli(['data', 'export', '--config', file, src]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`to ${join(dir, 'exported.jsonl')} (openrlhf`);
    const flat = await cli(['data', 'export', '--config', file, '--format', 'jsonl', src]);
    expect(flat.stderr).toContain(`to ${join(dir, 'exported.jsonl')} (jsonl`);
  });
});

describe('gtalign config show', () => {
  it('names the source of every value, and masks API keys', async () => {
    const file = await settings({ steering: { rule: 'product' } });
    const key = 'sk-test-0123456789abcdef';
    const r = await cli(['config', 'show', 'chat', '--config', file, '--max-tokens', '99'], {
      GTALIGN_POLICY: 'api',
      GTALIGN_API_KEY: key,
    });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`settings file: ${file}`);
    expect(r.stdout).toMatch(/generation\.maxTokens\s+--max-tokens\s+99\s+flag/);
    expect(r.stdout).toMatch(/steering\.policy\s+--policy\s+api\s+env GTALIGN_POLICY/);
    expect(r.stdout).toMatch(new RegExp(`steering\\.rule\\s+--rule\\s+product\\s+file ${file}`));
    expect(r.stdout).toMatch(/steering\.analysis\s+--analysis\s+model\s+default/);
    expect(r.stdout).toMatch(/backend\.apiKey\s+\*\*\*\*cdef\s+env GTALIGN_API_KEY/);
    expect(r.stdout).not.toContain(key);
  });

  it('takes --json and --config FILE before the command too, and names a group for what it is', async () => {
    const file = await settings({ generation: { maxTokens: 77 } });
    const r = await cli(['config', 'show', '--json', '--config', file, 'chat']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { command: string; settings: Shown[] };
    expect(out.command).toBe('chat');
    expect(out.settings.find((s) => s.key === 'generation.maxTokens')!.value).toBe(77);
    const group = await cli(['config', 'show', 'eval']);
    expect(group.code).toBe(2);
    expect(group.stderr).toContain("'eval' is a group of commands: name one of 'eval run', 'eval score'");
  });

  it('lists every setting of every command without a command', async () => {
    const r = await cli(['config', 'show', '--json']);
    expect(r.code).toBe(0);
    const keys = (JSON.parse(r.stdout) as { settings: Shown[] }).settings.map((s) => s.key);
    expect(keys).toEqual(ALL_SETTINGS.map((s) => s.key));
  });

  it('puts the cache folders under $XDG_CACHE_HOME, else ~/.cache', async () => {
    const home = join(dir, 'home');
    const xdg = await shown(['reward', 'score'], 'judge.cacheDir', {
      XDG_CACHE_HOME: '/srv/cache',
      HOME: home,
    });
    expect(xdg.value).toBe('/srv/cache/gtalign/judge');
    const plain = await shown(['reward', 'score'], 'judge.cacheDir', { XDG_CACHE_HOME: '', HOME: home });
    expect(plain.value).toBe(join(home, '.cache', 'gtalign', 'judge'));
    expect(
      (await shown(['models', 'pull'], 'modelsPull.dir', { XDG_CACHE_HOME: '', HOME: home })).value,
    ).toBe(join(home, '.cache', 'gtalign', 'models'));
  });
});

describe('the command line before the command', () => {
  it("the words around the command: --config before it (alone, with '--', with a later --config), another option before it, --help after '--'", async () => {
    const file = await settings({});
    for (const args of [['--config', file], ['--config']]) {
      const r = await cli(args);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/^gtalign: no command given \(--config goes with one\)/);
    }
    // --config before the command stays before a `--` and gives way to a later --config.
    const later = await settings({ generation: { maxTokens: 9 } });
    const shownLater = await cli(['--config', file, 'config', 'show', 'chat', '--json', '--config', later]);
    const maxTokens = (JSON.parse(shownLater.stdout) as { settings: Shown[] }).settings.find(
      (s) => s.key === 'generation.maxTokens',
    )!;
    expect(maxTokens.source).toEqual({ kind: 'file', path: later });
    const matrix = join(dir, 'matrix.json');
    await writeFile(matrix, MATRIX);
    const dashes = await cli(['--config', file, 'game', 'analyze', '--json', '--', matrix]);
    expect(dashes.stderr).toBe('');
    expect(dashes.code).toBe(0);
    // After `--`, --help is an argument (a file named so), not a request for help.
    const word = await cli(['game', 'analyze', '--', '--help']);
    expect(word.code).toBe(1);
    expect(word.stderr).toContain('gtalign game analyze: cannot read --help: no such file');
    const early = await cli(['--json', 'chat']);
    expect(early.code).toBe(2);
    expect(early.stderr).toMatch(
      /^gtalign: unknown option '--json' \(a command's options go after its name\)/,
    );
  });
});

describe('bad values name their source', () => {
  it('a flag: usage error, exit 2', async () => {
    const r = await cli(['reward', 'score', '--input', 'x', '--judge', 'offline', '--concurrency', '0']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("gtalign reward score: --concurrency must be a positive integer, got '0'");
  });

  it('an environment variable: exit 1, naming the variable and its value', async () => {
    const r = await cli(['eval', 'run', '--data', 'x', '--out', 'y', '--judge', 'offline'], {
      GTALIGN_CONCURRENCY: 'many',
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('gtalign eval run: GTALIGN_CONCURRENCY=many: must be a positive integer');
  });

  it('the settings file: exit 1, naming the file and the key', async () => {
    const file = await settings({ server: { port: 'eighty' } });
    const r = await cli(['serve', '--config', file]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      `gtalign serve: ${file}: server.port: must be an integer from 0 to 65535, got "eighty"`,
    );
    const unknown = await settings({ data: { format: 'verl' } });
    const u = await cli(['data', 'export', '--config', unknown]);
    expect(u.code).toBe(1);
    expect(u.stderr).toContain(`${unknown}: unknown key "data.format"; did you mean dataExport.format?`);
  });

  it("the local engine's flags with a server backend: usage error naming the flag, not ignored", async () => {
    for (const flag of [['--threads', '4'], ['--gpu']]) {
      const r = await cli([
        'chat',
        'When?',
        '--backend',
        'openai',
        '--model',
        'm',
        '--base-url',
        server.baseUrl,
        ...flag,
      ]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`gtalign chat: ${flag[0]} goes with --backend local`);
    }
    expect(server.requests).toHaveLength(0);
  });

  it('a conflict names the setting where it was given: the variable or the settings file and key, not a flag', async () => {
    const env = await cli(['chat', 'When?'], { GTALIGN_BACKEND: 'openai' });
    expect(env.code).toBe(1);
    expect(env.stderr).toContain('gtalign chat: the openai backend ($GTALIGN_BACKEND) needs --model NAME');
    const judge = await cli(['reward', 'score', '--input', 'x'], {
      GTALIGN_JUDGE_URL: 'http://127.0.0.1:9/v1',
    });
    expect(judge.code).toBe(1);
    expect(judge.stderr).toContain('the judge URL ($GTALIGN_JUDGE_URL) needs --judge-model');
    const local = await cli(['reward', 'score', '--input', 'x'], { GTALIGN_JUDGE_BACKEND: 'local' });
    expect(local.stderr).toContain('the local judge ($GTALIGN_JUDGE_BACKEND) needs --judge-model FILE.gguf');
    const open = await cli(['reward', 'serve', '--judge', 'offline'], { GTALIGN_HOST: '0.0.0.0' });
    expect(open.code).toBe(1);
    expect(open.stderr).toContain('gtalign reward serve: host 0.0.0.0 (from $GTALIGN_HOST) is reachable');
    const keys = await settings({ server: { apiKeyEnv: 'NO_SUCH_KEYS' } });
    const noKeys = await cli(['reward', 'serve', '--judge', 'offline', '--config', keys]);
    expect(noKeys.stderr).toContain(
      `api-key-env NO_SUCH_KEYS (from server.apiKeyEnv in ${keys}): the variable is unset`,
    );
    const log = await settings({ server: { accessLog: join(dir, 'no-such-folder', 'access.log') } });
    const badLog = await cli(['reward', 'serve', '--judge', 'offline', '--port', '0', '--config', log]);
    expect(badLog.code).toBe(1);
    expect(badLog.stderr).toContain(`gtalign reward serve: server.accessLog in ${log}: cannot open`);
    const file = await settings({ sim: { turns: 3 } });
    const raw = await cli([
      'eval',
      'run',
      '--config',
      file,
      '--mode',
      'raw',
      '--data',
      'x',
      '--out',
      'y',
      '--judge',
      'offline',
    ]);
    expect(raw.code).toBe(1);
    expect(raw.stderr).toContain(`gtalign eval run: sim.turns in ${file} goes with --mode assistant`);
  });

  it('a policy that cannot be loaded names the variable or the settings file and key that named it', async () => {
    const env = await cli(['chat', 'When?'], { GTALIGN_POLICY: 'no-such-preset' });
    expect(env.code).toBe(1);
    expect(env.stderr).toContain('gtalign chat: $GTALIGN_POLICY: unknown steering preset: "no-such-preset"');
    const file = await settings({ steering: { policy: 'missing-policy.json' } });
    const inFile = await cli(['chat', 'When?', '--config', file]);
    expect(inFile.code).toBe(1);
    expect(inFile.stderr).toContain(`gtalign chat: steering.policy in ${file}: cannot read steering file`);
  });

  it('an empty model name (--judge-model=, --policy-model=, "" in the file) is refused, not an internal error', async () => {
    const args = [
      'reward',
      'score',
      '--input',
      'x',
      '--judge-url',
      'http://127.0.0.1:9/v1',
      '--judge-vendor',
      'vllm',
    ];
    const r = await cli([...args, '--judge-model=']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("gtalign reward score: --judge-model must not be empty, got ''");
    const lookahead = ['--judge-model', 'm', '--lookahead', '1', '--policy-url', 'http://127.0.0.1:9/v1'];
    const p = await cli([...args, ...lookahead, '--policy-model=']);
    expect(p.code).toBe(2);
    expect(p.stderr).toContain("--policy-model must not be empty, got ''");
    const file = await settings({ judge: { model: '' } });
    const f = await cli([...args, '--config', file]);
    expect(f.code).toBe(1);
    expect(f.stderr).toContain(`${file}: judge.model: must not be empty, got ""`);
  });

  it("eval sweep leaves the settings file's eval.mode raw (eval run's) aside; as a flag it is a usage error", async () => {
    const file = await settings({ eval: { mode: 'raw' } });
    const args = ['eval', 'sweep', '--data', 'x', '--out', join(dir, 'sweep'), '--judge', 'offline'];
    const fromFile = await cli([...args, '--config', file]);
    expect(fromFile.code).toBe(2);
    expect(fromFile.stderr).toContain('--policy-param NAME=FROM:TO:STEPS is required');
    const flag = await cli([...args, '--mode', 'raw']);
    expect(flag.code).toBe(2);
    expect(flag.stderr).toContain('--mode raw has none');
  });

  it('a local model file that cannot be opened names $GTALIGN_MODEL or the settings file that gave it', async () => {
    const missing = join(dir, 'no-such-model.gguf');
    const env = await cli(['chat', 'When?'], { GTALIGN_MODEL: missing });
    expect(env.code).toBe(1);
    expect(env.stderr).toContain(`gtalign chat: $GTALIGN_MODEL: model file not found: ${missing}`);
    const file = await settings({ backend: { model: missing } });
    const inFile = await cli(['chat', 'When?', '--config', file]);
    expect(inFile.stderr).toContain(
      `gtalign chat: backend.model in ${file}: model file not found: ${missing}`,
    );
    const flag = await cli(['chat', 'When?', '--model', missing]);
    expect(flag.stderr).toContain(`gtalign chat: model file not found: ${missing}`);
  });

  it('mcp: --port on the stdio transport is a usage error, not a port silently left closed', async () => {
    const r = await cli(['mcp', '--port', '9999']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('gtalign mcp: --port goes with --transport http');
  });

  it('a server URL without a scheme is named as the flag, the variable or the key that gave it', async () => {
    const flag = await cli([
      'chat',
      'When?',
      '--backend',
      'openai',
      '--model',
      'm',
      '--base-url',
      'localhost:8000',
    ]);
    expect(flag.code).toBe(2);
    expect(flag.stderr).toContain("gtalign chat: --base-url must be an http(s) URL, got 'localhost:8000'");
    const env = await cli(['reward', 'score', '--input', 'x', '--judge-model', 'm'], {
      GTALIGN_JUDGE_URL: 'localhost:8000',
    });
    expect(env.code).toBe(1);
    expect(env.stderr).toContain(
      'gtalign reward score: GTALIGN_JUDGE_URL=localhost:8000: must be an http(s) URL',
    );
    const file = await settings({ serve: { upstreamUrl: 'localhost:8000' } });
    const inFile = await cli(['serve', '--config', file]);
    expect(inFile.code).toBe(1);
    expect(inFile.stderr).toContain(
      `gtalign serve: ${file}: serve.upstreamUrl: must be an http(s) URL, got "localhost:8000"`,
    );
  });
});

describe('reward weights: --reward-config FILE (--config now names the settings file)', () => {
  let input: string;
  let weights: string;
  beforeAll(async () => {
    input = join(dir, 'one.jsonl');
    const scored = readFileSync(join(REPO_ROOT, 'test/fixtures/reward-parity.jsonl'), 'utf8')
      .split('\n')
      .find((l) => l.trim() !== '' && (JSON.parse(l) as { expected: { score: number } }).expected.score > 0)!;
    await writeFile(input, `${scored}\n`);
    weights = join(dir, 'weights.json');
    await writeFile(weights, JSON.stringify({ aggregator: { name: 'user' } }));
  });
  const score = async (args: string[]) => {
    const r = await cli([
      'reward',
      'score',
      '--input',
      input,
      '--judge',
      'offline',
      '--clip-verdicts',
      ...args,
    ]);
    expect(r.code, r.stderr).toBe(0);
    return JSON.parse(r.stdout) as { score: number; user_reward: number };
  };

  it('scores with the weights of --reward-config FILE, or of the settings file\'s "reward"', async () => {
    const plain = await score([]);
    const byFlag = await score(['--reward-config', weights]);
    expect(byFlag.score).toBe(byFlag.user_reward);
    expect(byFlag.score).not.toBe(plain.score);
    const file = await settings({ reward: { aggregator: { name: 'user' } } });
    expect((await score(['--config', file])).score).toBe(byFlag.score);
    const byPath = await settings({ reward: weights });
    expect((await score(['--config', byPath])).score).toBe(byFlag.score);
  });

  it('tells a user who passes a weights file with --config where it goes now', async () => {
    const r = await cli(['reward', 'score', '--input', input, '--judge', 'offline', '--config', weights]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      `${weights}: unknown key "aggregator"; it belongs inside "reward" (or pass such a file with --reward-config FILE)`,
    );
  });
});
