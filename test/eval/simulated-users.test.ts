/**
 * compareSimulatedUsers on hand-made config.json contents and records: each setting the conversation
 * config records is compared and said in words; a setting a run does not record is unknown, not a
 * difference; whether the user model is shared with the assistant is not a difference; personas are
 * compared by name, only those both runs define; held intents come from the shared records.
 */
import { describe, expect, it } from 'vitest';
import { compareSimulatedUsers, type UsersSide } from '../../src/eval/simulated-users.js';
import type { RunRecord } from '../../src/eval/types.js';
import { fingerprintOf, type SimulatorParts, simulatorFingerprint } from '../../src/sim/fingerprint.js';
import { intentOf } from '../../src/sim/intent.js';
import { BUILTIN_PERSONAS } from '../../src/sim/persona.js';
import { cleanReply, decideUser, simulateReply } from '../../src/sim/simulator.js';
import { rec } from './helpers.js';

/** config.json as `eval run --turns N` writes it, with `conversation` overriding its simulated users. */
function config(conversation: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    schema: 'gtalign.run/1',
    name: 'run',
    generation: {
      policy: 'api',
      conversation: {
        turns: 4,
        personas: [BUILTIN_PERSONAS.cooperative, BUILTIN_PERSONAS.terse],
        user: { kind: 'openai', model: 'Qwen/Qwen2.5-7B-Instruct', vendor: 'vllm', shared: false },
        userMaxTokens: 256,
        userTemperature: 0,
        userSeed: 1,
        discount: 0.9,
        simulator: 'sha256:0123456789abcdef',
        ...conversation,
      },
    },
  };
}

const side = (name: string, c: Record<string, unknown> | undefined): UsersSide => ({ name, config: c });

/** A conversation record whose user held meaning `index` of two. */
function held(id: string, index: number): RunRecord {
  return {
    ...rec(id, 'ambig_qa', { u: 1, l: 1 }),
    conversation: {
      persona: 'cooperative',
      per_turn: [],
      intent: { kind: 'meaning', meaning: { index, of: 2 } },
    },
  } as RunRecord;
}

const compare = (a: Record<string, unknown> | undefined, b: Record<string, unknown> | undefined) =>
  compareSimulatedUsers(side('a', a), side('b', b), [], []);

