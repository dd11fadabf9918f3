/**
 * Settings that conflict, or one that needs another, through the real CLI: typed as flags they are bad
 * usage (exit 2, naming the flags); when one came from the environment or the settings file the user
 * typed no such flag, so the message names the variable or the file and key, and the exit status is 1
 * (a setting to fix), as the README's CLI reference says.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALL_SETTINGS } from '../../src/config/settings/index.js';
import { runCliInProcess } from '../support/cli-in-process.js';

// Whatever the machine running the tests has set, no setting comes from its environment.
const CLEAN: NodeJS.ProcessEnv = Object.fromEntries(
  [...ALL_SETTINGS.flatMap((s) => s.env ?? []), 'GTALIGN_CONFIG'].map((name) => [name, '']),
);
const cli = (args: string[], env: NodeJS.ProcessEnv = {}) =>
  runCliInProcess(args, { env: { ...CLEAN, ...env } });

// Nothing listens here: a conflict is found before any connection.
const NOWHERE = 'http://127.0.0.1:9/v1';

let dir: string;
let files = 0;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gtalign-conflicts-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A settings file with `content`; its path. */
async function settings(content: unknown): Promise<string> {
  const path = join(dir, `settings-${++files}.json`);
  await writeFile(path, JSON.stringify(content));
  return path;
}

describe('backend', () => {
  it('the openai backend from the environment without a model: exit 1 naming the variable', async () => {
    const r = await cli(['chat', 'When?'], { GTALIGN_BACKEND: 'openai' });
    expect(r.stderr).toContain('gtalign chat: the openai backend ($GTALIGN_BACKEND) needs --model NAME');
    expect(r.code).toBe(1);
    const flag = await cli(['chat', 'When?', '--backend', 'openai']);
    expect(flag.stderr).toContain('gtalign chat: --backend openai needs --model NAME');
    expect(flag.code).toBe(2);
  });

  it("a server's flag with the local backend of the settings file names the file's key", async () => {
    const file = await settings({ backend: { kind: 'local' } });
    const r = await cli(['chat', 'When?', '--config', file, '--base-url', NOWHERE]);
    expect(r.stderr).toContain(
      `gtalign chat: --base-url goes with --backend openai, not backend.kind "local" in ${file}`,
    );
    expect(r.code).toBe(1);
    const flag = await cli(['chat', 'When?', '--vendor', 'vllm']);
    expect(flag.stderr).toContain('gtalign chat: --vendor goes with --backend openai, not --backend local');
    expect(flag.code).toBe(2);
  });

  it("the engine's flag with the openai backend from the environment names the variable", async () => {
    const r = await cli(['chat', 'When?', '--model', 'm', '--threads', '4'], { GTALIGN_BACKEND: 'openai' });
    expect(r.stderr).toContain(
      'gtalign chat: --threads goes with --backend local, not $GTALIGN_BACKEND=openai',
    );
    expect(r.code).toBe(1);
  });
});

describe('serve', () => {
  it("the engine's flag with the settings file's upstream names the file's key, before asking the upstream", async () => {
    const file = await settings({ serve: { upstreamUrl: NOWHERE } });
    const r = await cli(['serve', '--config', file, '--threads', '4']);
    expect(r.stderr).toContain(
      `gtalign serve: --threads goes with --backend local, not serve.upstreamUrl "${NOWHERE}" in ${file}`,
    );
    expect(r.code).toBe(1);
    // As flags both: bad usage, found before the upstream is asked for its model.
    const flag = await cli(['serve', '--upstream-url', NOWHERE, '--gpu']);
    expect(flag.stderr).toContain(
      `gtalign serve: --gpu goes with --backend local, not --upstream-url ${NOWHERE}`,
    );
    expect(flag.code).toBe(2);
  });

  it("--upstream-model with the local backend of the environment over the file's upstream names the variable", async () => {
    const file = await settings({ serve: { upstreamUrl: NOWHERE } });
    const r = await cli(['serve', '--config', file, '--upstream-model', 'm'], { GTALIGN_BACKEND: 'local' });
    expect(r.stderr).toContain(
      'gtalign serve: --upstream-model goes with --upstream-url, not $GTALIGN_BACKEND=local',
    );
    expect(r.code).toBe(1);
  });

  it('the openai backend of the settings file without an upstream names the file and key', async () => {
    const file = await settings({ backend: { kind: 'openai' } });
    const r = await cli(['serve', '--config', file]);
    expect(r.stderr).toContain(
      `gtalign serve: the openai backend (backend.kind in ${file}) needs the upstream: --upstream-url URL`,
    );
    expect(r.code).toBe(1);
  });
});

