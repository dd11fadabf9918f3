import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  isPySpace,
  PyOpaque,
  parsePayoff,
  parsePythonJson,
  parsePythonLiteral,
  pythonStrip,
} from '../../src/chain/payoff.js';
import { cellKeys, DEFAULT_SPEC } from '../../src/game/spec.js';

const CELLS = {
  DQ_AQ: { LLM: 2.2, user: 1.9 },
  DQ_CQ: { LLM: 3.1, user: 3.5 },
  DQ_DA: { LLM: 4.2, user: 4.3 },
  VQ_AQ: { LLM: 2.0, user: 2.1 },
  VQ_CQ: { LLM: 1.3, user: 1.2 },
  VQ_DA: { LLM: 2.0, user: 1.8 },
};
const JSON_TEXT = JSON.stringify(CELLS);
const PY_TEXT = JSON_TEXT.replaceAll('"', "'");

function literal(text: string): unknown {
  const r = parsePythonLiteral(text);
  return r.ok ? r.value : { error: r.message };
}

describe('parsePayoff', () => {
  it('reads strict JSON, in spec order, with no repair', () => {
    const r = parsePayoff(JSON_TEXT);
    expect(r).toEqual({ ok: true, matrix: CELLS, repaired: 'none', curlyQuotes: false });
    if (r.ok) expect(Object.keys(r.matrix)).toEqual(cellKeys(DEFAULT_SPEC));
  });

  it('strips Python whitespace around the block (including \\x1c and \\u3000)', () => {
    expect(parsePayoff(`\x1c\u3000\n ${JSON_TEXT} \t\x85`).ok).toBe(true);
  });

  it('falls back to a Python literal: single quotes, trailing commas, True/False', () => {
    const text = `${PY_TEXT.slice(0, -1)},}`.replace("'LLM':2.2", "'LLM': True");
    const r = parsePayoff(text);
    expect(r.ok && r.repaired).toBe('python-literal');
    if (r.ok) expect(r.matrix.DQ_AQ).toEqual({ LLM: 1, user: 1.9 });
  });

  it('straightens curly quotes before the Python-literal reading', () => {
    const r = parsePayoff(JSON_TEXT.replace('"DQ_AQ"', '“DQ_AQ"').replace('"VQ_DA"', '‘VQ_DA’'));
    expect(r).toMatchObject({ ok: true, repaired: 'python-literal', curlyQuotes: true });
  });

  it('accepts NaN and Infinity as Python json does, and booleans as numbers', () => {
    const r = parsePayoff(
      JSON_TEXT.replace('"LLM":2.2', '"LLM":NaN')
        .replace('"user":1.9', '"user":-Infinity')
        .replace('3.1', 'true'),
    );
    expect(r.ok).toBe(true);
    if (r.ok) {
      expect(r.matrix.DQ_AQ?.LLM).toBeNaN();
      expect(r.matrix.DQ_AQ?.user).toBe(Number.NEGATIVE_INFINITY);
      expect(r.matrix.DQ_CQ?.LLM).toBe(1);
    }
  });

  it('keeps the last of duplicate keys', () => {
    const r = parsePayoff(`{"DQ_AQ": "junk", ${JSON_TEXT.slice(1)}`);
    expect(r.ok).toBe(true);
  });

  it('names a missing cell', () => {
    const { VQ_CQ: _, ...rest } = CELLS;
    expect(parsePayoff(JSON.stringify(rest))).toEqual({
      ok: false,
      stage: 'validation',
      errors: [{ path: 'VQ_CQ', message: 'missing cell' }],
    });
  });

  it('names an extra cell and its key', () => {
    const r = parsePayoff(JSON.stringify({ ...CELLS, XQ_DA: { LLM: 1, user: 1 } }));
    expect(r).toEqual({
      ok: false,
      stage: 'validation',
      errors: [{ path: 'XQ_DA', message: 'unexpected key', value: 'XQ_DA' }],
    });
  });

  it('names a wrong sub-key, a missing sub-key and a non-number with its value', () => {
    const bad = { ...CELLS, VQ_CQ: { llm: 1, user: 2 }, VQ_DA: { LLM: '1.2', user: 1 } };
    const r = parsePayoff(JSON.stringify(bad));
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.stage).toBe('validation');
      // Cells are checked in spec order (DA, CQ, AQ within each row).
      expect(r.errors).toEqual([
        { path: 'VQ_DA.LLM', message: 'must be a number, got "1.2"', value: '1.2' },
        { path: 'VQ_CQ.LLM', message: 'missing' },
        { path: 'VQ_CQ.llm', message: 'unexpected key', value: 'llm' },
      ]);
    }
  });

  it('rejects a non-object cell, null values and a non-object block', () => {
    const r1 = parsePayoff(JSON.stringify({ ...CELLS, DQ_DA: [1, 2] }));
    expect(!r1.ok && r1.errors[0]).toMatchObject({ path: 'DQ_DA', value: [1, 2] });
    const r2 = parsePayoff(JSON.stringify({ ...CELLS, DQ_DA: { LLM: null, user: 1 } }));
    expect(!r2.ok && r2.errors[0]?.path).toBe('DQ_DA.LLM');
    expect(parsePayoff('[]')).toMatchObject({ ok: false, stage: 'validation', errors: [{ path: '' }] });
  });

  it('leaves out a value nested too deep to serialize, still describing it', () => {
    const deep = '['.repeat(200_000) + ']'.repeat(200_000);
    for (const [text, path] of [
      [deep, ''],
      [JSON.stringify({ ...CELLS, DQ_DA: 'DEEP' }).replace('"DEEP"', deep), 'DQ_DA'],
      [JSON.stringify({ ...CELLS, DQ_DA: { LLM: 'DEEP', user: 1 } }).replace('"DEEP"', deep), 'DQ_DA.LLM'],
    ] as const) {
      const r = parsePayoff(text);
      expect(r).toMatchObject({ ok: false, stage: 'validation' });
      const error = !r.ok ? r.errors.find((e) => e.path === path) : undefined;
      expect(error?.message).toMatch(/got a list of 1$/);
      expect(error).not.toHaveProperty('value');
      expect(() => JSON.stringify(r)).not.toThrow();
    }
    // Nesting the readers accept is still shown.
    const shallow = parsePayoff(JSON.stringify({ ...CELLS, DQ_DA: [[[1]]] }));
    expect(!shallow.ok && shallow.errors[0]).toMatchObject({ path: 'DQ_DA', value: [[[1]]] });
  });

  it('rejects Python values with no JSON form (sets, complex numbers, None)', () => {
    for (const v of ['{1, 2}', '1+2j', 'None', "b'1'", '...']) {
      const r = parsePayoff(PY_TEXT.replace("'LLM':2.2", `'LLM': ${v}`));
      expect(r.ok, v).toBe(false);
      expect(!r.ok && r.stage, v).toBe('validation');
    }
  });

  it('gives syntax errors with a position in the original text', () => {
    const text = `  {"DQ_AQ": {"LLM": 1, "user": 2}} trailing`;
    const r = parsePayoff(text);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.stage).toBe('syntax');
      expect(r.errors[0]?.message).toMatch(/not valid JSON/);
      expect(r.errors[0]?.position).toBe(text.indexOf('trailing'));
      expect(r.errors[1]?.message).toMatch(/not a Python literal/);
      expect(r.errors[1]?.position).toBe(text.indexOf('trailing'));
    }
    expect(parsePayoff('')).toMatchObject({ ok: false, stage: 'syntax' });
    expect(parsePayoff('```json\n{}\n```')).toMatchObject({ ok: false, stage: 'syntax' });
  });

  it('validates against a custom spec', () => {
    const spec = { rows: ['A'], columns: ['X', 'Y'] };
    expect(parsePayoff('{"A_X": {"LLM": 1, "user": 2}, "A_Y": {"user": 0, "LLM": 0}}', spec).ok).toBe(true);
    expect(parsePayoff(JSON_TEXT, spec).ok).toBe(false);
  });

  it('never throws, on arbitrary and on payoff-like text', () => {
    const pieces = fc.constantFrom(
      '{',
      '}',
      '[',
      ']',
      '(',
      ')',
      ':',
      ',',
      '"',
      "'",
      '“',
      '’',
      '\\',
      '#',
      '\n',
      '\r',
      ' ',
      '-',
      '+',
      '.',
      'e',
      'j',
      '0x',
      '1_0',
      '"DQ_AQ"',
      "'LLM'",
      '"user"',
      'True',
      'None',
      'NaN',
      'set()',
      '...',
      "b'",
      "r'",
      "'''",
      '\0',
      '\ud800',
    );
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ unit: 'binary' }),
          fc.array(pieces).map((a) => a.join('')),
        ),
        (s) => {
          const r = parsePayoff(s);
          expect(typeof r.ok).toBe('boolean');
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('survives deep nesting without exhausting the stack', () => {
    expect(parsePayoff('['.repeat(100_000)).ok).toBe(false);
    expect(parsePayoff(`${'('.repeat(5000)}1${')'.repeat(5000)}`).ok).toBe(false);
    expect(parsePythonLiteral(`${'['.repeat(5000)}${']'.repeat(5000)}`).ok).toBe(false);
  });

  // Fifteen megabyte inputs: ~3 s on an idle machine, 9.5 s beside a compile; a quadratic path takes minutes,
  // so the test's own time limit is generous and each input's bound still tells the two apart.
  it('stays fast on megabyte inputs built to hurt (no quadratic path)', { timeout: 120_000 }, () => {
    const M = 1 << 20;
    const inputs = [
      '['.repeat(M),
      '-'.repeat(M),
      '1'.repeat(M),
      `0x${'f_'.repeat(M / 2)}f`,
      `'${'\\n'.repeat(M / 2)}'`,
      `'''${"''a".repeat(M / 3)}`,
      "'a' ".repeat(M / 4),
      '#\n'.repeat(M / 2),
      '1,'.repeat(M / 2),
      `1${'+1j'.repeat(M / 3)}`,
      `{${"'DQ_AQ': 1,".repeat(M / 11)}}`,
      `{${'(1,2),'.repeat(M / 6)}}`,
      `[${'NaN,'.repeat(M / 4)}1]`,
      `'${'\ud800'.repeat(M)}'`,
      `{"a": "${'x'.repeat(M)}`,
    ];
    for (const text of inputs) {
      const t0 = performance.now();
      const r = parsePayoff(text);
      const ms = performance.now() - t0;
      expect(r.ok, text.slice(0, 20)).toBe(false);
      // Linear parsing takes tens of milliseconds here; a quadratic path would take minutes.
      expect(ms, text.slice(0, 20)).toBeLessThan(10_000);
    }
  });

  it('names an unknown name briefly, however long it is', () => {
    const r = parsePayoff(`{'DQ_AQ': ${'x'.repeat(1_000_000)}}`);
    expect(r).toMatchObject({ ok: false, stage: 'syntax' });
    const literal = !r.ok ? r.errors.at(-1) : undefined;
    expect(literal).toMatchObject({
      position: 10,
      message: expect.stringMatching(/name 'x{40}…' is not a literal$/),
    });
    expect(parsePythonLiteral('[nan]')).toMatchObject({ ok: false, message: "name 'nan' is not a literal" });
  });

  it('reports a long run of signs as a syntax error, not an internal error', () => {
    for (const text of [`${'-'.repeat(1_000_000)}1`, `[${'+-'.repeat(300)}1]`, `${'(-'.repeat(150)}1`]) {
      const r = parsePythonLiteral(text);
      expect(r.ok).toBe(false);
      expect(!r.ok && r.message).not.toMatch(/internal/);
    }
    expect(parsePythonLiteral(`{'a': ${'- '.repeat(3)}1}`)).toMatchObject({ ok: false });
    expect(parsePythonLiteral('{"a": - 1}')).toEqual({ ok: true, value: { a: -1 } });
  });
});

