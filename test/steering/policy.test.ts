import { describe, expect, it } from 'vitest';
import { compilePolicy, parsePolicy, SteeringError } from '../../src/steering/index.js';

const API = {
  billing: 'per-token',
  pricePerMillionInput: 3,
  pricePerMillionOutput: 15,
  utilityPerCurrency: 50,
};

/** The issues a bad policy is rejected with. */
function issuesOf(input: unknown): { path: string; message: string }[] {
  try {
    parsePolicy(input);
  } catch (e) {
    expect(e).toBeInstanceOf(SteeringError);
    return [...(e as SteeringError).issues];
  }
  throw new Error('expected the policy to be rejected');
}

describe('pricing policy schema', () => {
  it('rejects a negative price, naming the field and the value', () => {
    expect(issuesOf({ ...API, pricePerMillionInput: -1 })).toEqual([
      { path: 'pricePerMillionInput', message: 'must be ≥ 0 (currency per 1M input tokens), got -1' },
    ]);
    expect(() => parsePolicy({ ...API, pricePerMillionInput: -1 })).toThrowError(
      'invalid steering policy: pricePerMillionInput: must be ≥ 0 (currency per 1M input tokens), got -1',
    );
  });

  it('rejects an unknown billing, listing the known ones', () => {
    expect(issuesOf({ ...API, billing: 'monthly' })).toEqual([
      { path: 'billing', message: 'must be one of "subscription", "per-token", "free", got "monthly"' },
    ]);
    expect(issuesOf({ utilityPerCurrency: 1 })).toEqual([{ path: 'billing', message: 'required' }]);
  });

  it('rejects a value of the wrong type, naming the field', () => {
    expect(issuesOf({ ...API, pricePerMillionOutput: '15' })).toEqual([
      {
        path: 'pricePerMillionOutput',
        message: 'must be a finite number (currency per 1M output tokens), got "15"',
      },
    ]);
    expect(issuesOf({ ...API, utilityPerCurrency: 0 })[0]).toMatchObject({ path: 'utilityPerCurrency' });
    expect(issuesOf({ ...API, payer: 'me' })[0]).toMatchObject({
      path: 'payer',
      message: 'must be one of "user", "provider", "nobody", got "me"',
    });
  });

  it('reports a misspelt field where it is instead of ignoring it', () => {
    expect(issuesOf({ ...API, pricePerMilionOutput: 15 })).toEqual([
      { path: 'pricePerMilionOutput', message: 'unknown field' },
    ]);
  });

  it('reports every problem at once', () => {
    const paths = issuesOf({
      billing: 'per-token',
      pricePerMillionInput: -3,
      computeCostPerMillion: 'x',
    }).map((i) => i.path);
    expect(paths).toEqual(['pricePerMillionInput', 'computeCostPerMillion']);
  });

  it('refuses a "__proto__" cell or action, which a record copy would drop unseen', () => {
    // JSON.parse gives "__proto__" as an own key, as a policy file or HTTP body would.
    const cells = JSON.parse('{"kind": "fixed", "cells": {"__proto__": {"user": 5}}}');
    expect(() => parsePolicy(cells)).toThrowError(
      'invalid steering policy: cells.__proto__: not a cell of the game',
    );
    const columns = JSON.parse('{"kind": "fixed", "columns": {"__proto__": {"LLM": 1}}}');
    expect(() => parsePolicy(columns)).toThrowError(/columns\.__proto__: not an action of the game/);
  });

  it('refuses, before any call, prices and factors whose edits pass the largest number', () => {
    const huge = parsePolicy({
      billing: 'per-token',
      payer: 'user',
      pricePerMillionInput: 1e300,
      pricePerMillionOutput: 1e300,
      utilityPerCurrency: 1e300,
    });
    expect(() => compilePolicy(huge)).toThrowError(
      /invalid steering policy: cells\.DQ_DA\.LLM: the policy's edit is Infinity: its prices or factors are too large/,
    );
  });

  it('rejects a non-object', () => {
    expect(() => parsePolicy([1])).toThrowError(/a policy must be a JSON object .*, got an array/);
    expect(() => parsePolicy(null)).toThrowError(/got null/);
  });
});

