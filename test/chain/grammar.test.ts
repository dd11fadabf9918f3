import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { extractBlocks, isWellFormed } from '../../src/chain/blocks.js';
import { buildFormatRegExp, buildGbnf, buildRegex, type GrammarOptions } from '../../src/chain/grammar.js';
import { cellKeys, type GameSpec, payoffKeyOrder } from '../../src/game/spec.js';

const CUSTOM: GameSpec = { rows: ['NOVICE', 'EXPERT', 'HOSTILE'], columns: ['DA', 'CQ', 'REFUSE', 'CITE'] };

// ---------- a tiny GBNF reader: checks structure and turns a non-recursive grammar into a RegExp ----------

type Token = { kind: 'lit' | 'cls' | 'ref' | 'op'; text: string };

function tokenize(body: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < body.length) {
    const c = body[i]!;
    if (c === ' ' || c === '\t') {
      i++;
    } else if (c === '"' || c === '[') {
      const close = c === '"' ? '"' : ']';
      let j = i + 1;
      while (j < body.length && body[j] !== close) j += body[j] === '\\' ? 2 : 1;
      if (j >= body.length) throw new Error(`unterminated ${c} in: ${body}`);
      tokens.push({ kind: c === '"' ? 'lit' : 'cls', text: body.slice(i, j + 1) });
      i = j + 1;
    } else if (/[a-zA-Z0-9-]/.test(c)) {
      const m = /^[a-zA-Z0-9-]+/.exec(body.slice(i))![0];
      tokens.push({ kind: 'ref', text: m });
      i += m.length;
    } else if (c === '{') {
      const m = /^\{\d+(,\d*)?\}/.exec(body.slice(i));
      if (m === null) throw new Error(`bad repetition at ${body.slice(i)}`);
      tokens.push({ kind: 'op', text: m[0] });
      i += m[0].length;
    } else if ('()|?*+'.includes(c)) {
      tokens.push({ kind: 'op', text: c });
      i++;
    } else {
      throw new Error(`unexpected ${JSON.stringify(c)} in: ${body}`);
    }
  }
  return tokens;
}

function parseGbnf(text: string): Map<string, Token[]> {
  const rules = new Map<string, Token[]>();
  for (const line of text.split('\n')) {
    if (line.trim() === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z0-9-]+) ::= (.*)$/.exec(line);
    if (m === null) throw new Error(`not a rule: ${line}`);
    if (rules.has(m[1]!)) throw new Error(`rule ${m[1]} defined twice`);
    rules.set(m[1]!, tokenize(m[2]!));
  }
  return rules;
}

function decodeLiteral(lit: string): string {
  return JSON.parse(lit.replace(/\\x([0-9a-f]{2})/g, '\\u00$1')) as string;
}

function gbnfToRegExp(text: string): RegExp {
  const rules = parseGbnf(text);
  const expand = (name: string, stack: string[]): string => {
    if (stack.includes(name)) throw new Error(`recursive rule ${name}`);
    const tokens = rules.get(name);
    if (tokens === undefined) throw new Error(`undefined rule ${name}`);
    let depth = 0;
    let out = '';
    for (const t of tokens) {
      if (t.kind === 'lit') out += `(?:${decodeLiteral(t.text).replace(/[\\^$.|?*+()[\]{}]/g, '\\$&')})`;
      else if (t.kind === 'cls') out += t.text;
      else if (t.kind === 'ref') out += `(?:${expand(t.text, [...stack, name])})`;
      else if (t.text === '(') {
        depth++;
        out += '(?:';
      } else {
        if (t.text === ')') depth--;
        if (depth < 0) throw new Error(`unbalanced ) in ${name}`);
        out += t.text;
      }
    }
    if (depth !== 0) throw new Error(`unbalanced ( in ${name}`);
    return out;
  };
  if (!rules.has('root')) throw new Error('no root rule');
  return new RegExp(`^(?:${expand('root', [])})$`);
}

// ---------- generators ----------

const text = fc
  .string({ unit: 'binary', maxLength: 40 })
  .map((s) => s.replace(/</g, '< ')) // a `<` followed by a space is allowed text
  .chain((s) => fc.constantFrom(s, `${s}\nx <= 3, <B> and a<2`));