describe('parsePythonJson (Python json.loads)', () => {
  it.each([
    ['NaN', true],
    ['-Infinity', true],
    ['-NaN', false],
    ['1.', false],
    ['01', false],
    ['{"a":1,}', false],
    ['[1,]', false],
    ['"\t"', false],
    ['"\\x41"', false],
    ['"\\u004"', false],
    ['\f1', false],
    ['1\f', false],
    [' 1 ', true],
    ['"\\ud800"', true],
    ['True', false],
    ['1e400', true],
    ['{"a":1}{"b":2}', false],
  ])('%j → ok %s', (text, ok) => {
    expect(parsePythonJson(text).ok).toBe(ok);
  });

  it('reads values like Python', () => {
    expect(parsePythonJson('{"a" : 1 , "a" : [2, -0.5e1, "\\u00e9\\n"]}')).toEqual({
      ok: true,
      value: { a: [2, -5, 'é\n'] },
    });
    expect(parsePythonJson('1e400')).toEqual({ ok: true, value: Number.POSITIVE_INFINITY });
  });
});

describe('parsePythonLiteral (ast.literal_eval)', () => {
  // Expected outcomes checked against CPython 3.11's ast.literal_eval.
  const accepted: Array<[string, unknown]> = [
    ["{'a':1}\n", { a: 1 }],
    ["{'a':\f1}", { a: 1 }],
    ["{'a':1}\r\n", { a: 1 }],
    ["{'a'\\\n:1}", { a: 1 }],
    ['1,2', [1, 2]],
    ['(1,)', [1]],
    ['()', []],
    ['-(1)', -1],
    ['+1', 1],
    ["'a' 'b' u'c'", 'abc'],
    ["r'\\n'", '\\n'],
    ["'\\u0041\\x41\\101'", 'AAA'],
    ["'''a\r\nb'''", 'a\nb'],
    ["'a\\\nb'", 'ab'],
    ["'\\q'", '\\q'],
    ["'\\a\\b\\f\\v'", '\x07\b\f\v'],
    ["'\\U0001F600'", '😀'],
    ["r'\\''", "\\'"],
    ['00', 0],
    ['0_0', 0],
    ['0x_1f', 31],
    ['0o17', 15],
    ['0B101', 5],
    ['00.5', 0.5],
    ['01e3', 1000],
    ['1.e3', 1000],
    ['.5', 0.5],
    ['5.', 5],
    ['1_000.5_5', 1000.55],
    ['1e308', 1e308],
    ['1e309', Number.POSITIVE_INFINITY],
    ['-0x10', -16],
    ['True', true],
    ['None', null],
    ["{'a':1,}", { a: 1 }],
    ['[1,]', [1]],
    ["{'a':1 # c\n}", { a: 1 }],
    ['# c\n1', 1],
    ['  # c\n1', 1],
    ['1 # c', 1],
    ['[1\n,2]', [1, 2]],
    ['[1,\r2]', [1, 2]],
    ['\\\n1', 1],
    [' \t1', 1],
    ["{'a':1,'a':2}", { a: 2 }],
    ["{'a': -((1))}", { a: -1 }],
    ["('a'\n'b')", 'ab'],
    ['"it\'s"', "it's"],
  ];
  it.each(accepted)('accepts %j', (text, value) => {
    expect(literal(text)).toEqual(value);
  });

  it('returns Python-only values as opaque', () => {
    for (const [text, type] of [
      ['1+2j', 'complex'],
      ['-1-2j', 'complex'],
      ['(1)+(2j)', 'complex'],
      ['01j', 'complex'],
      ['1e5j', 'complex'],
      ['{1,2}', 'set'],
      ['set( )', 'set'],
      ['...', 'ellipsis'],
      ["Rb'a' b'b'", 'bytes'],
    ] as const) {
      const v = literal(text);
      expect(v, text).toBeInstanceOf(PyOpaque);
      expect((v as PyOpaque).type, text).toBe(type);
    }
  });

  const rejected = [
    "{'a':\v1}",
    "{'a':\xa01}",
    "{'a':\x1c1}",
    '\ufeff1',
    '1\0',
    '-(-1)',
    '--1',
    '1+-2j',
    '2j+1',
    '1 + 1',
    '-True',
    '~1',
    'not 1',
    "'a' b'b'",
    "'\\x4'",
    "'\\U00110000'",
    "'a\nb'",
    "'''a''''",
    "r'\\'",
    "b'é'",
    '01',
    '0_7',
    '1__0',
    '1_',
    '1_e3',
    '1e_3',
    '1e',
    '1e+',
    '0x',
    '0b12',
    '0x1.5',
    "ur'a'",
    "f'a'",
    '[,]',
    '{,}',
    '(,)',
    '1;',
    '[1 2]',
    "'a'\n'b'",
    '[*[1]]',
    '{**{}}',
    '1 .real',
    "'abc'[0]",
    '(1)(2)',
    "{'a':1}{'b':2}",
    '{[1]:2}',
    '1 if 1 else 2',
    '- # c\n 1',
    '1\r2',
    '# c\n  1',
    '1 \\\n',
    'x',
    'nan',
    "{'a': é}",
    '[true]',
    '',
  ];
  it.each(rejected)('rejects %j', (text) => {
    expect(parsePythonLiteral(text).ok).toBe(false);
  });

  it('marks non-string dict keys, which can never validate', () => {
    const r = parsePayoff(PY_TEXT.replace("'LLM':2.2", "'LLM': 2.2, 1: 0"));
    expect(r.ok).toBe(false);
    expect(!r.ok && r.errors[0]).toMatchObject({ path: 'DQ_AQ.1', message: 'unexpected non-string key' });
  });

  it('documents its one gap: \\N{name} escapes', () => {
    // Python accepts '\N{BULLET}'; without a Unicode name table this parser reports it instead.
    expect(parsePythonLiteral("'\\N{BULLET}'")).toMatchObject({
      ok: false,
      message: expect.stringMatching(/\\N/),
    });
  });
});

describe('Python whitespace', () => {
  it('matches str.isspace()', () => {
    for (const c of [
      0x09, 0x0b, 0x1c, 0x1f, 0x20, 0x85, 0xa0, 0x1680, 0x2000, 0x200a, 0x2028, 0x202f, 0x3000,
    ]) {
      expect(isPySpace(c), c.toString(16)).toBe(true);
    }
    for (const c of [0x00, 0x08, 0x21, 0x200b, 0xfeff, 0x180e, 0xd800])
      expect(isPySpace(c), c.toString(16)).toBe(false);
  });

  it('strips like str.strip()', () => {
    expect(pythonStrip(' \x1c\x85x\ufeff\u3000')).toBe('x\ufeff');
    expect(pythonStrip('\u200bx')).toBe('\u200bx');
    expect(pythonStrip('  ')).toBe('');
  });
});
