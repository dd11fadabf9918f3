/**
 * Editing the `<payoff>` block of a steered turn (pure): quantizing the edited matrix, rendering it as the
 * prompt asks (in the spec's payoff key order, the one the prompt lists and the grammars force), and
 * putting it back into the stage-1 text.
 */
import { DEFAULT_SPEC, type GameSpec, type PayoffMatrix, payoffKeyOrder } from '../game/spec.js';

/**
 * `x` rounded to two decimals (−0 becomes 0). Halves round away from zero, decided on the decimal value
 * the number stands for: 8 + 0.405 is 8.404999… in binary but rounds to 8.41 like 0.405 does.
 */
export function roundHundredths(x: number): number {
  // Past 1e13 a double has no hundredths to round (and x·100 may overflow to Infinity).
  if (!Number.isFinite(x) || Math.abs(x) >= 1e13) return x;
  const r = (Math.sign(x) * Math.round(Number((Math.abs(x) * 100).toPrecision(12)))) / 100;
  return r === 0 ? 0 : r;
}

/**
 * Rounds every payoff to two decimals (−0 becomes 0). The edited matrix is quantized before the selection,
 * so the cell gtalign selects is the best cell of exactly the numbers the model reads in stage 2.
 */
export function quantizeMatrix(matrix: PayoffMatrix, spec: GameSpec = DEFAULT_SPEC): PayoffMatrix {
  const out: PayoffMatrix = {};
  for (const key of payoffKeyOrder(spec)) {
    const p = matrix[key]!;
    out[key] = { LLM: roundHundredths(p.LLM), user: roundHundredths(p.user) };
  }
  return out;
}

/** A payoff as the prompt asks for it: one decimal when that is exact (`2.0`, `-0.5`), else two (`1.28`). */
export function renderNumber(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  const one = Math.round(x * 10) / 10;
  if (Math.abs(one - x) < 1e-9) return (one === 0 ? 0 : one).toFixed(1);
  const two = Math.round(x * 100) / 100;
  if (Math.abs(two - x) < 1e-9) return (two === 0 ? 0 : two).toFixed(2);
  return String(x);
}

/**
 * The order in which the model wrote the cell keys in its payoff text; the spec's payoff key order when a
 * key cannot be found exactly once. (The edited matrix of a turn is written in the spec's payoff key
 * order whatever the model's; this tells how the model's own text was laid out.)
 */
export function modelKeyOrder(payoffText: string, spec: GameSpec = DEFAULT_SPEC): string[] {
  const keys = payoffKeyOrder(spec);
  const at = new Map<string, number>();
  for (const key of keys) {
    const positions = [`"${key}"`, `'${key}'`, `“${key}”`]
      .map((quoted) => payoffText.indexOf(quoted))
      .filter((i) => i >= 0);
    if (positions.length !== 1) return keys;
    at.set(key, positions[0]!);
  }
  return [...keys].sort((a, b) => at.get(a)! - at.get(b)!);
}

/** A matrix as strict JSON, one cell per line, in `keyOrder` (default the spec's payoff key order). */
export function renderMatrix(
  matrix: PayoffMatrix,
  spec: GameSpec = DEFAULT_SPEC,
  keyOrder: readonly string[] = payoffKeyOrder(spec),
): string {
  const lines = keyOrder.map((key) => {
    const p = matrix[key]!;
    return `  ${JSON.stringify(key)}: {"LLM": ${renderNumber(p.LLM)}, "user": ${renderNumber(p.user)}}`;
  });
  return `{\n${lines.join(',\n')}\n}`;
}

/** One character of JavaScript whitespace (what the model may put around its JSON). */
const WHITESPACE = /\s/;

/**
 * Replaces the content of the payoff block at `[contentStart, contentEnd)` of `text` by `json`, keeping the
 * whitespace the model put around its JSON.
 */
export function replacePayoffContent(
  text: string,
  contentStart: number,
  contentEnd: number,
  json: string,
): string {
  // Counted one character at a time: /\s*$/ would run from every whitespace character of a run inside the
  // block to the run's end (minutes for a model's megabyte of blank lines).
  let leadEnd = contentStart;
  while (leadEnd < contentEnd && WHITESPACE.test(text.charAt(leadEnd))) leadEnd++;
  let trailStart = contentEnd;
  while (trailStart > leadEnd && WHITESPACE.test(text.charAt(trailStart - 1))) trailStart--;
  return `${text.slice(0, leadEnd)}${json}${text.slice(trailStart)}`;
}