describe('compareSimulatedUsers', () => {
  it('the same settings: same, nothing to note (γ is not a user setting)', () => {
    expect(compare(config(), config({ discount: 0.5 }))).toEqual({
      same: true,
      differences: [],
      unknown: [],
      notes: [],
    });
  });

  it('each recorded setting, said as A vs B', () => {
    const got = compare(
      config(),
      config({
        turns: 6,
        userSeed: 7,
        userMaxTokens: 128,
        userTemperature: 0.7,
        simulator: 'sha256:fedcba9876543210',
      }),
    );
    expect(got.same).toBe(false);
    expect(got.differences.map((d) => d.text)).toEqual([
      'seed 1 vs 7',
      'max turns 4 vs 6',
      'user max tokens 256 vs 128',
      'user temperature 0 vs 0.7',
      'simulator sha256:0123456789abcdef vs sha256:fedcba9876543210',
    ]);
    expect(got.differences[0]).toEqual({ setting: 'userSeed', a: 1, b: 7, text: 'seed 1 vs 7' });
    expect(got.notes).toHaveLength(1);
    expect(got.notes[0]).toMatch(
      /^the simulated users differ \(seed 1 vs 7; max turns 4 vs 6; .*\): the differences between A and B are the users' as much as the assistants'/,
    );
  });

  it('the user model: its kind and model; sharing the assistant model is not a difference', () => {
    const shared = config({ user: { kind: 'openai', model: 'Qwen/Qwen2.5-7B-Instruct', shared: true } });
    expect(compare(config(), shared).same).toBe(true);
    const local = config({ user: { kind: 'local', model: '/models/user.gguf', shared: false } });
    expect(compare(config(), local).differences.map((d) => d.text)).toEqual([
      'user model openai "Qwen/Qwen2.5-7B-Instruct" vs local "/models/user.gguf"',
    ]);
  });

  it('personas: the definitions of names both runs hold, field by field', () => {
    const redefined = { ...BUILTIN_PERSONAS.cooperative, maxAnswers: 2, insists: true };
    const got = compare(config(), config({ personas: [redefined, BUILTIN_PERSONAS.verbose] }));
    expect(got.differences).toEqual([
      {
        setting: 'personas.cooperative',
        a: BUILTIN_PERSONAS.cooperative,
        b: redefined,
        text: "persona 'cooperative' defined differently (maxAnswers null vs 2, insists false vs true)",
      },
    ]);
    // terse and verbose are each in one run only: their conversations are not paired.
    expect(compare(config(), config({ personas: [BUILTIN_PERSONAS.verbose] })).same).toBe(true);
  });

  it('held intents from the shared records: how many differ', () => {
    const a = [held('q-0~cooperative', 0), held('q-1~cooperative', 1), held('q-2~cooperative', 0)];
    const b = [held('q-0~cooperative', 1), held('q-1~cooperative', 1), held('q-2~cooperative', 1)];
    const got = compareSimulatedUsers(side('a', config()), side('b', config()), a, b);
    expect(got.same).toBe(false);
    expect(got.differences).toEqual([
      { setting: 'intent', text: 'the intent held differs in 2 of 3 shared conversations' },
    ]);
    // Without config.json, a held intent that differs still tells the users apart.
    expect(compareSimulatedUsers(side('a', undefined), side('b', undefined), a, b).same).toBe(false);
  });

  it('not recorded: unknown, run by run, never a difference', () => {
    const before = config();
    delete (before.generation as { conversation: Record<string, unknown> }).conversation.simulator;
    const got = compare(before, config());
    expect(got).toEqual({
      same: null,
      differences: [],
      unknown: [{ setting: 'simulator', missing: ['a'] }],
      notes: [
        "cannot tell whether the simulated users were the same: A = a's config.json does not record simulator (a run from before gtalign recorded it)",
      ],
    });
    const none = compare(undefined, { schema: 'gtalign.run/1', generation: { policy: 'api' } });
    expect(none.same).toBeNull();
    expect(none.unknown).toContainEqual({ setting: 'userSeed', missing: ['a', 'b'] });
    expect(none.notes).toEqual([
      "cannot tell whether the simulated users were the same: A = a has no config.json; B = b's config.json records no simulated-user settings",
    ]);
    // A value of another shape than gtalign writes is compared as it is, without failing.
    expect(compare(config({ user: 'x', personas: 'y' }), config()).same).toBe(false);
  });
});

describe('simulatorFingerprint', () => {
  it('a short sha256 of the probes, that any change of the prompts, intents, rules or cleaning changes', async () => {
    const recorded = await simulatorFingerprint();
    expect(recorded).toMatch(/^sha256:[0-9a-f]{16}$/);
    const own = { intentOf, simulateReply, decideUser, cleanReply };
    expect(await fingerprintOf(own)).toBe(recorded);
    const variants: SimulatorParts[] = [
      // Another token limit for the user's replies.
      { ...own, simulateReply: (o, v, m, c) => simulateReply({ ...o, maxTokens: 128 }, v, m, c) },
      // Another wording of what the user wants.
      { ...own, intentOf: (row, seed) => ({ ...intentOf(row, seed), text: 'You want an answer.' }) },
      // Another rule: an AQ is never followed up.
      {
        ...own,
        decideUser: (s) => (s.action === 'AQ' ? { next: 'end', reason: 'no-follow-up' } : decideUser(s)),
      },
      // Another cleaning of the replies.
      { ...own, cleanReply: (t) => t.trim() },
    ];
    for (const v of variants) expect(await fingerprintOf(v)).not.toBe(recorded);
  });
});