describe('how billing and payer fit together', () => {
  it('per-token needs both prices and a utility conversion; the payer defaults to the user', () => {
    expect(issuesOf({ billing: 'per-token' })).toEqual([
      { path: 'pricePerMillionInput', message: 'required for per-token billing (currency per 1M tokens)' },
      { path: 'pricePerMillionOutput', message: 'required for per-token billing (currency per 1M tokens)' },
      {
        path: 'utilityPerCurrency',
        message: 'required for per-token billing: payoff units per unit of currency (the presets use 50)',
      },
    ]);
    expect(parsePolicy(API)).toMatchObject({
      payer: 'user',
      computeCostPerMillion: 0,
      userTimeCostPerTurn: 0,
    });
    expect(issuesOf({ ...API, payer: 'nobody' })[0]!.path).toBe('payer');
  });

  it('subscription charges nothing per token: a price or a paying user is a contradiction', () => {
    const sub = { billing: 'subscription', computeCostPerMillion: 6, utilityPerCurrency: 50 };
    expect(parsePolicy(sub)).toMatchObject({
      payer: 'provider',
      pricePerMillionOutput: 0,
      computeCostPerMillionInput: 6,
    });
    expect(issuesOf({ ...sub, pricePerMillionOutput: 15 })[0]).toMatchObject({
      path: 'pricePerMillionOutput',
      message: expect.stringContaining('subscription charges nothing per token'),
    });
    expect(issuesOf({ ...sub, payer: 'user' })[0]).toMatchObject({
      path: 'payer',
      message: expect.stringContaining('under subscription the user pays a flat fee'),
    });
    expect(parsePolicy({ ...sub, pricePerMillionInput: 0, payer: 'provider' })).toMatchObject({
      payer: 'provider',
    });
  });

  it('free has no token costs at all and needs no utility conversion', () => {
    expect(parsePolicy({ billing: 'free' })).toMatchObject({ payer: 'nobody', utilityPerCurrency: 0 });
    expect(issuesOf({ billing: 'free', computeCostPerMillion: 2 })[0]).toMatchObject({
      path: 'computeCostPerMillion',
      message: expect.stringContaining('free billing has no token costs'),
    });
    expect(issuesOf({ billing: 'free', payer: 'provider' })[0]).toMatchObject({
      path: 'payer',
      message: expect.stringContaining('is billing "subscription" with computeCostPerMillion'),
    });
  });
});

describe('fixed-edit and none policies', () => {
  it('reads a fixed edit, filling omitted parties with 0', () => {
    expect(parsePolicy({ kind: 'fixed', all: { user: -1 }, columns: { DA: { LLM: 2 } } })).toEqual({
      kind: 'fixed',
      all: { LLM: 0, user: -1 },
      columns: { DA: { LLM: 2, user: 0 } },
    });
    expect(parsePolicy({ kind: 'none' })).toEqual({ kind: 'none' });
  });

  it('reads per-cell edits of a fixed edit, and a cell the game does not have is an error naming it', () => {
    const policy = parsePolicy({
      kind: 'fixed',
      all: { LLM: 1 },
      cells: { DQ_CQ: { user: -2 }, VQ_DA: { LLM: 0.5 } },
    });
    expect(policy).toEqual({
      kind: 'fixed',
      all: { LLM: 1, user: 0 },
      columns: {},
      cells: { DQ_CQ: { LLM: 0, user: -2 }, VQ_DA: { LLM: 0.5, user: 0 } },
    });
    const edits = compilePolicy(policy);
    expect(edits.cells.DQ_CQ).toEqual({ LLM: 1, user: -2 });
    expect(edits.cells.VQ_DA).toEqual({ LLM: 1.5, user: 0 });
    expect(edits.cells.DQ_DA).toEqual({ LLM: 1, user: 0 });
    expect(edits.explanation.DQ_CQ!.user).toContain('-2 for DQ_CQ (fixed edit)');
    let error: unknown;
    try {
      compilePolicy(parsePolicy({ kind: 'fixed', cells: { DQ_XX: { LLM: 1 } } }));
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(SteeringError);
    expect((error as SteeringError).issues).toEqual([
      { path: 'cells.DQ_XX', message: expect.stringContaining('not a cell of the game') },
    ]);
    expect(issuesOf({ kind: 'fixed', cells: { DQ_CQ: { LLM: 'x' } } })).toEqual([
      { path: 'cells.DQ_CQ.LLM', message: 'must be a finite number, got "x"' },
    ]);
  });

  it('names the bad field inside a fixed edit', () => {
    expect(issuesOf({ kind: 'fixed', columns: { DA: { LLM: 'x' } } })).toEqual([
      { path: 'columns.DA.LLM', message: 'must be a finite number, got "x"' },
    ]);
    expect(issuesOf({ kind: 'none', billing: 'free' })).toEqual([
      { path: 'billing', message: 'unknown field' },
    ]);
  });
});
