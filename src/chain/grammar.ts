/**
 * Grammars that force the four-block format, derived from a game spec: GBNF for llama.cpp, and a plain
 * regular expression (no lookarounds, no backreferences) for vLLM / SGLang structured outputs.
 *
 * Both are rendered from one small grammar description, so they accept the same language:
 *
 *   <thinking>TEXT</thinking> WS <payoff> WS MATRIX WS </payoff> WS <analyze>TEXT</analyze> WS <response>TEXT</response>
 *
 * - TEXT: any characters except that `<` must be followed by a character that is not a lowercase ASCII
 *   letter, `/` or `<` (so `a < b` and `x <= 3` are fine, but no tag can be opened or closed inside a
 *   block, and a block cannot end with a bare `<`). Newlines are allowed. Every string of the language
 *   is therefore well-formed for `extractBlocks`.
 * - MATRIX: a JSON object with exactly the spec's cell keys in a fixed order (the option `keyOrder`, else
 *   the spec's payoff key order, `payoffKeyOrder`: the paper's `DQ_AQ, DQ_CQ, DQ_DA, VQ_AQ, VQ_CQ, VQ_DA`
 *   for the default spec), each mapping to `{"LLM": NUMBER, "user": NUMBER}` in that key order.
 * - NUMBER: `-?(0|[1-9][0-9]{0,d-1})(\.[0-9]{1,k})?`: valid JSON, at most d integer digits (default 2)
 *   and k decimals (default 1).
 * - WS: at most `maxWhitespace` (default 16) of space, tab, CR, LF, bounded so sampling cannot loop on
 *   whitespace.
 * - Nothing before `<thinking>` and nothing after `</response>`. A grammar starting at a later block
 *   (to continue after a prefix) begins with WS.
 */
import { DEFAULT_SPEC, type GameSpec, keyOrderProblems, payoffKeyOrder, specProblems } from '../game/spec.js';
import { BLOCK_NAMES, type BlockName } from './blocks.js';

export type TextBlockName = Exclude<BlockName, 'payoff'>;

export interface GrammarOptions {
  /** First block the grammar writes (default `thinking`). A later start begins with optional whitespace. */
  startAt?: BlockName;
  /** Last block the grammar writes (default `response`); e.g. `payoff` for stage 1 of a steered turn. */
  endAt?: BlockName;
  /**
   * Bound on each free-text block, in text units (a character, or `<` with the character after it).
   * A number applies to all three text blocks. Unbounded by default.
   */
  maxChars?: number | Partial<Record<TextBlockName, number>>;
  /** Longest whitespace run allowed between blocks and inside the JSON (default 16). */
  maxWhitespace?: number;
  /** Integer digits allowed in a payoff number (default 2, i.e. up to 99). */
  integerDigits?: number;
  /** Decimal places allowed in a payoff number (default 1; 0 allows integers only). */
  decimals?: number;
  /**
   * The order of the cell keys in the payoff JSON (a permutation of the spec's keys; default the spec's
   * payoff key order, see `payoffKeyOrder`).
   */
  keyOrder?: readonly string[];
}

/** A grammar node. `cls` holds a character-class body written the same way in GBNF and regex. */
type Node =
  | { t: 'lit'; s: string }
  | { t: 'cls'; body: string }
  | { t: 'seq'; xs: Node[] }
  | { t: 'alt'; xs: Node[] }
  | { t: 'rep'; x: Node; min: number; max: number | undefined }
  | { t: 'ref'; name: string };

const lit = (s: string): Node => ({ t: 'lit', s });
const cls = (body: string): Node => ({ t: 'cls', body });
const seq = (...xs: Node[]): Node => ({ t: 'seq', xs });
const alt = (...xs: Node[]): Node => ({ t: 'alt', xs });
const rep = (x: Node, min: number, max: number | undefined): Node => ({ t: 'rep', x, min, max });
const opt = (x: Node): Node => rep(x, 0, 1);
const ref = (name: string): Node => ({ t: 'ref', name });

interface Grammar {
  /** Rules in definition order; the first is the root. References always point to later rules. */
  rules: Array<[string, Node]>;
}

function checkCount(name: string, value: number, min: number): number {
  if (!Number.isSafeInteger(value) || value < min) {
    throw new RangeError(`grammar option ${name} must be an integer >= ${min}, got ${value}`);
  }
  return value;
}

