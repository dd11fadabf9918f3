/**
 * The loader: defaults < settings file < environment < flags, one set of parsing rules for all four, and
 * errors that name where a bad value came from (the flag, the variable, the file and key).
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { beforeEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/errors.js';
import { type LoadOptions, loadSettings } from '../../src/config/load.js';
import { group } from '../../src/config/setting.js';
import { API_KEY } from '../../src/config/settings/backend.js';
import { DATA } from '../../src/config/settings/eval.js';
import { MAX_TOKENS } from '../../src/config/settings/generation.js';
import { ALL_SETTINGS } from '../../src/config/settings/index.js';
import { AGGREGATE, ALPHA, REWARD_CONFIG } from '../../src/config/settings/reward.js';
import { ACCESS_LOG, PORT } from '../../src/config/settings/server.js';
import { LOOKAHEAD_PRICING } from '../../src/config/settings/sim.js';
import { POLICY, PROFILE, RULE } from '../../src/config/settings/steering.js';
import { bodies, type Json } from '../support/json-mutations.js';

const SETTINGS = [
  group('Test', [MAX_TOKENS, RULE, PROFILE, DATA, PORT, API_KEY, REWARD_CONFIG, AGGREGATE, ALPHA]),
] as const;

let cwd: string;
beforeEach(async () => {
  cwd = await mkdtemp(join(tmpdir(), 'gtalign-config-'));
});

/** Loads SETTINGS in `cwd` with an environment of only `env`. */
function load(
  args: string[],
  env: Record<string, string | undefined> = {},
  extra: Partial<LoadOptions> = {},
) {
  return loadSettings(SETTINGS, { args, env, cwd, known: ALL_SETTINGS, ...extra });
}

async function settingsFile(content: unknown, name = 'gtalign.config.json'): Promise<string> {
  const path = join(cwd, name);
  await writeFile(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
}

async function failure(p: Promise<unknown>): Promise<ConfigError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ConfigError);
  return err as ConfigError;
}

describe('precedence: default < file < environment < flag', () => {
  it('takes the default when nothing else is given', async () => {
    const r = await load([]);
    expect(r.values['max-tokens']).toBe(1024);
    expect(r.sources['max-tokens']).toEqual({ kind: 'default' });
    expect(r.file).toBeUndefined();
  });

  it('takes ./gtalign.config.json over the default', async () => {
    await settingsFile({ generation: { maxTokens: 512 } });
    const r = await load([]);
    expect(r.values['max-tokens']).toBe(512);
    expect(r.sources['max-tokens']).toEqual({ kind: 'file', path: 'gtalign.config.json' });
  });

  it('takes the environment over the file', async () => {
    await settingsFile({ generation: { maxTokens: 512 } });
    const r = await load([], { GTALIGN_MAX_TOKENS: '256' });
    expect(r.values['max-tokens']).toBe(256);
    expect(r.sources['max-tokens']).toEqual({ kind: 'env', name: 'GTALIGN_MAX_TOKENS' });
  });

  it('takes the flag over the environment', async () => {
    await settingsFile({ generation: { maxTokens: 512 } });
    const r = await load(['--max-tokens', '128'], { GTALIGN_MAX_TOKENS: '256' });
    expect(r.values['max-tokens']).toBe(128);
    expect(r.sources['max-tokens']).toEqual({ kind: 'flag' });
  });

  it('counts an empty variable as unset', async () => {
    await settingsFile({ generation: { maxTokens: 512 } });
    const r = await load([], { GTALIGN_MAX_TOKENS: '' });
    expect(r.values['max-tokens']).toBe(512);
  });

  it('reads the first of several variables that is set', async () => {
    expect((await load([], { OPENAI_API_KEY: 'sk-b' })).sources['api-key']).toEqual({
      kind: 'env',
      name: 'OPENAI_API_KEY',
    });
    const both = await load([], { GTALIGN_API_KEY: 'sk-a', OPENAI_API_KEY: 'sk-b' });
    expect(both.values['api-key']).toBe('sk-a');
  });
});