const ws = fc.string({ unit: fc.constantFrom(' ', '\n', '\t', '\r'), maxLength: 16 });
const num = fc
  .tuple(fc.boolean(), fc.integer({ min: 0, max: 99 }), fc.option(fc.integer({ min: 0, max: 9 })))
  .map(([neg, int, dec]) => `${neg ? '-' : ''}${int}${dec === null ? '' : `.${dec}`}`);

interface Sample {
  thinking: string;
  analyze: string;
  response: string;
  gaps: string[]; // whitespace runs
  numbers: string[];
}

function sample(spec?: GameSpec): fc.Arbitrary<Sample> {
  const n = cellKeys(spec).length;
  return fc.record({
    thinking: text,
    analyze: text,
    response: text,
    gaps: fc.array(ws, { minLength: 4 * n + 10, maxLength: 4 * n + 10 }),
    numbers: fc.array(num, { minLength: 2 * n, maxLength: 2 * n }),
  });
}

function renderPayoff(s: Sample, keys: string[]): string {
  let g = 0;
  const w = () => s.gaps[g++ % s.gaps.length]!;
  const cells = keys.map(
    (k, i) =>
      `${w()}"${k}"${w()}:${w()}{${w()}"LLM"${w()}:${w()}${s.numbers[2 * i] ?? '0'}${w()},${w()}"user":${w()}${s.numbers[2 * i + 1] ?? '0'}${w()}}`,
  );
  return `{${cells.join(`${w()},`)}${w()}}`;
}

function render(s: Sample, keys: string[], payoffJson = renderPayoff(s, keys)): string {
  const gap = (i: number) => s.gaps[i % s.gaps.length] ?? '';
  return (
    `<thinking>${s.thinking}</thinking>${gap(0)}<payoff>${gap(1)}${payoffJson}${gap(2)}</payoff>` +
    `${gap(3)}<analyze>${s.analyze}</analyze>${gap(4)}<response>${s.response}</response>`
  );
}

// ---------- tests ----------

