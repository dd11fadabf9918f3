import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { characterBleu, characterBleuDetail, FLOAT_MIN, fsum } from '../../src/reward/bleu.js';

describe('characterBleu (NLTK sentence_bleu on strings)', () => {
  it('is 1 for identical strings of at least four characters', () => {
    expect(characterBleu('obesity is a disease', 'obesity is a disease')).toBe(1);
  });

  it('is 0 when no character is shared, or the hypothesis is empty', () => {
    expect(characterBleu('xyz', 'abc')).toBe(0);
    expect(characterBleu('', 'abc')).toBe(0);
    expect(characterBleu('abc', '')).toBe(0);
  });

  it('applies the brevity penalty exp(1 − r/h) to a short hypothesis', () => {
    // hyp "abcd" vs ref "abcde": every n-gram matches (4/4, 3/3, 2/2, 1/1); BP = exp(1 − 5/4).
    const d = characterBleuDetail('abcd', 'abcde');
    expect(d.matches).toEqual([4, 3, 2, 1]);
    expect(d.totals).toEqual([4, 3, 2, 1]);
    expect(d.bleu).toBe(Math.exp(-0.25));
    expect(d.bleu).toBe(0.7788007830714049);
  });

  it('replaces a zero precision by the smallest normal double (NLTK method0), so the score is tiny, not 0', () => {
    // "ab" vs "ab": p1 = p2 = 1, no 3- or 4-grams: BLEU = exp(0.5 · ln(2.2250738585072014e-308)).
    const d = characterBleuDetail('ab', 'ab');
    expect(d.matches).toEqual([2, 1, 0, 0]);
    expect(d.totals).toEqual([2, 1, 1, 1]);
    expect(d.bleu).toBeCloseTo(1.491668146240062e-154, 165);
    expect(FLOAT_MIN).toBe(2.2250738585072014e-308);
  });

  it('clips hypothesis counts by reference counts and matches NLTK on a sentence', () => {
    // Value from NLTK's arithmetic (Python): sentence_bleu(['the cat sat'], 'the hat sat').
    // (exp/log may differ from C's libm in the last bit, hence 15 digits.)
    expect(characterBleu('the hat sat', 'the cat sat')).toBeCloseTo(0.7016879391277372, 15);
    expect(characterBleuDetail('aaaa', 'a').matches[0]).toBe(1);
  });

  it('counts code points, not UTF-16 units', () => {
    const d = characterBleuDetail('😀😀😀😀', '😀😀😀😀');
    expect(d.hypothesisLength).toBe(4);
    expect(d.bleu).toBe(1);
  });

  it('handles alphabets large enough to need the hash table', () => {
    const ref = Array.from({ length: 3000 }, (_, i) => String.fromCharCode(0x4e00 + i)).join('');
    expect(characterBleu(ref, ref)).toBe(1);
    expect(characterBleu(ref.slice(0, 1500), ref)).toBeCloseTo(Math.exp(1 - 3000 / 1500), 15);
  });

  it('counts the same clipped matches as counting every n-gram of both strings', () => {
    // The scorer interns only the reference's n-grams; this counts all of them, the obvious way.
    const naive = (hyp: string, ref: string): number[] => {
      const h = Array.from(hyp);
      const r = Array.from(ref);
      return [1, 2, 3, 4].map((n) => {
        const left = new Map<string, number>();
        for (let i = 0; i + n <= r.length; i++) {
          const g = r.slice(i, i + n).join('\u0000');
          left.set(g, (left.get(g) ?? 0) + 1);
        }
        let matched = 0;
        for (let i = 0; i + n <= h.length; i++) {
          const g = h.slice(i, i + n).join('\u0000');
          const k = left.get(g) ?? 0;
          if (k > 0) {
            left.set(g, k - 1);
            matched++;
          }
        }
        return matched;
      });
    };
    // Few characters, so that n-grams repeat and match; astral ones and a lone surrogate among them.
    const text = fc.string({
      unit: fc.constantFrom('a', 'b', 'c', ' ', '😀', '\ud800', '中'),
      maxLength: 80,
    });
    fc.assert(
      fc.property(text, text, (h, r) => {
        const d = characterBleuDetail(h, r);
        const counts = naive(h, r);
        // Once an order has no match, the scorer stops: the higher orders are 0 as well.
        expect(d.matches).toEqual(counts);
      }),
      { numRuns: 2000 },
    );
    // Large alphabets take the hash table: a reference of 3,000 distinct characters.
    const big = Array.from({ length: 3000 }, (_, i) => String.fromCharCode(0x4e00 + ((i * 7919) % 3000)));
    const ref = big.join('');
    const hyp = [...big.slice(100, 900), 'x', ...big.slice(50, 400), ...big.slice(2990)].join('');
    expect(characterBleuDetail(hyp, ref).matches).toEqual(naive(hyp, ref));
  });

  it('stays within [0, 1]', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 60 }), fc.string({ maxLength: 60 }), (h, r) => {
        const b = characterBleu(h, r);
        expect(b).toBeGreaterThanOrEqual(0);
        expect(b).toBeLessThanOrEqual(1);
      }),
    );
  });
});

describe('fsum (math.fsum)', () => {
  it('sums exactly, then rounds once', () => {
    expect(fsum([0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1])).toBe(1);
    expect(fsum([1e100, 1, -1e100])).toBe(1);
    expect(fsum([])).toBe(0);
    expect(fsum([1, 1e-16, 1e-16])).toBe(1.0000000000000002);
  });
});