describe('the settings file', () => {
  it('is the one --config or $GTALIGN_CONFIG names, instead of ./gtalign.config.json', async () => {
    await settingsFile({ generation: { maxTokens: 512 } });
    const other = await settingsFile({ generation: { maxTokens: 64 } }, 'other.json');
    expect((await load(['--config', other])).values['max-tokens']).toBe(64);
    const r = await load([], { GTALIGN_CONFIG: other });
    expect(r.values['max-tokens']).toBe(64);
    expect(r.file).toBe(other);
  });

  it('must exist when named', async () => {
    const err = await failure(load(['--config', 'missing.json']));
    expect(err.message).toBe('cannot read --config missing.json: no such file');
    expect(err.code).toBe('input');
    const env = await failure(load([], { GTALIGN_CONFIG: 'gone.json' }));
    expect(env.message).toBe('cannot read GTALIGN_CONFIG=gone.json: no such file');
  });

  it('reads a file saved with a byte order mark', async () => {
    await settingsFile('\uFEFF{"generation": {"maxTokens": 5}}');
    expect((await load([])).values['max-tokens']).toBe(5);
  });

  it('names the line and column of a comment, which JSON does not have', async () => {
    await settingsFile('{\n  "generation": {"maxTokens": 5}\n  // "x": "a//b"\n}');
    expect((await failure(load([]))).message).toMatch(
      /^gtalign\.config\.json: not valid JSON: .* \(line 3, column 3: JSON has no comments\)$/,
    );
    await settingsFile('// settings\n{"generation": {"maxTokens": 5}}');
    expect((await failure(load([]))).message).toMatch(/\(line 1, column 1: JSON has no comments\)$/);
  });

  it('names the line and column of a token V8 gives no position for (a NaN, as Python writes one)', async () => {
    await settingsFile('{\n  "eval": {"temperature": NaN}\n}');
    expect((await failure(load([]))).message).toMatch(/not valid JSON: [\s\S]* \(line 2, column 27\)$/);
  });

  it('names the line and column of bad JSON', async () => {
    await settingsFile('{\n  "generation": {"maxTokens": 5,}\n}');
    expect((await failure(load([]))).message).toMatch(/^gtalign\.config\.json: not valid JSON: .*line 2/);
  });

  it('rejects unknown keys, naming the file and the key, with the key that was meant', async () => {
    await settingsFile({ generation: { maxTokens: 5 }, maxTokens: 3 });
    // Every known key ending in maxTokens is offered (generation's, and the simulated user's).
    expect((await failure(load([]))).message).toMatch(
      /^gtalign\.config\.json: unknown key "maxTokens"; did you mean generation\.maxTokens( or [\w.]+\.maxTokens)*\?$/,
    );
    await settingsFile({ judge: { timout: 5 } });
    expect((await failure(load([]))).message).toBe(
      'gtalign.config.json: unknown key "judge.timout"; did you mean judge.timeout?',
    );
    await settingsFile({ judge: { frobnicate: 5 } });
    expect((await failure(load([]))).message).toBe('gtalign.config.json: unknown key "judge.frobnicate"');
    await settingsFile({ generation: 5 });
    expect((await failure(load([]))).message).toBe(
      'gtalign.config.json: generation: must be an object of settings',
    );
  });

  it('points reward weights at the top level (an old --config weights file) to "reward" and --reward-config', async () => {
    await settingsFile({ user: { answer: 0.6 } });
    expect((await failure(load([]))).message).toBe(
      'gtalign.config.json: unknown key "user"; it belongs inside "reward" (or pass such a file with --reward-config FILE)',
    );
  });

  it('refuses API keys: they come from the environment only', async () => {
    await settingsFile({ backend: { apiKey: 'sk-secret' } });
    const err = await failure(load([]));
    expect(err.message).toBe(
      'gtalign.config.json: backend.apiKey: secrets are not read from files; set GTALIGN_API_KEY or OPENAI_API_KEY',
    );
    expect(err.message).not.toContain('sk-secret');
  });

  it('checks every setting in it, also those the command does not take', async () => {
    await settingsFile({ judge: { timeout: 'soon' } });
    expect((await failure(load([]))).message).toBe(
      'gtalign.config.json: judge.timeout: must be a positive integer, got "soon"',
    );
  });

  it("reads numbers written as strings by the flags' rules, and takes paths from its own folder", async () => {
    await mkdir(join(cwd, 'conf'));
    const path = await settingsFile(
      {
        generation: { maxTokens: '300' },
        steering: { profile: 'profile.json' },
        eval: { data: ['a.jsonl', 'b/*.jsonl'] },
      },
      'conf/settings.json',
    );
    const r = await load(['--config', path]);
    expect(r.values['max-tokens']).toBe(300);
    expect(r.values.profile).toBe(join(cwd, 'conf', 'profile.json'));
    expect(r.values.data).toEqual([join(cwd, 'conf', 'a.jsonl'), join(cwd, 'conf', 'b/*.jsonl')]);
  });

  it("takes from its own folder a policy file and the access log, and leaves preset names and '-' as they are", async () => {
    await mkdir(join(cwd, 'conf'));
    const named = [group('Test', [POLICY, LOOKAHEAD_PRICING, ACCESS_LOG])] as const;
    const read = (content: unknown) =>
      settingsFile(content, 'conf/settings.json').then((path) =>
        loadSettings(named, { args: ['--config', path], env: {}, cwd, known: ALL_SETTINGS }),
      );
    const files = await read({
      steering: { policy: 'policies/mine.json' },
      lookahead: { pricing: 'future.json' },
      server: { accessLog: 'logs/access.log' },
    });
    expect(files.values.policy).toBe(join(cwd, 'conf', 'policies', 'mine.json'));
    expect(files.values['lookahead-pricing']).toBe(join(cwd, 'conf', 'future.json'));
    expect(files.values['access-log']).toBe(join(cwd, 'conf', 'logs', 'access.log'));
    const names = await read({
      steering: { policy: 'paper-api' },
      lookahead: { pricing: 'none' },
      server: { accessLog: '-' },
    });
    expect(names.values.policy).toBe('paper-api');
    expect(names.values['lookahead-pricing']).toBe('none');
    expect(names.values['access-log']).toBe('-');
    // A bare word that names no file there stays as written, so a mistyped preset is still called one.
    const typo = await read({ steering: { policy: 'subscripton' } });
    expect(typo.values.policy).toBe('subscripton');
  });
});