describe('studio', () => {
  it("the settings file's second server without its model names the file's key", async () => {
    const file = await settings({ studio: { compareBaseUrl: NOWHERE } });
    const r = await cli(['studio', '--config', file]);
    expect(r.stderr).toContain(
      `gtalign studio: studio.compareBaseUrl "${NOWHERE}" in ${file} needs --compare-model NAME`,
    );
    expect(r.code).toBe(1);
    const flag = await cli(['studio', '--compare-model', 'm']);
    expect(flag.stderr).toContain('gtalign studio: --compare-model m needs --compare-base-url URL');
    expect(flag.code).toBe(2);
  });
});

describe('eval conversations', () => {
  const run = ['eval', 'run', '--data', 'x.jsonl', '--out', 'y', '--judge', 'offline'];

  it("the settings file's --turns in raw mode names the file's key and the mode", async () => {
    const file = await settings({ sim: { turns: 3 } });
    const r = await cli([...run, '--config', file, '--mode', 'raw']);
    expect(r.stderr).toContain(
      `gtalign eval run: sim.turns in ${file} goes with --mode assistant, not --mode raw`,
    );
    expect(r.code).toBe(1);
  });

  it("an assistant-turn flag with the settings file's raw mode names the file's key", async () => {
    const file = await settings({ eval: { mode: 'raw' } });
    const r = await cli([...run, '--config', file, '--policy', 'api']);
    expect(r.stderr).toContain(
      `gtalign eval run: --policy goes with --mode assistant, not eval.mode "raw" in ${file}`,
    );
    expect(r.code).toBe(1);
  });

  it("the user's server settings against the settings file's user backend, before any data or model is read", async () => {
    const local = await settings({ sim: { backend: 'local' } });
    const r = await cli([...run, '--config', local, '--turns', '2', '--user-base-url', NOWHERE]);
    expect(r.stderr).toContain(
      `gtalign eval run: --user-base-url goes with --user-backend openai, not sim.backend "local" in ${local}`,
    );
    expect(r.code).toBe(1);
    const flag = await cli([...run, '--turns', '2', '--user-base-url', NOWHERE]);
    expect(flag.stderr).toContain(
      "gtalign eval run: --user-base-url goes with --user-backend openai, not the assistant's --backend local (default)",
    );
    expect(flag.code).toBe(2);
    const openai = await settings({ sim: { backend: 'openai' } });
    const none = await cli([...run, '--config', openai, '--turns', '2']);
    expect(none.stderr).toContain(
      `gtalign eval run: sim.backend "openai" in ${openai} needs --user-base-url URL and --user-model NAME`,
    );
    expect(none.code).toBe(1);
  });
});

describe('look-ahead', () => {
  const score = ['reward', 'score', '--input', 'x.jsonl', '--judge', 'offline'];

  it("the settings file's look-ahead without its policy server names the file's key", async () => {
    const file = await settings({ lookahead: { turns: 2 } });
    const r = await cli([...score, '--config', file]);
    expect(r.stderr).toContain(
      `gtalign reward score: lookahead.turns 2 in ${file} needs --policy-url URL and --policy-model NAME`,
    );
    expect(r.code).toBe(1);
    const flag = await cli([...score, '--lookahead', '2', '--policy-url', NOWHERE]);
    expect(flag.stderr).toContain('gtalign reward score: --lookahead 2 needs --policy-model NAME');
    expect(flag.code).toBe(2);
  });

  it("a look-ahead flag with the settings file's look-ahead of 0 names the file's key", async () => {
    const file = await settings({ lookahead: { turns: 0 } });
    const r = await cli([...score, '--config', file, '--persona', 'terse']);
    expect(r.stderr).toContain(
      `gtalign reward score: --persona goes with --lookahead K (K ≥ 1), not lookahead.turns 0 in ${file}`,
    );
    expect(r.code).toBe(1);
  });
});