describe('buildFormatRegExp', () => {
  for (const [label, spec] of [
    ['default 2×3 spec', undefined],
    ['custom 3×4 spec', CUSTOM],
  ] as const) {
    it(`accepts well-formed outputs (${label}), which extractBlocks and JSON.parse also accept`, () => {
      const re = buildFormatRegExp(spec);
      const keys = payoffKeyOrder(spec);
      fc.assert(
        fc.property(sample(spec), (s) => {
          const out = render(s, keys);
          expect(re.test(out)).toBe(true);
          const r = extractBlocks(out);
          expect(isWellFormed(r)).toBe(true);
          const matrix = JSON.parse(r.blocks.payoff!.content) as Record<
            string,
            { LLM: number; user: number }
          >;
          expect(Object.keys(matrix)).toEqual(keys);
          for (const v of Object.values(matrix)) expect(Object.keys(v)).toEqual(['LLM', 'user']);
        }),
        { numRuns: 200 },
      );
    });

    it(`rejects malformed outputs (${label})`, () => {
      const re = buildFormatRegExp(spec);
      const keys = payoffKeyOrder(spec);
      const cases: Array<[string, (s: Sample) => string]> = [
        ['missing key', (s) => render(s, keys.slice(1))],
        ['extra key', (s) => render(s, [...keys, 'XQ_DA'])],
        ['wrong key', (s) => render(s, [...keys.slice(0, -1), 'dq_da'])],
        ['duplicate key', (s) => render(s, [...keys.slice(0, -1), keys[0]!])],
        ['keys out of order', (s) => render(s, [...keys].reverse())],
        ['two decimals', (s) => render({ ...s, numbers: ['1.25', ...s.numbers.slice(1)] }, keys)],
        ['three integer digits', (s) => render({ ...s, numbers: ['100', ...s.numbers.slice(1)] }, keys)],
        ['leading zero', (s) => render({ ...s, numbers: ['05', ...s.numbers.slice(1)] }, keys)],
        ['number as string', (s) => render({ ...s, numbers: ['"1"', ...s.numbers.slice(1)] }, keys)],
        ['text before', (s) => `Sure! ${render(s, keys)}`],
        ['text after', (s) => `${render(s, keys)}\nHope this helps.`],
        ['text between blocks', (s) => render(s, keys).replace('</thinking>', '</thinking>note')],
        ['missing block', (s) => render(s, keys).replace(`<analyze>${s.analyze}</analyze>`, '')],
        [
          'wrong order',
          (s) =>
            render(s, keys)
              .replace(`<analyze>${s.analyze}</analyze>`, () => '@@')
              .replace(`<response>${s.response}</response>`, () => `<analyze>${s.analyze}</analyze>`)
              .replace('@@', () => `<response>${s.response}</response>`),
        ],
        ['unclosed block', (s) => render(s, keys).replace('</response>', '')],
        ['tag inside a block', (s) => render({ ...s, thinking: `${s.thinking}<response>hi` }, keys)],
        ['closing tag inside a block', (s) => render({ ...s, analyze: `${s.analyze}</payoff>` }, keys)],
        ['block ending with <', (s) => render({ ...s, response: `${s.response}<` }, keys)],
        ['single quotes', (s) => render(s, keys).replace(/"LLM"/g, "'LLM'")],
        ['trailing comma', (s) => render(s, keys, `${renderPayoff(s, keys).slice(0, -1)},}`)],
      ];
      for (const [name, mutate] of cases) {
        fc.assert(
          fc.property(sample(spec), (s) => {
            expect(re.test(mutate(s)), name).toBe(false);
          }),
          { numRuns: 30 },
        );
      }
    });
  }

  it('bounds whitespace runs', () => {
    const re = buildFormatRegExp(undefined, { maxWhitespace: 2 });
    const ok = render(
      { thinking: '', analyze: '', response: '', gaps: ['\n\n'], numbers: [] },
      payoffKeyOrder(),
    );
    expect(re.test(ok)).toBe(true);
    expect(re.test(ok.replace('</thinking>\n\n', '</thinking>\n\n\n'))).toBe(false);
  });

  it('bounds the free-text blocks with maxChars', () => {
    const s: Sample = { thinking: 'abc', analyze: 'x', response: 'y', gaps: [''], numbers: [] };
    const keys = payoffKeyOrder();
    const re = buildFormatRegExp(undefined, { maxChars: { thinking: 3 } });
    expect(re.test(render(s, keys))).toBe(true);
    expect(re.test(render({ ...s, thinking: 'abcd' }, keys))).toBe(false);
    expect(re.test(render({ ...s, response: 'y'.repeat(5000) }, keys))).toBe(true);
    const all = buildFormatRegExp(undefined, { maxChars: 2 });
    expect(all.test(render({ ...s, thinking: 'ab' }, keys))).toBe(true);
    expect(all.test(render({ ...s, thinking: 'ab', response: 'abc' }, keys))).toBe(false);
  });

  it('follows integerDigits, decimals and keyOrder', () => {
    const keys = payoffKeyOrder();
    const base: Sample = { thinking: '', analyze: '', response: '', gaps: [' '], numbers: [] };
    const withNum = (n: string) => render({ ...base, numbers: Array(12).fill(n) }, keys);
    expect(buildFormatRegExp(undefined, { integerDigits: 3, decimals: 2 }).test(withNum('-123.45'))).toBe(
      true,
    );
    expect(buildFormatRegExp(undefined, { decimals: 0 }).test(withNum('2.5'))).toBe(false);
    expect(buildFormatRegExp(undefined, { decimals: 0 }).test(withNum('2'))).toBe(true);
    // The default is the paper's listing order; the option takes any other permutation (here row-major).
    const rowMajor = cellKeys();
    expect(rowMajor).not.toEqual(keys);
    const re = buildFormatRegExp(undefined, { keyOrder: rowMajor });
    expect(re.test(render(base, rowMajor))).toBe(true);
    expect(re.test(render(base, keys))).toBe(false);
    expect(() => buildRegex(undefined, { keyOrder: rowMajor.slice(1) })).toThrow(/permutation/);
  });

  it('builds continuation grammars with startAt and endAt', () => {
    const keys = payoffKeyOrder();
    const s: Sample = {
      thinking: 't',
      analyze: 'Chose DQ_DA.',
      response: 'About 230 million years ago.',
      gaps: ['\n'],
      numbers: [],
    };
    const full = render(s, keys);
    const afterPayoff = full.slice(full.indexOf('</payoff>') + '</payoff>'.length);
    expect(buildFormatRegExp(undefined, { startAt: 'analyze' }).test(afterPayoff)).toBe(true);
    expect(buildFormatRegExp(undefined, { startAt: 'analyze' }).test(full)).toBe(false);
    const afterAnalyze = full.slice(full.indexOf('</analyze>') + '</analyze>'.length);
    expect(buildFormatRegExp(undefined, { startAt: 'response' }).test(afterAnalyze)).toBe(true);
    const stage1 = full.slice(0, full.indexOf('</payoff>') + '</payoff>'.length);
    expect(buildFormatRegExp(undefined, { endAt: 'payoff' }).test(stage1)).toBe(true);
    expect(buildFormatRegExp(undefined, { endAt: 'payoff' }).test(full)).toBe(false);
    expect(() => buildRegex(undefined, { startAt: 'response', endAt: 'payoff' })).toThrow(/startAt/);
  });

  it('uses only plain regular-expression syntax (no lookarounds, backreferences or anchors)', () => {
    const src = buildRegex(CUSTOM, { maxChars: 100 });
    const outsideClasses = src.replace(/\[(?:\\.|[^\]\\])*\]/g, '');
    expect(outsideClasses).not.toMatch(/\(\?[=!<]|\\[1-9]|\\[bBk<>]|\^|\$/);
    expect(outsideClasses).toContain('(?:'); // the check above did see the groups
  });

  it('rejects invalid specs and options', () => {
    expect(() => buildRegex({ rows: ['A', 'A'], columns: ['X'] })).toThrow(/duplicate/);
    expect(() => buildRegex(undefined, { maxChars: -1 })).toThrow(/maxChars/);
    expect(() => buildGbnf(undefined, { maxWhitespace: 1.5 })).toThrow(/maxWhitespace/);
  });
});

