/** The persona rules, the hidden intents drawn from rows, and the held-meaning check (pure, no I/O but hashing). */
import { describe, expect, it } from 'vitest';
import type { DatasetRow } from '../../src/data/row.js';
import { intentOf, meaningCorrect, meaningsOf } from '../../src/sim/intent.js';
import { BUILTIN_PERSONAS, PersonaError, parsePersonas, resolvePersonas } from '../../src/sim/persona.js';
import { decideUser, simulatorMessages } from '../../src/sim/simulator.js';

const row = (data_source: string, ground_truth: string, extra: Record<string, unknown> = {}): DatasetRow =>
  ({
    id: `${data_source}:test:1`,
    data_source,
    prompt: [{ role: 'user', content: 'Question: Who won the cup?' }],
    ground_truth,
    extra_info: { single_turn_prompt: 'Who won the cup?', ...extra },
    source: { file: 'x.jsonl', row: 0, line: 1 },
  }) as DatasetRow;

describe('decideUser', () => {
  const base = { turn: 1, maxTurns: 5, answers: 0, insisted: false, seed: 0, conversation: 'c' };
  it('ends on DA, answers CQ, and the impatient user answers once, insists once, then leaves', () => {
    const impatient = BUILTIN_PERSONAS.impatient!;
    expect(decideUser({ ...base, action: 'DA', persona: impatient })).toEqual({
      next: 'end',
      reason: 'answered',
    });
    expect(decideUser({ ...base, action: 'CQ', persona: impatient })).toEqual({ next: 'answer' });
    expect(decideUser({ ...base, action: 'CQ', answers: 1, persona: impatient })).toEqual({ next: 'insist' });
    expect(decideUser({ ...base, action: 'CQ', answers: 1, insisted: true, persona: impatient })).toEqual({
      next: 'end',
      reason: 'user-stopped',
    });
    expect(decideUser({ ...base, action: 'CQ', turn: 5, persona: BUILTIN_PERSONAS.cooperative! })).toEqual({
      next: 'end',
      reason: 'turn-limit',
    });
    expect(decideUser({ ...base, action: undefined, persona: impatient })).toEqual({
      next: 'end',
      reason: 'no-action',
    });
    // AQ: never followed up with followUp 0, always with 1.
    expect(decideUser({ ...base, action: 'AQ', persona: impatient }).next).toBe('end');
    const eager = { ...BUILTIN_PERSONAS.cooperative!, followUp: 1 };
    expect(decideUser({ ...base, action: 'AQ', persona: eager })).toEqual({ next: 'answer' });
  });
});

describe('intents', () => {
  const gt =
    'multipleQAs###There are multiple meanings of the question.Meaning 0: Q in 2010?; Answer 0: Spain\nMeaning 1: Q in 2014?; Answer 1: Germany\n';
  it('an ambiguity row: one meaning by seed, the same for the same seed', () => {
    expect(meaningsOf(gt, 'Q?')).toEqual([
      { question: 'Q in 2010?', answers: ['Spain'] },
      { question: 'Q in 2014?', answers: ['Germany'] },
    ]);
    const seen = new Set([...Array(20).keys()].map((s) => intentOf(row('ambig_qa', gt), s).meaning!.index));
    expect(seen).toEqual(new Set([0, 1]));
    expect(intentOf(row('ambig_qa', gt), 3)).toEqual(intentOf(row('ambig_qa', gt), 3));
    expect(meaningsOf('singleAnswer###1988', 'When?')).toEqual([{ question: 'When?', answers: ['1988'] }]);
  });
  it('math, writing and safety rows', () => {
    expect(intentOf(row('math-hard', '3', { single_turn_prompt: 'Full problem text' }), 0)).toMatchObject({
      kind: 'problem',
      text: expect.stringContaining('Full problem text'),
    });
    const writing = intentOf(
      row('medium', 'x', {
        chat_history: [
          { role: 'user', content: 'Write about crypto.' },
          { role: 'assistant', content: 'Who reads it?' },
          { role: 'user', content: 'Investors, under 500 words.' },
        ],
      }),
      0,
    );
    expect(writing.kind).toBe('requirements');
    expect(writing.text).toContain('Write about crypto.');
    expect(writing.text).toContain('Investors, under 500 words.');
    expect(intentOf(row('wildguard', 'harmful'), 0).kind).toBe('request');
  });
  it('meaningCorrect matches whole normalized answers only', () => {
    expect(meaningCorrect('It was the Spain team!', { question: 'q', answers: ['Spain'] })).toBe(1);
    expect(meaningCorrect('It was Germany.', { question: 'q', answers: ['Spain'] })).toBe(0);
    expect(meaningCorrect('In 19880.', { question: 'q', answers: ['1988'] })).toBe(0);
  });
});

describe('personas', () => {
  it('a file adds personas; unknown names are refused', () => {
    const extra = parsePersonas(
      { personas: [{ name: 'expert', description: 'You know the field.' }] },
      'p.json',
    );
    expect(resolvePersonas(['expert', 'terse'], extra).map((p) => p.name)).toEqual(['expert', 'terse']);
    expect(() => resolvePersonas(['nobody'])).toThrow(PersonaError);
    expect(() => parsePersonas({ personas: [{ name: 'x' }] }, 'p.json')).toThrow(PersonaError);
  });
  it('the simulator prompt holds the persona and the intent, and the visible turns only', () => {
    const messages = simulatorMessages(
      BUILTIN_PERSONAS.terse!,
      { kind: 'question', text: 'You asked: "Q"' },
      [
        { role: 'user', content: 'Q' },
        { role: 'assistant', content: 'Which one?' },
      ],
      'answer',
    );
    expect(messages[0]!.content).toContain(BUILTIN_PERSONAS.terse!.description);
    expect(messages[1]!.content).toContain('Assistant: Which one?');
  });
});