describe('judge', () => {
  const score = ['reward', 'score', '--input', 'x.jsonl'];

  it('a judge URL from the environment without a model names the variable', async () => {
    const r = await cli(score, { GTALIGN_JUDGE_URL: NOWHERE });
    expect(r.stderr).toContain(
      'gtalign reward score: the judge URL ($GTALIGN_JUDGE_URL) needs --judge-model',
    );
    expect(r.code).toBe(1);
    const flag = await cli([...score, '--judge-url', NOWHERE]);
    expect(flag.stderr).toContain('gtalign reward score: --judge-url needs --judge-model');
    expect(flag.code).toBe(2);
  });

  it("a live judge's flag with the settings file's offline judge names the file's key", async () => {
    const file = await settings({ judge: { mode: 'offline' } });
    const r = await cli([...score, '--config', file, '--judge-model', 'm']);
    expect(r.stderr).toContain(
      `gtalign reward score: the offline judge (judge.mode in ${file}) calls no judge, so --judge-model would be ignored`,
    );
    expect(r.code).toBe(1);
  });

  it('a judge URL flag with the local judge of the environment names the variable', async () => {
    const args = [...score, '--judge-model', join(dir, 'judge.gguf'), '--judge-url', NOWHERE];
    const r = await cli(args, { GTALIGN_JUDGE_BACKEND: 'local' });
    expect(r.stderr).toContain(
      'gtalign reward score: the local judge ($GTALIGN_JUDGE_BACKEND) takes no --judge-url',
    );
    expect(r.code).toBe(1);
  });

  it("--concurrency (the judge's calls in flight) with the offline judge is refused, not ignored", async () => {
    const r = await cli([...score, '--judge', 'offline', '--concurrency', '4']);
    expect(r.stderr).toContain(
      'gtalign reward score: --judge offline calls no judge, so --concurrency would be ignored',
    );
    expect(r.code).toBe(2);
    const run = ['eval', 'run', '--data', 'x.jsonl', '--out', 'y', '--judge', 'offline'];
    const evalRun = await cli([...run, '--judge-concurrency', '4']);
    expect(evalRun.stderr).toContain(
      'gtalign eval run: --judge offline calls no judge, so --judge-concurrency would be ignored',
    );
    expect(evalRun.code).toBe(2);
    // From the environment it is a live judge's setting for other runs: left aside.
    const env = await cli([...score, '--judge', 'offline'], { GTALIGN_JUDGE_CONCURRENCY: '4' });
    expect(env.stderr).not.toContain('would be ignored');
  });
});

describe('servers', () => {
  const serve = ['reward', 'serve', '--judge', 'offline'];

  it('an open interface from the environment without keys names the variable', async () => {
    const r = await cli(serve, { GTALIGN_HOST: '0.0.0.0' });
    expect(r.stderr).toContain('gtalign reward serve: host 0.0.0.0 (from $GTALIGN_HOST) is reachable');
    expect(r.code).toBe(1);
    const flag = await cli([...serve, '--host', '0.0.0.0']);
    expect(flag.stderr).toContain('gtalign reward serve: --host 0.0.0.0 is reachable');
    expect(flag.code).toBe(2);
  });

  it("the settings file's key variable, unset, names the file's key", async () => {
    const file = await settings({ server: { apiKeyEnv: 'NO_SUCH_KEYS' } });
    const r = await cli([...serve, '--config', file]);
    expect(r.stderr).toContain(
      `gtalign reward serve: api-key-env NO_SUCH_KEYS (from server.apiKeyEnv in ${file}): the variable is unset`,
    );
    expect(r.code).toBe(1);
  });
});

describe('mcp', () => {
  it('--port with the stdio transport of the environment names the variable', async () => {
    const r = await cli(['mcp', '--port', '9999'], { GTALIGN_MCP_TRANSPORT: 'stdio' });
    expect(r.stderr).toContain(
      'gtalign mcp: --port goes with --transport http, not $GTALIGN_MCP_TRANSPORT=stdio',
    );
    expect(r.code).toBe(1);
  });
});