describe('buildGbnf', () => {
  const keysInGrammar = (g: string) =>
    [...g.matchAll(/"\\"([^"\\]*)\\""/g)].map((m) => m[1]!).filter((k) => k !== 'LLM' && k !== 'user');

  for (const [label, spec] of [
    ['default 2×3 spec', undefined],
    ['custom 3×4 spec', CUSTOM],
  ] as const) {
    it(`is structurally sound with exactly the spec's keys (${label})`, () => {
      const g = buildGbnf(spec);
      const rules = parseGbnf(g);
      expect(rules.has('root')).toBe(true);
      for (const tokens of rules.values()) {
        for (const t of tokens) if (t.kind === 'ref') expect(rules.has(t.text), t.text).toBe(true);
      }
      expect(keysInGrammar(g)).toEqual(payoffKeyOrder(spec));
      expect(g).toContain('"\\"LLM\\""');
      expect(g).toContain('"\\"user\\""');
    });

    it(`accepts and rejects the same outputs as the regex (${label})`, () => {
      const gbnf = gbnfToRegExp(buildGbnf(spec));
      const keys = payoffKeyOrder(spec);
      fc.assert(
        fc.property(sample(spec), (s) => {
          expect(gbnf.test(render(s, keys))).toBe(true);
          expect(gbnf.test(render(s, keys.slice(1)))).toBe(false);
          expect(gbnf.test(render({ ...s, numbers: ['1.25', ...s.numbers.slice(1)] }, keys))).toBe(false);
          expect(gbnf.test(`x${render(s, keys)}`)).toBe(false);
          expect(gbnf.test(render({ ...s, thinking: `${s.thinking}</thinking>` }, keys))).toBe(false);
        }),
        { numRuns: 100 },
      );
    });
  }

  it('renders bounded repetition and continuation grammars that the reader understands', () => {
    const options: GrammarOptions = { startAt: 'analyze', maxChars: { response: 5 } };
    const g = buildGbnf(undefined, options);
    expect(g).not.toContain('payoff');
    expect(g).toContain('{0,5}');
    const re = gbnfToRegExp(g);
    expect(re.test('\n<analyze>DQ_DA</analyze>\n<response>Hi!</response>')).toBe(true);
    expect(re.test('\n<analyze>DQ_DA</analyze>\n<response>Hello!</response>')).toBe(false);
  });

  it('escapes unusual key characters so every key survives as a JSON string literal', () => {
    const spec: GameSpec = { rows: ['Q"1'], columns: ['A\\B'] };
    const key = cellKeys(spec)[0]!;
    const g = buildGbnf(spec);
    const re = gbnfToRegExp(g);
    const out = `<thinking></thinking><payoff>{${JSON.stringify(key)}: {"LLM": 1, "user": 2}}</payoff><analyze></analyze><response></response>`;
    expect(re.test(out)).toBe(true);
    expect(buildFormatRegExp(spec).test(out)).toBe(true);
  });
});