function describeGrammar(spec: GameSpec, options: GrammarOptions): Grammar {
  const problems = specProblems(spec);
  if (problems.length > 0) throw new Error(`invalid game spec: ${problems.join('; ')}`);
  const startAt = options.startAt ?? 'thinking';
  const endAt = options.endAt ?? 'response';
  const first = BLOCK_NAMES.indexOf(startAt);
  const last = BLOCK_NAMES.indexOf(endAt);
  if (first === -1 || last === -1 || last < first) {
    throw new RangeError(`grammar options: startAt "${startAt}" must not come after endAt "${endAt}"`);
  }
  const maxWs = checkCount('maxWhitespace', options.maxWhitespace ?? 16, 0);
  const intDigits = checkCount('integerDigits', options.integerDigits ?? 2, 1);
  const decimals = checkCount('decimals', options.decimals ?? 1, 0);
  const keys = options.keyOrder === undefined ? payoffKeyOrder(spec) : [...options.keyOrder];
  const orderProblems = keyOrderProblems(spec, keys);
  if (orderProblems.length > 0) {
    throw new RangeError(
      `grammar option keyOrder must be a permutation of ${payoffKeyOrder(spec).join(', ')} (${orderProblems.join('; ')})`,
    );
  }
  const maxCharsFor = (name: TextBlockName): number | undefined => {
    const m = options.maxChars;
    const value = typeof m === 'number' ? m : m?.[name];
    return value === undefined ? undefined : checkCount(`maxChars for ${name}`, value, 0);
  };

  const blocks = BLOCK_NAMES.slice(first, last + 1);
  const rules: Array<[string, Node]> = [];
  const root: Node[] = startAt === 'thinking' ? [] : [ref('ws')];
  blocks.forEach((name, i) => {
    if (i > 0) root.push(ref('ws'));
    root.push(ref(`${name}-block`));
  });
  rules.push(['root', seq(...root)]);
  const textUnit = alt(cls('^<'), seq(lit('<'), cls('^<a-z/')));
  for (const name of blocks) {
    if (name === 'payoff') {
      rules.push([
        'payoff-block',
        seq(lit('<payoff>'), ref('ws'), ref('matrix'), ref('ws'), lit('</payoff>')),
      ]);
    } else {
      rules.push([`${name}-block`, seq(lit(`<${name}>`), ref(`${name}-text`), lit(`</${name}>`))]);
      rules.push([`${name}-text`, rep(textUnit, 0, maxCharsFor(name))]);
    }
  }
  if (blocks.includes('payoff')) {
    const entries: Node[] = [lit('{')];
    keys.forEach((key, i) => {
      if (i > 0) entries.push(ref('ws'), lit(','));
      entries.push(ref('ws'), lit(JSON.stringify(key)), ref('ws'), lit(':'), ref('ws'), ref('pair'));
    });
    entries.push(ref('ws'), lit('}'));
    rules.push(['matrix', seq(...entries)]);
    rules.push([
      'pair',
      seq(
        lit('{'),
        ref('ws'),
        lit('"LLM"'),
        ref('ws'),
        lit(':'),
        ref('ws'),
        ref('number'),
        ref('ws'),
        lit(','),
        ref('ws'),
        lit('"user"'),
        ref('ws'),
        lit(':'),
        ref('ws'),
        ref('number'),
        ref('ws'),
        lit('}'),
      ),
    ]);
    const integer = alt(
      lit('0'),
      intDigits === 1 ? cls('1-9') : seq(cls('1-9'), rep(cls('0-9'), 0, intDigits - 1)),
    );
    const parts: Node[] = [opt(lit('-')), integer];
    if (decimals > 0) parts.push(opt(seq(lit('.'), rep(cls('0-9'), 1, decimals))));
    rules.push(['number', seq(...parts)]);
  }
  rules.push(['ws', rep(cls(' \\t\\r\\n'), 0, maxWs)]);
  return { rules };
}

// ---------- GBNF rendering ----------

function gbnfLiteral(s: string): string {
  let out = '"';
  for (const ch of s) {
    const code = ch.codePointAt(0) ?? 0;
    if (ch === '"' || ch === '\\') out += `\\${ch}`;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (code < 0x20 || code === 0x7f) out += `\\x${code.toString(16).padStart(2, '0')}`;
    else out += ch;
  }
  return `${out}"`;
}