describe('errors name where the bad value came from', () => {
  it('a flag', async () => {
    const err = await failure(load(['--max-tokens', 'abc']));
    expect(err.message).toBe("--max-tokens must be a positive integer, got 'abc'");
    expect(err.code).toBe('usage');
    expect((await failure(load(['--port', '70000']))).message).toBe(
      "--port must be an integer from 0 to 65535, got '70000'",
    );
    expect((await failure(load(['--rule', 'nope']))).message).toMatch(
      /^unknown --rule 'nope' \(one of sum, /,
    );
    expect((await failure(load(['--frobnicate']))).message).toBe("Unknown option '--frobnicate'");
    // A typo of a flag this command takes is named with the flag meant.
    expect((await failure(load(['--max-token', '5']))).message).toBe(
      "Unknown option '--max-token'; did you mean --max-tokens?",
    );
    expect((await failure(load(['--Port=80']))).message).toBe(
      "Unknown option '--Port'; did you mean --port?",
    );
  });

  it('a number in another base than 10 (which Number() would read)', async () => {
    expect((await failure(load(['--max-tokens', '0x10']))).message).toBe(
      "--max-tokens must be a positive integer, got '0x10'",
    );
    expect((await failure(load(['--port', '0b1']))).message).toMatch(/^--port must be an integer/);
    expect((await load(['--max-tokens', '1e2'])).values['max-tokens']).toBe(100);
    expect((await load(['--max-tokens', ' 64 '])).values['max-tokens']).toBe(64);
  });

  it('an environment variable', async () => {
    const err = await failure(load([], { GTALIGN_MAX_TOKENS: 'abc' }));
    expect(err.message).toBe('GTALIGN_MAX_TOKENS=abc: must be a positive integer');
    expect(err.code).toBe('input');
    expect((await failure(load([], { GTALIGN_PORT: '-1' }))).message).toBe(
      'GTALIGN_PORT=-1: must be an integer from 0 to 65535',
    );
  });

  it('the settings file and key', async () => {
    await settingsFile({ steering: { rule: 'best' } });
    const err = await failure(load([]));
    expect(err.message).toMatch(
      /^gtalign\.config\.json: steering\.rule: must be one of sum, .*, got "best"$/,
    );
    expect(err.code).toBe('input');
    await settingsFile({ generation: { maxTokens: 1.5 } });
    expect((await failure(load([]))).message).toBe(
      'gtalign.config.json: generation.maxTokens: must be a positive integer, got 1.5',
    );
    // Too large for a double: JSON.parse makes it Infinity, which is not shown as null.
    await settingsFile('{"generation": {"maxTokens": 1e999}}');
    expect((await failure(load([]))).message).toBe(
      'gtalign.config.json: generation.maxTokens: must be a positive integer, got Infinity',
    );
  });
});

describe('the reward configuration', () => {
  it('comes from the file\'s "reward" object, with the aggregator inside it', async () => {
    await settingsFile({ reward: { aggregator: { name: 'linear' }, user: { answer: 0.6 } } });
    const r = await load([]);
    expect(r.values['reward-config']).toEqual({ aggregator: { name: 'linear' }, user: { answer: 0.6 } });
    expect(r.values.aggregate).toBe('linear');
    expect(r.sources.aggregate).toEqual({ kind: 'file', path: 'gtalign.config.json' });
    expect(r.sources.alpha).toEqual({ kind: 'default' });
  });

  it("may be a path in the file, taken from the file's folder", async () => {
    await writeFile(join(cwd, 'weights.json'), JSON.stringify({ llm: { length: 0.1 } }));
    await settingsFile({ reward: 'weights.json' });
    expect((await load([])).values['reward-config']).toEqual({ llm: { length: 0.1 } });
  });

  it('is replaced as a whole by --reward-config FILE; --aggregate overrides either', async () => {
    await settingsFile({ reward: { aggregator: { name: 'linear' } } });
    const weights = join(cwd, 'w.json');
    await writeFile(weights, JSON.stringify({ user: { answer: 0.7 } }));
    const r = await load(['--reward-config', weights]);
    expect(r.values['reward-config']).toEqual({ user: { answer: 0.7 } });
    expect(r.values.aggregate).toBe('cobb-douglas');
    const f = await load(['--reward-config', weights, '--aggregate', 'user']);
    expect(f.values.aggregate).toBe('user');
    expect(f.sources.aggregate).toEqual({ kind: 'flag' });
  });

  it('names the file and the field of bad weights', async () => {
    await settingsFile({ reward: { user: { answer: 'high' } } });
    expect((await failure(load([]))).message).toMatch(/^gtalign\.config\.json: reward\.user\.answer: /);
    await rm(join(cwd, 'gtalign.config.json'));
    const weights = join(cwd, 'bad.json');
    await writeFile(weights, '{"k": -1}');
    const bad = await failure(load(['--reward-config', weights]));
    expect(bad.message).toMatch(new RegExp(`^--reward-config ${weights}: k: `));
    // The flag named a file that is there; its content is bad input (exit 1), as a missing file is.
    expect(bad.code).toBe('input');
    await writeFile(weights, '[1]');
    expect((await failure(load(['--reward-config', weights]))).message).toBe(
      `--reward-config ${weights}: must be a JSON object`,
    );
    expect((await failure(load(['--reward-config', join(cwd, 'none.json')]))).message).toMatch(
      /^cannot read --reward-config .*none\.json: no such file$/,
    );
  });

  it('names the weights file the settings file points to, and the field in it, for bad weights there', async () => {
    await writeFile(join(cwd, 'weights.json'), JSON.stringify({ user: { answer: 'high' } }));
    await settingsFile({ reward: 'weights.json' });
    const err = await failure(load([]));
    expect(err.message).toMatch(/^gtalign\.config\.json: reward: weights\.json: user\.answer: /);
    expect(err.code).toBe('input');
  });
});

describe('any settings file, any flags', () => {
  const valid: Json = {
    generation: { maxTokens: 512 },
    steering: { rule: 'product', profile: 'gtalign' },
    server: { port: 8080 },
    reward: { aggregator: { name: 'cobb-douglas', alpha: 0.25 } },
  };

  it('a file loads, or is refused with a ConfigError naming the file', async () => {
    const path = join(cwd, 'gtalign.config.json');
    await writeFile(path, JSON.stringify(valid));
    expect((await load([])).values).toMatchObject({
      'max-tokens': 512,
      rule: 'product',
      port: 8080,
      alpha: 0.25,
    });
    let refused = 0;
    let loaded = 0;
    await fc.assert(
      fc.asyncProperty(bodies(valid), async (content) => {
        await writeFile(path, JSON.stringify(content));
        const err = await load([]).then(
          () => undefined,
          (e: unknown) => e,
        );
        if (err === undefined) {
          loaded++;
          return;
        }
        refused++;
        expect(err, JSON.stringify(content)).toBeInstanceOf(ConfigError);
        expect((err as Error).message, JSON.stringify(content)).toContain('gtalign.config.json');
      }),
      { numRuns: 300, seed: 20261207 },
    );
    expect(refused).toBeGreaterThan(0);
    expect(loaded).toBeGreaterThan(0);
  });

  it('flags load, or are refused with a ConfigError', async () => {
    const word = fc.oneof(
      fc.constantFrom(
        '--max-tokens',
        '--rule',
        '--port',
        '--alpha',
        '--aggregate',
        '--data',
        '--',
        '-',
        '--=',
        '--no-rule',
      ),
      fc.constantFrom('512', '-1', '1e9', 'product', 'x', '', '0x10', '65536', 'NaN'),
      fc.string({ maxLength: 12 }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(word, { maxLength: 6 }), async (args) => {
        const err = await load(args).then(
          () => undefined,
          (e: unknown) => e,
        );
        if (err !== undefined) expect(err, JSON.stringify(args)).toBeInstanceOf(ConfigError);
      }),
      { numRuns: 500, seed: 20261207 },
    );
  });
});
