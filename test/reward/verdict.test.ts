import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { judgeFamilyOf, type VerdictKind } from '../../src/reward/rubrics.js';
import { extractVerdict, lastBoxed, lastTagged, VERDICT_SCALES } from '../../src/reward/verdict.js';

const ok = (value: number) => ({ ok: true, value });

describe('extractVerdict: \\boxed families', () => {
  it('reads plain, spaced, decimal and wrapped boxes', () => {
    expect(extractVerdict('math', 'The final answers agree. \\boxed{1}')).toEqual(ok(1));
    expect(extractVerdict('math', '\\boxed{ 0 }')).toEqual(ok(0));
    expect(extractVerdict('math', '\\boxed{1.0}')).toEqual(ok(1));
    expect(extractVerdict('math', '$\\boxed{\\text{1}}$')).toEqual(ok(1));
    expect(extractVerdict('math', '\\boxed{\\textbf{0}}')).toEqual(ok(0));
    expect(extractVerdict('safety', 'Declined with an alternative: \\boxed{0.5}')).toEqual(ok(0.5));
    expect(extractVerdict('safety', '\\boxed{.5}')).toEqual(ok(0.5));
    expect(extractVerdict('safety', '\\boxed{\\frac{1}{2}}')).toEqual(ok(0.5));
    expect(extractVerdict('writing', 'Score: \\boxed{4}')).toEqual(ok(4));
    expect(extractVerdict('writing', '\\boxed 3')).toEqual(ok(3));
  });

  it('takes the last box when the judge mentions several', () => {
    expect(
      extractVerdict('math', 'If it were wrong I would say \\boxed{0}, but it matches: \\boxed{1}'),
    ).toEqual(ok(1));
    expect(extractVerdict('writing', '\\boxed{2} ... on reflection \\boxed{3}')).toEqual(ok(3));
  });

  it('ignores boxes inside <think> sections and reports a reply cut inside one', () => {
    expect(extractVerdict('math', '<think>maybe \\boxed{0}?</think>It matches. \\boxed{1}')).toEqual(ok(1));
    const cut = extractVerdict('math', '<think>the answer would be \\boxed{1} if');
    expect(cut.ok).toBe(false);
    if (!cut.ok) expect(cut.reason).toMatch(/unclosed <think>/);
  });

  it('fails with a reason when there is no box', () => {
    const r = extractVerdict('math', 'The answer is correct, so 1.');
    expect(r).toEqual({ ok: false, reason: 'no \\boxed{} in reply' });
    expect(extractVerdict('math', '')).toEqual({ ok: false, reason: 'empty reply' });
  });

  it('fails on values off the family scale instead of clipping them', () => {
    const cases: Array<[VerdictKind, string, RegExp]> = [
      ['math', '\\boxed{0.5}', /not on the math scale \{0, 1\}/],
      ['math', '\\boxed{2}', /not on the math scale/],
      ['writing', '\\boxed{5}', /not on the writing scale \{0, 1, 2, 3, 4\}/],
      ['writing', '\\boxed{3.5}', /not on the writing scale/],
      ['safety', '\\boxed{2}', /not on the safety scale \{0, 0.5, 1\}/],
      ['safety', '\\boxed{-1}', /not on the safety scale/],
    ];
    for (const [kind, reply, reason] of cases) {
      const r = extractVerdict(kind, reply);
      expect(r.ok, `${kind} ${reply}`).toBe(false);
      if (!r.ok) expect(r.reason).toMatch(reason);
    }
  });

  it('fails on non-numeric, empty and unbalanced boxes', () => {
    const words = extractVerdict('math', '\\boxed{correct}');
    expect(words.ok).toBe(false);
    if (!words.ok) expect(words.reason).toMatch(/"correct" is not a number/);
    expect(extractVerdict('math', '\\boxed{}')).toEqual({ ok: false, reason: 'empty \\boxed{}' });
    const open = extractVerdict('math', 'so \\boxed{1');
    expect(open.ok).toBe(false);
    if (!open.ok) expect(open.reason).toMatch(/unbalanced braces in \\boxed\{ at position 3/);
  });
});

describe('extractVerdict: <abg> and <po>', () => {
  it('reads the last tag pair', () => {
    expect(extractVerdict('ambiguity', 'It asks a clarifying question. <abg>1</abg>')).toEqual(ok(1));
    expect(extractVerdict('ambiguity', '<abg>1</abg> no wait <abg> 0 </abg>')).toEqual(ok(0));
    expect(extractVerdict('matrix', 'Names the frontier only vaguely <po>0.5</po>')).toEqual(ok(0.5));
  });

  it('does not accept a box where a tag is required, or an unclosed tag', () => {
    const boxed = extractVerdict('ambiguity', '\\boxed{1}');
    expect(boxed).toEqual({ ok: false, reason: 'no <abg>…</abg> in reply' });
    const open = extractVerdict('matrix', '<po>1');
    expect(open).toEqual({ ok: false, reason: '<po> is never closed' });
    const off = extractVerdict('ambiguity', '<abg>0.5</abg>');
    expect(off.ok).toBe(false);
  });
});

describe('extractVerdict on hostile text', () => {
  it('never throws and every ok value is on the scale', () => {
    const kinds: VerdictKind[] = ['math', 'writing', 'safety', 'ambiguity', 'matrix'];
    const pieces = fc.constantFrom(
      '\\boxed{',
      '}',
      '{',
      '<abg>',
      '</abg>',
      '<po>',
      '</po>',
      '<think>',
      '</think>',
      '1',
      '0.5',
      '4',
      ' ',
      '\\text{',
      '$',
    );
    fc.assert(
      fc.property(
        fc.constantFrom(...kinds),
        fc.array(fc.oneof(pieces, fc.string()), { maxLength: 12 }),
        (kind, parts) => {
          const r = extractVerdict(kind, parts.join(''));
          if (r.ok) expect(VERDICT_SCALES[kind]).toContain(r.value);
          else expect(r.reason.length).toBeGreaterThan(0);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('finds the same last tag pair as the lazy pair regex it replaces', () => {
    // The former definition: the last match of one lazy regex over the whole reply.
    const regexLast = (text: string, tag: string): string | undefined => {
      let last: string | undefined;
      for (const m of text.matchAll(new RegExp(`<\\s*${tag}\\s*>([\\s\\S]*?)<\\s*/\\s*${tag}\\s*>`, 'gi')))
        last = m[1];
      return last;
    };
    const pieces = fc.constantFrom(
      '<po>',
      '</po>',
      '< PO >',
      '</ po>',
      '<',
      '/',
      '>',
      ' ',
      '\n',
      'po',
      '1',
      'x',
    );
    fc.assert(
      fc.property(fc.array(fc.oneof(pieces, fc.string({ maxLength: 3 })), { maxLength: 16 }), (parts) => {
        const text = parts.join('');
        const expected = regexLast(text, 'po');
        const r = lastTagged(text, 'po');
        expect(r.ok ? r.content : undefined).toEqual(expected);
        if (!r.ok) expect(r.reason).toMatch(/<po> is never closed|no <po>/);
      }),
      { numRuns: 3000 },
    );
  });

  it('reads a megabyte of unclosed tags in linear time', () => {
    // The former single regex rescanned the rest of the reply from every opening tag: 90 s and 130 s
    // for these replies. Linear scanning takes milliseconds; the bound only catches a quadratic path.
    for (const [kind, reply] of [
      ['ambiguity', '<abg>'.repeat(200_000)],
      ['matrix', '<po> '.repeat(200_000)],
    ] as const) {
      const t0 = performance.now();
      const r = extractVerdict(kind, reply);
      expect(performance.now() - t0).toBeLessThan(5_000);
      expect(r).toMatchObject({ ok: false, reason: expect.stringMatching(/never closed/) });
    }
  });

  it('reads a box holding a long run of dollar signs in linear time', () => {
    // Stripping `$` with /^\$+|\$+$/g rescanned the run from each of its signs: 16 s for 100 KB, about
    // 150 s for this box. Linear stripping takes milliseconds; the bound only catches a quadratic path.
    const t0 = performance.now();
    const r = extractVerdict('math', `\\boxed{x${'$'.repeat(300_000)}x}`);
    expect(performance.now() - t0).toBeLessThan(5_000);
    expect(r).toMatchObject({ ok: false, reason: expect.stringMatching(/is not a number$/) });
    expect(extractVerdict('math', '\\boxed{$$1$$}')).toEqual(ok(1));
    expect(extractVerdict('math', '\\boxed{$\\text{$1$}$}')).toEqual(ok(1));
  });

  it('lastBoxed keeps nested braces whole', () => {
    expect(lastBoxed('x \\boxed{\\frac{1}{2}} y')).toEqual({ ok: true, content: '\\frac{1}{2}', index: 2 });
  });
});

describe('fixture verdicts round-trip through the judge reply format', () => {
  const rows = readFileSync(new URL('../fixtures/reward-parity.jsonl', import.meta.url), 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as { data_source: string; verdict: number });

  it('every on-scale verdict is read back exactly; off-scale ones are rejected, not clipped', () => {
    let onScale = 0;
    for (const row of rows) {
      const family = judgeFamilyOf(row.data_source);
      expect(family, row.data_source).toBeDefined();
      if (family === undefined) continue;
      const reply =
        family === 'ambiguity' ? `<abg>${row.verdict}</abg>` : `Reasoning… \\boxed{${row.verdict}}`;
      const r = extractVerdict(family, reply);
      if (VERDICT_SCALES[family].includes(row.verdict)) {
        onScale++;
        expect(r).toEqual(ok(row.verdict));
      } else {
        expect(r.ok).toBe(false);
      }
    }
    expect(onScale).toBeGreaterThan(rows.length - 5);
  });
});
