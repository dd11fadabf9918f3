import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  extractFinalAnswer,
  mathAnswersEquivalent,
  mathAnswersMatch,
  normalizeMathAnswer,
} from '../../src/reward/math-check.js';

describe('mathAnswersEquivalent: equal pairs', () => {
  const equal: Array<[string, string]> = [
    ['0.5', '\\frac{1}{2}'],
    ['0.5', '1/2'],
    ['.50', '\\frac12'],
    ['\\dfrac{1}{2}', '\\tfrac12'],
    ['1,000', '1000'],
    ['33,\\!800,\\!000', '33800000'],
    ['-\\frac{5}{12}', '\\frac{-5}{12}'],
    ['3/7', '\\frac{3}{7}'],
    ['\\frac94\\pi', '\\frac{9}{4}\\pi'],
    ['7\\sqrt2', '7 \\sqrt{2}'],
    ['\\left( \\frac{3}{4}, \\infty \\right)', '(3/4,\\infty)'],
    ['[0, 25]', '[0,25]'],
    ['90^\\circ', '90'],
    ['90^{\\circ}', '90 degrees'],
    ['\\$1.65', '1.65'],
    ['\\$42409', '42,409'],
    ['50\\%', '50'],
    ['10\\text{ cm}', '10'],
    ['3 cm', '3\\text{ cm}'],
    ['5225 \\text{ cubic inches}', '5225'],
    ['9\\text{ values}', '9'],
    ['\\frac{11}{15}\\text{ days}', '\\frac{11}{15}'],
    ['\\mathbf{2340}', '2340'],
    ['\\text{A, D, F, G, H}', 'A, D, F, G, H'],
    ['x=1', '1'],
    ['4.5e33', '4.5 \\times 10^{33}'],
    ['1e-3', '0.001'],
    ['0.10', '0.1'],
    ['097', '97'],
    ['$x^2 + x$', 'x^2+x'],
    ['\\boxed{178}', '178'],
    ['1 000', '1000'], // thousands groups written with spaces
    ['x = 2', 'x=2'],
    ['50\\%', '50\\text{ percent}'],
    ['\\$5', '5 dollars'],
    ['-1./3', '-\\frac{1}{3}'],
  ];
  it.each(equal)('%s == %s', (a, b) => {
    expect(mathAnswersEquivalent(a, b)).toBe(true);
    expect(mathAnswersEquivalent(b, a)).toBe(true);
  });
});

describe('mathAnswersEquivalent: never equal on anything uncertain', () => {
  const different: Array<[string, string]> = [
    ['1,2', '12'], // a list, not a thousands separator
    ['-330,90', '-33090'],
    ['0.5613', '0.561'], // rounding is the judge's call
    ['\\frac{1}{2}', '\\frac{1}{3}'],
    ['-3', '3'],
    ['2x', '2'], // a variable is not a unit
    ['\\frac{37}{4} m', '\\frac{37}{4}'], // single-letter "unit" may be a variable
    ['10\\text{ cm}', '10\\text{ mm}'], // two different units
    ['2\\frac{1}{2}', '2.5'], // mixed number or product: uncertain
    ['\\frac{9}{4}\\pi', '\\frac{9\\pi}{4}'], // equal, but only algebra shows it
    ['AB=9, CD=4', '9, 4'],
    ['', ''],
    ['', '0'],
    ['\\sqrt{2}', '1.414'],
    ['10^{3}', '100'],
    ['1e400', '1e401'],
    // Adversarial pairs found in review: each was once declared equal, or must never be.
    ['\\frac{1}{2}', '12'],
    ['1,000', '1.000'],
    ['x=2', '2x'],
    ['x=2', 'y=2'], // two different statements (e.g. two asymptotes)
    ['x = \\frac{1}{2}', 'y = 0.5'],
    ['x=2', 'X=2'],
    ['12', '1 2'], // digits apart are not one number
    ['1\\,2', '12'],
    ['(1,2)', '[1,2]'],
    ['(3,\\infty)', '[3,\\infty)'],
    ['\\{1,2\\}', '(1,2)'],
    ['-5', '5'],
    ['x=-2', '2'],
    ['50\\%', '0.5'], // a percent is not its fraction
    ['\\$5', '5\\%'], // two different units
    ['5\\% of 20', '5'],
    ['\\frac{\\pi}{2}', '90^\\circ'],
    ['5\\text{ cm}^2', '5'],
    ['x^2', 'x2'],
  ];
  it.each(different)('%s != %s', (a, b) => {
    expect(mathAnswersEquivalent(a, b)).toBe(false);
    expect(mathAnswersEquivalent(b, a)).toBe(false);
  });
});

