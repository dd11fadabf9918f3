import { mkdtemp, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PRESETS, SteeringError } from '../../src/steering/index.js';
import { loadPolicy, loadPolicyFile, loadProfileFile } from '../../src/steering/load.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gtalign-steering-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function file(name: string, text: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, text);
  return path;
}

describe('loading a policy from a JSON file', () => {
  it('reads a valid policy', async () => {
    const path = await file(
      'ok.json',
      JSON.stringify({
        billing: 'per-token',
        pricePerMillionInput: 0.5,
        pricePerMillionOutput: 1.5,
        utilityPerCurrency: 200,
      }),
    );
    expect(await loadPolicyFile(path)).toMatchObject({
      kind: 'pricing',
      billing: 'per-token',
      payer: 'user',
    });
  });

  it('names the file and the field when a field is wrong', async () => {
    const path = await file('neg.json', JSON.stringify({ billing: 'free', userTimeCostPerTurn: -2 }));
    const err = await loadPolicyFile(path).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SteeringError);
    expect((err as SteeringError).file).toBe(path);
    expect((err as Error).message).toBe(
      `invalid steering policy in ${JSON.stringify(path)}: userTimeCostPerTurn: must be ≥ 0 (payoff units per extra turn), got -2`,
    );
  });

  it('names the file and the line of a JSON syntax error', async () => {
    const path = await file('bad.json', '{\n  "billing": "free",\n  oops\n}');
    await expect(loadPolicyFile(path)).rejects.toThrowError(
      new RegExp(`^cannot read steering file in ${JSON.stringify(path)}: not valid JSON: .*line 3`),
    );
  });

  it('names the line and column of a token V8 gives no position for (a NaN, as Python writes it)', async () => {
    const path = await file('nan.json', '{\n  "billing": "free",\n  "userTimeCostPerTurn": NaN\n}');
    await expect(loadPolicyFile(path)).rejects.toThrowError(/not valid JSON: .*\(line 3, column 26\)$/s);
  });

  it('reads a policy and a profile saved with a byte order mark (as Windows editors save UTF-8)', async () => {
    const policy = await file('bom-policy.json', '\ufeff{"kind": "none"}');
    expect(await loadPolicyFile(policy)).toEqual({ kind: 'none' });
    const profile = await file('bom-profile.json', '\ufeff{"inputTokensPerTurn": 900}');
    expect(await loadProfileFile(profile)).toEqual({ inputTokensPerTurn: 900 });
  });

  it('refuses a file past 1 MiB by its size, reading no more of it (a policy is a few hundred bytes)', async () => {
    const path = join(dir, 'huge.json');
    await writeFile(path, '');
    await truncate(path, 600 * 1024 * 1024); // sparse; past 512 MiB the old reader failed inside V8
    await expect(loadPolicyFile(path)).rejects.toThrowError(
      `cannot read steering file in ${JSON.stringify(path)}: the file is larger than 1 MiB, the most it may hold`,
    );
    await rm(path);
  });

  it('refuses a field written twice, naming it and where, instead of steering by the last one', async () => {
    const path = await file(
      'twice.json',
      '{\n  "billing": "per-token",\n  "pricePerMillionInput": 3,\n  "pricePerMillionOutput": 15,\n  "utilityPerCurrency": 50,\n  "billing": "free"\n}',
    );
    await expect(loadPolicyFile(path)).rejects.toThrowError(
      `cannot read steering file in ${JSON.stringify(path)}: "billing" appears twice in one object (the second at line 6, column 3)`,
    );
  });

  it('names a missing file', async () => {
    const path = join(dir, 'absent.json');
    await expect(loadPolicyFile(path)).rejects.toThrowError(
      `cannot read steering file in ${JSON.stringify(path)}: no such file`,
    );
  });

  it('loadPolicy takes a preset name or a file path', async () => {
    expect(await loadPolicy('paper-api')).toBe(PRESETS['paper-api']);
    const path = await file('none.json', '{"kind": "none"}');
    expect(await loadPolicy(path)).toEqual({ kind: 'none' });
  });

  it('loadPolicy calls a bare word that names no file a mistyped preset, and lists the presets', async () => {
    await expect(loadPolicy('subscripton')).rejects.toThrowError(
      'unknown steering preset: "subscripton" (and no file of that name); known presets: none, subscription, api, paper-api, paper-subscription',
    );
    // A path (or a name with an extension) that names no file stays a missing file.
    await expect(loadPolicy('./nope.json')).rejects.toThrowError(/cannot read steering file .*no such file/);
  });
});

describe('loading a profile from a JSON file', () => {
  it('reads overrides and names the file and field of a bad one', async () => {
    const ok = await file('profile.json', '{"actions": {"CQ": {"extraTurns": 2}}}');
    expect(await loadProfileFile(ok)).toEqual({ actions: { CQ: { extraTurns: 2 } } });
    const bad = await file('profile-bad.json', '{"actions": {"CQ": {"outputTokens": "many"}}}');
    await expect(loadProfileFile(bad)).rejects.toThrowError(
      `invalid action profile in ${JSON.stringify(bad)}: actions.CQ.outputTokens: must be a finite number (tokens), got "many"`,
    );
  });
});
