import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { codePointLength, pythonSplitCount, pythonStrip, textStats } from '../../src/reward/text.js';

describe('pythonSplitCount (len(text.split()))', () => {
  it('splits on Python whitespace, including \\x1c-\\x1f, \\x85 and \\xa0', () => {
    expect(pythonSplitCount('a\x1cb\x1fc\x85d\xa0e\u2003f\u3000g')).toBe(7);
    expect(pythonSplitCount('  one\t\ntwo  ')).toBe(2);
    expect(pythonSplitCount('')).toBe(0);
    expect(pythonSplitCount(' \n\t')).toBe(0);
  });

  it('does not split on U+FEFF, U+200B or U+180E, which Python does not treat as space', () => {
    // Python: len('a\x1cb\xa0c\ufeffd\u200be'.split()) == 3
    expect(pythonSplitCount('a\x1cb\xa0c\ufeffd\u200be')).toBe(3);
    expect(pythonSplitCount('a\u180eb')).toBe(1);
  });

  it('equals a reference implementation on arbitrary text', () => {
    // biome-ignore lint/suspicious/noControlCharactersInRegex: \x1c-\x1f are whitespace to Python
    const ws = /[\t\n\v\f\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+/;
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (s) => {
        expect(pythonSplitCount(s)).toBe(s.split(ws).filter((w) => w !== '').length);
      }),
    );
  });
});

describe('codePointLength (len(text))', () => {
  it('counts code points, a lone surrogate as one', () => {
    // Python: len('😀a\ud800') == 3
    expect(codePointLength('😀a\ud800')).toBe(3);
    expect(codePointLength('\udc00\ud800\udc00\ud800')).toBe(3);
    expect(codePointLength('中文é')).toBe(3);
    expect(codePointLength('')).toBe(0);
  });

  it('equals the code point count of arbitrary text', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (s) => {
        expect(codePointLength(s)).toBe([...s].length);
      }),
    );
  });
});

describe('textStats', () => {
  it('measures a region without slicing', () => {
    const text = 'xx<response> two words😀</response>';
    const start = text.indexOf('>') + 1;
    const end = text.indexOf('</');
    expect(textStats(text, start, end)).toEqual({ words: 2, codePoints: 11 });
    expect(textStats(text, start, end)).toEqual(textStats(text.slice(start, end)));
  });

  it('measures a text longer than its reused scratch space, and a shorter one after it', () => {
    // The scan reads a copy of the code units in a buffer kept between calls (32 Ki units at first).
    const long = 'ab 😀\ud800\u3000c'.repeat(20_000);
    // Words: "ab", "😀\ud800", then "c" joins the next copy's "ab": two a copy, and the last "c".
    expect(textStats(long)).toEqual({ words: 40_001, codePoints: [...long].length });
    expect(textStats('x\udc00 y')).toEqual({ words: 2, codePoints: 4 });
    expect(textStats(long.slice(0, 7))).toEqual({ words: 2, codePoints: 6 });
  });
});

describe('pythonStrip', () => {
  it('strips what str.strip() strips', () => {
    expect(pythonStrip('\x1c\x85 x y \u2029')).toBe('x y');
    expect(pythonStrip('\ufeffx')).toBe('\ufeffx');
  });
});