it('does not compare answers too long to be a ground truth (bounded work; the judge decides)', () => {
  expect(mathAnswersEquivalent('9'.repeat(3000), '9'.repeat(3000))).toBe(false);
  expect(mathAnswersEquivalent('9'.repeat(300), '9'.repeat(300))).toBe(true);
});

describe('extractFinalAnswer', () => {
  it('takes the last balanced \\boxed{} and keeps the earlier ones to check', () => {
    expect(extractFinalAnswer('First \\boxed{3}, then \\boxed{\\frac{1}{2}}.')).toEqual({
      answer: '\\frac{1}{2}',
      source: 'boxed',
      others: ['3'],
    });
  });

  it('gives up on a broken box rather than guessing around it', () => {
    expect(extractFinalAnswer('The answer is 5. \\boxed{5')).toBeUndefined();
  });

  it('reads "the answer is X" unless the sentence is negated', () => {
    expect(extractFinalAnswer('So the answer is $\\frac{3}{7}$. Want the steps?')).toEqual({
      answer: '\\frac{3}{7}',
      source: 'answer-phrase',
      others: [],
    });
    expect(extractFinalAnswer('The final answer is 1,000, which we can check.')?.answer).toBe('1,000');
    expect(extractFinalAnswer('Final answer: 4.5.')?.answer).toBe('4.5');
    expect(extractFinalAnswer("I don't think the answer is 5.")).toBeUndefined();
  });

  it('uses a sole number only when it is the only value and not in a question', () => {
    expect(extractFinalAnswer('The last locker he opens is locker 342.')).toEqual({
      answer: '342',
      source: 'sole-number',
      others: [],
    });
    expect(extractFinalAnswer('There are 1024 lockers and the last one opened is 342.')).toBeUndefined();
    expect(extractFinalAnswer('Is it 342?')).toBeUndefined();
    expect(extractFinalAnswer('It is not 342.')).toBeUndefined();
    expect(extractFinalAnswer('No numbers here.')).toBeUndefined();
  });
});