function quantifier(min: number, max: number | undefined): string {
  if (min === 1 && max === 1) return '';
  if (min === 0 && max === 1) return '?';
  if (min === 0 && max === undefined) return '*';
  if (min === 1 && max === undefined) return '+';
  if (max === undefined) return `{${min},}`;
  return min === max ? `{${min}}` : `{${min},${max}}`;
}

function gbnfNode(node: Node, nested: boolean): string {
  switch (node.t) {
    case 'lit':
      return gbnfLiteral(node.s);
    case 'cls':
      return `[${node.body}]`;
    case 'ref':
      return node.name;
    case 'seq': {
      const s = node.xs.map((x) => gbnfNode(x, true)).join(' ');
      return nested && node.xs.length > 1 ? `( ${s} )` : s;
    }
    case 'alt': {
      const s = node.xs.map((x) => gbnfNode(x, false)).join(' | ');
      return nested ? `( ${s} )` : s;
    }
    case 'rep': {
      // Quantifiers bind to one atom: wrap anything that is not a literal, class or reference.
      const inner =
        node.x.t === 'seq' || node.x.t === 'alt' ? `( ${gbnfNode(node.x, false)} )` : gbnfNode(node.x, true);
      return `${inner}${quantifier(node.min, node.max)}`;
    }
  }
}

/**
 * A llama.cpp GBNF grammar (root rule `root`) for the four-block format of `spec`.
 * Throws on an invalid spec or options (programming errors).
 */
export function buildGbnf(spec: GameSpec = DEFAULT_SPEC, options: GrammarOptions = {}): string {
  const { rules } = describeGrammar(spec, options);
  return `${rules.map(([name, node]) => `${name} ::= ${gbnfNode(node, false)}`).join('\n')}\n`;
}

// ---------- regex rendering ----------

const REGEX_META = /[\\^$.|?*+()[\]{}]/g;

function regexNode(node: Node, rules: Map<string, Node>): string {
  switch (node.t) {
    case 'lit':
      // `<`, `>` and `/` are never escaped: some engines read `\<` as a word boundary.
      return node.s.replace(REGEX_META, '\\$&');
    case 'cls':
      return `[${node.body}]`;
    case 'ref': {
      const target = rules.get(node.name);
      return target === undefined ? '' : regexNode(target, rules);
    }
    case 'seq':
      return node.xs.map((x) => regexAtomOrSeq(x, rules)).join('');
    case 'alt':
      return node.xs.map((x) => regexNode(x, rules)).join('|');
    case 'rep': {
      const inner = regexNode(node.x, rules);
      const atom = isRegexAtom(node.x, rules) ? inner : `(?:${inner})`;
      return `${atom}${quantifier(node.min, node.max)}`;
    }
  }
}

function resolve(node: Node, rules: Map<string, Node>): Node {
  let n = node;
  while (n.t === 'ref') {
    const target = rules.get(n.name);
    if (target === undefined) break;
    n = target;
  }
  return n;
}

function isRegexAtom(node: Node, rules: Map<string, Node>): boolean {
  const n = resolve(node, rules);
  return n.t === 'cls' || (n.t === 'lit' && n.s.length === 1);
}

/** A sequence element needs a group only when it is an alternation. */
function regexAtomOrSeq(node: Node, rules: Map<string, Node>): string {
  const s = regexNode(node, rules);
  return resolve(node, rules).t === 'alt' ? `(?:${s})` : s;
}

/**
 * The same language as `buildGbnf`, as an unanchored regular expression source for structured-output
 * engines (vLLM, SGLang, Outlines, xgrammar): groups, classes and counted repetition only.
 */
export function buildRegex(spec: GameSpec = DEFAULT_SPEC, options: GrammarOptions = {}): string {
  const { rules } = describeGrammar(spec, options);
  const byName = new Map(rules);
  const root = rules[0];
  return root === undefined ? '' : regexNode(root[1], byName);
}

/** A JavaScript RegExp anchored at both ends that tests whether a whole output is in the language. */
export function buildFormatRegExp(spec: GameSpec = DEFAULT_SPEC, options: GrammarOptions = {}): RegExp {
  return new RegExp(`^(?:${buildRegex(spec, options)})$`, 'u');
}
