import { describe, expect, it } from 'vitest';
import { parseParamRange, planSweep, rangeValues, SweepError } from '../../src/eval/sweep.js';
import { parsePolicy } from '../../src/steering/policy.js';
import { PRESETS } from '../../src/steering/presets.js';

describe('sweep plans', () => {
  it('reads NAME=FROM:TO:STEPS and spaces the values evenly, ends included', () => {
    const r = parseParamRange('pricePerMillionOutput=0:60:7');
    expect(r).toEqual({ name: 'pricePerMillionOutput', from: 0, to: 60, steps: 7 });
    expect(rangeValues(r)).toEqual([0, 10, 20, 30, 40, 50, 60]);
    expect(rangeValues(parseParamRange('userTimeCostPerTurn=0:0.3:4'))).toEqual([0, 0.1, 0.2, 0.3]);
    expect(rangeValues(parseParamRange('computeCostPerMillion=5:5:1'))).toEqual([5]);
  });

  it('names what is wrong in a range', () => {
    const bad = (text: string) => () => parseParamRange(text);
    expect(bad('0:1:2')).toThrow(/expected NAME=FROM:TO:STEPS/);
    expect(bad('temperature=0:1:2')).toThrow(/"temperature" is not a pricing field/);
    expect(bad('computeCostPerMillion=0:1')).toThrow(/got 2 part\(s\)/);
    expect(bad('computeCostPerMillion=-1:1:3')).toThrow(/FROM must be a number ≥ 0, got "-1"/);
    expect(bad('computeCostPerMillion=0:1:0')).toThrow(/STEPS must be an integer from 1 to 1000/);
    // Refused before any plan is made, not after a billion points fill the memory.
    expect(bad('computeCostPerMillion=0:1:1000000000')).toThrow(
      /STEPS must be an integer from 1 to 1000 .*"1000000000"/,
    );
    expect(rangeValues(parseParamRange('computeCostPerMillion=0:999:1000'))).toHaveLength(1000);
    expect(bad('computeCostPerMillion=0:1:1')).toThrow(/one step needs FROM = TO/);
  });

  it('sets the swept fields in the base pricing policy, several fields moving together', () => {
    const plan = planSweep(PRESETS.api, [
      parseParamRange('pricePerMillionOutput=0:30:3'),
      parseParamRange('computeCostPerMillion=0:12:3'),
    ]);
    expect(plan.map((p) => p.run)).toEqual([
      'pricePerMillionOutput=0,computeCostPerMillion=0',
      'pricePerMillionOutput=15,computeCostPerMillion=6',
      'pricePerMillionOutput=30,computeCostPerMillion=12',
    ]);
    const last = plan[2]!.policy;
    expect(last).toMatchObject({
      kind: 'pricing',
      billing: 'per-token',
      pricePerMillionOutput: 30,
      computeCostPerMillion: 12,
      pricePerMillionInput: 3,
    });
    expect(plan[0]!.value).toBe(0);
    expect(plan[2]!.values).toEqual({ pricePerMillionOutput: 30, computeCostPerMillion: 12 });
  });

  it("sweeps a free-billing policy (no currency) over the user's time cost", () => {
    const base = parsePolicy({ name: 'time', billing: 'free' });
    const plan = planSweep(base, [parseParamRange('userTimeCostPerTurn=0:1:3')]);
    expect(plan.map((p) => p.policy)).toMatchObject(
      [0, 0.5, 1].map((t) => ({ billing: 'free', userTimeCostPerTurn: t })),
    );
  });

  it('refuses points whose values are alike to 12 digits, which would share one run folder', () => {
    expect(() =>
      planSweep(PRESETS.api, [parseParamRange('computeCostPerMillion=1:1.0000000000001:3')]),
    ).toThrow(/sweep points 1 and 2 both have computeCostPerMillion=1 .*widen the range or use fewer STEPS/);
  });

  it('refuses a base that is not a pricing policy, unequal steps, and a point the policy rules forbid', () => {
    const range = parseParamRange('computeCostPerMillion=0:1:2');
    expect(() => planSweep(PRESETS['paper-api'], [range])).toThrow(SweepError);
    expect(() => planSweep(PRESETS.api, [range, parseParamRange('userTimeCostPerTurn=0:1:3')])).toThrow(
      /same STEPS/,
    );
    // Subscription billing has no per-token price: the point names itself and the field.
    expect(() => planSweep(PRESETS.subscription, [parseParamRange('pricePerMillionOutput=0:10:2')])).toThrow(
      /sweep point pricePerMillionOutput=10: .*pricePerMillionOutput/,
    );
  });
});