describe('mathAnswersMatch: only a plainly stated final answer', () => {
  // Each response states the ground truth 5 somewhere, but its final answer is not certainly 5.
  const uncertain = [
    'A common mistake is to say the answer is 5. The correct value is 6.',
    'The answer is 5. Wait, that is wrong. It is 6.',
    'The answer is $5$ or $6$.',
    'I think the answer is 5, but it might be 6.',
    'The answer is 5? Could you confirm the problem?',
    'If it means area, the answer is 6. If perimeter, the answer is 5.',
    'Almost: \\boxed{5}. Hmm, actually the answer is 6.',
    'The answer is 5. Or maybe 6.',
    'Your answer is 5. The correct one is 6.',
    'Final answer: 6. Earlier I wrote the answer is 5, by mistake.',
    'The answer is 5, 6, and 7.',
    'The answer is 5\n6',
    'We get \\boxed{6} if n is odd and \\boxed{5} if n is even.',
    'First \\boxed{6}, then \\boxed{5}.',
    'So \\boxed{5}. The other root is 6.',
    'Part (a) is \\boxed{5}; part (b) is 7.',
    'It is approximately 5.',
    'It is about \\boxed{5}.',
    '5 5 5 5 5 5 5 5',
    'Is it 5?',
    'It is not 5.',
  ];
  it.each(uncertain)('leaves %j to the judge', (response) => {
    expect(mathAnswersMatch(response, '5')).toBe(false);
  });

  const plain = [
    'The answer is \\boxed{5}.',
    'There are $\\boxed{5}$ ways. Would you like me to walk through the 3 steps?',
    'Since 2 + 3 = 5, the answer is 5.',
    'The answer is\n5',
    'So the answer is **5**. Want a similar problem to practice?',
    'The answer is \\boxed{5}, so the answer is five.',
  ];
  it.each(plain)('accepts %j', (response) => {
    expect(mathAnswersMatch(response, '5')).toBe(true);
  });

  it('stays fast on degenerate output (no quadratic scan)', () => {
    const started = performance.now();
    for (const response of [
      '5 '.repeat(200_000),
      'the answer is 5 '.repeat(50_000),
      '\\boxed{5}'.repeat(100_000),
      `\\boxed{${'\\text{'.repeat(20_000)}5${'}'.repeat(20_000)}}`,
    ]) {
      mathAnswersMatch(response, '5');
    }
    // Linear scans take milliseconds; a quadratic one would take minutes: the bound leaves room for load.
    expect(performance.now() - started).toBeLessThan(10_000);
  });
});

describe('mathAnswersMatch', () => {
  it('matches a boxed answer in a conversational response', () => {
    expect(
      mathAnswersMatch('We toggle lockers… so the last one is $\\boxed{342}$. Shall I explain?', '342'),
    ).toBe(true);
    expect(mathAnswersMatch('The probability is \\boxed{0.5}.', '\\frac{1}{2}')).toBe(true);
    expect(mathAnswersMatch('It comes to \\boxed{3\\text{ cm}}.', '3')).toBe(true);
  });

  it('returns false (judge decides) when the answer differs or cannot be found', () => {
    expect(mathAnswersMatch('\\boxed{341}', '342')).toBe(false);
    expect(mathAnswersMatch('Could you tell me which locker numbering you use?', '342')).toBe(false);
    expect(mathAnswersMatch('', '342')).toBe(false);
  });

  it('accepts every ground truth as its own boxed answer (real MATH-style forms)', () => {
    const gts = [
      '\\frac{3\\sqrt{3}}{\\pi}',
      '\\left( -\\infty, -\\frac{1}{2} \\right] \\cup \\left[ \\frac{1}{2}, \\infty \\right)',
      '\\text{A, D, F, G, H}',
      ' -\\frac{1}{5} - \\frac{2}{5}i ',
      'x_{0} \\cos (\\omega t)+$ $\\dot{x}_{0} \\sin (\\omega t) / \\omega',
      '84a^2 + 100b^2 - 168a - 441 = 0',
      'np.arcsin(10/13)',
    ];
    for (const gt of gts) expect(mathAnswersMatch(`Answer: \\boxed{${gt}}`, gt), gt).toBe(true);
  });

  it('never throws on hostile input and is symmetric', () => {
    const tex = fc.constantFrom(
      '\\boxed{',
      '\\frac',
      '{',
      '}',
      '1',
      '2',
      '.',
      ',',
      '/',
      '\\text{',
      ' cm',
      '$',
      '^',
      'x=',
      '-',
      'e',
    );
    const answer = fc
      .array(fc.oneof(tex, fc.string({ maxLength: 4 })), { maxLength: 10 })
      .map((p) => p.join(''));
    fc.assert(
      fc.property(answer, answer, (a, b) => {
        expect(mathAnswersEquivalent(a, b)).toBe(mathAnswersEquivalent(b, a));
        mathAnswersMatch(a, b);
        normalizeMathAnswer(a);
      }),
      { numRuns: 2000 },
    );
  });
});