describe('prompt', () => {
  it('the trained prompt of the environment without its source names the variable', async () => {
    const r = await cli(['chat', 'When?'], { GTALIGN_PROMPT: 'trained' });
    expect(r.stderr).toContain('gtalign chat: $GTALIGN_PROMPT=trained needs --prompt-from FILE');
    expect(r.code).toBe(1);
  });

  it("--prompt-from with the settings file's prompt names the file's key", async () => {
    const file = await settings({ prompt: { profile: 'gtalign' } });
    const r = await cli(['chat', 'When?', '--config', file, '--prompt-from', join(dir, 'x.parquet')]);
    expect(r.stderr).toContain(
      `gtalign chat: --prompt-from goes with --prompt trained, not prompt.profile "gtalign" in ${file}`,
    );
    expect(r.code).toBe(1);
  });
});

describe('data export', () => {
  it("--label with the settings file's format names the file's key", async () => {
    const file = await settings({ dataExport: { format: 'verl' } });
    const r = await cli([
      'data',
      'export',
      '--config',
      file,
      '--label',
      'json',
      '--out',
      join(dir, 'y.jsonl'),
      'x',
    ]);
    expect(r.stderr).toContain(
      `gtalign data export: --label applies to --format openrlhf only, not dataExport.format "verl" in ${file}`,
    );
    expect(r.code).toBe(1);
  });

  it("a JSONL format with the settings file's parquet name names the file's key", async () => {
    const file = await settings({ dataExport: { out: 'train.parquet' } });
    const r = await cli(['data', 'export', '--config', file, '--format', 'areal', 'x']);
    const out = join(dir, 'train.parquet');
    expect(r.stderr).toContain(
      `gtalign data export: --format areal writes JSONL, not parquet: give an --out path ending in .jsonl (not dataExport.out "${out}" in ${file})`,
    );
    expect(r.code).toBe(1);
  });
});

describe('reward score', () => {
  it("the settings file's output that is the input names the file's key, and the input is left whole", async () => {
    const input = join(dir, 'in.jsonl');
    await writeFile(input, '{"kept": true}\n');
    const file = await settings({ rewardScore: { output: 'in.jsonl' } });
    const r = await cli(['reward', 'score', '--config', file, '--input', input, '--judge', 'offline']);
    expect(r.stderr).toContain(
      `gtalign reward score: rewardScore.output "${input}" in ${file} is the input file (--input ${input})`,
    );
    expect(r.code).toBe(1);
    expect(await readFile(input, 'utf8')).toBe('{"kept": true}\n');
  });
});

describe('game analyze', () => {
  it("the settings file's strategies that do not fit together name the file's key", async () => {
    const file = await settings({ game: { rows: 'A,A' } });
    const matrix = '{"DQ_DA": {"LLM": 1, "user": 1}}';
    const r = await runCliInProcess(['game', 'analyze', '--config', file], { stdin: matrix, env: CLEAN });
    expect(r.stderr).toContain(`gtalign game analyze: game.rows in ${file}: duplicate user strategy "A"`);
    expect(r.code).toBe(1);
    const flag = await runCliInProcess(['game', 'analyze', '--rows', 'A,A'], { stdin: matrix, env: CLEAN });
    expect(flag.stderr).toContain('gtalign game analyze: --rows/--columns: duplicate user strategy "A"');
    expect(flag.code).toBe(2);
  });
});

describe('eval sweep', () => {
  it("the settings file's sweep range that cannot be read names the file's key", async () => {
    const file = await settings({ evalSweep: { policyParam: ['bogus'] } });
    const r = await cli([
      'eval',
      'sweep',
      '--config',
      file,
      '--data',
      'x',
      '--out',
      'y',
      '--judge',
      'offline',
    ]);
    expect(r.stderr).toContain(
      `gtalign eval sweep: evalSweep.policyParam in ${file}: "bogus": expected NAME=FROM:TO:STEPS`,
    );
    expect(r.code).toBe(1);
  });
});
