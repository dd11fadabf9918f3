import type { LoadedOf } from '../config/load.js';
import { describedAs, group } from '../config/setting.js';
import { COLUMNS, ROWS, TOLERANCE } from '../config/settings/game.js';
import { JSON_OUTPUT } from '../config/settings/output.js';
import { RULE } from '../config/settings/steering.js';
import { analyzeGame, type GameAnalysis } from '../game/analyze.js';
import { formatPayoffPair } from '../game/format.js';
import { matrixProblems } from '../game/matrix.js';
import { assertSolvableSize, GameTooLargeError, MAX_SUPPORT_PAIRS } from '../game/nash.js';
import {
  cellKey,
  cellKeys,
  DEFAULT_SPEC,
  type GameSpec,
  type PayoffMatrix,
  specProblems,
} from '../game/spec.js';
import { jsonDuplicateKey, jsonErrorOffset, jsonNestingPast, lineAndColumn } from '../io/json-scan.js';
import { recordIdProblem } from '../io/record-id.js';
import { defineCommand } from './command.js';
import { InputError, UsageError } from './errors.js';
import { nonBlankLines, readInput, writeOut } from './io.js';
import { givenSetting, settingConflict } from './setting-conflict.js';

const SETTINGS = [
  group('Options', [
    describedAs(
      JSON_OUTPUT,
      'one JSON object per input, one line each, in input order:\nid, pareto, selected, argmax_product, pure_nash, nash, degenerate,\nnote (degenerate games only), rule, selection',
    ),
    describedAs(RULE, `selection rule to report: ${RULE.help.replace(/^selection rule: /, '')}`),
    TOLERANCE,
    ROWS,
    COLUMNS,
  ]),
] as const;

/** How much report text is gathered before it is written. */
const OUTPUT_BATCH_CHARS = 1 << 20;

interface GameInput {
  id?: string | number;
  matrix: PayoffMatrix;
}

/** Checks one matrix value against the spec; the error lists every problem with its cell key and field. */
function checkedMatrix(value: unknown, spec: GameSpec, where: string): PayoffMatrix {
  const problems = matrixProblems(value, spec);
  if (problems.length > 0) throw new InputError(`${where}: ${problems.map((p) => p.message).join('; ')}`);
  const matrix: PayoffMatrix = {};
  // Copy only LLM and user so extra fields in the input do not leak into the output.
  for (const key of cellKeys(spec)) {
    const cell = (value as PayoffMatrix)[key]!;
    matrix[key] = { LLM: cell.LLM, user: cell.user };
  }
  return matrix;
}

function toInput(value: unknown, spec: GameSpec, where: string): GameInput {
  if (typeof value === 'object' && value !== null && 'matrix' in value) {
    const { id, matrix } = value as { id?: unknown; matrix: unknown };
    const idProblem = id === undefined ? undefined : recordIdProblem(id);
    if (idProblem !== undefined) throw new InputError(`${where}: ${idProblem}`);
    const input: GameInput = { matrix: checkedMatrix(matrix, spec, where) };
    if (id !== undefined) input.id = id as string | number; // checked above
    return input;
  }
  return { matrix: checkedMatrix(value, spec, where) };
}

/**
 * The engine's JSON error message without its position, led by where the error is in `text`: `line L
 * column C: …` (or `column C: …` for one line). V8 gives no position for an unexpected token (a NaN, a
 * word), so the position is found by scanning (io/json-scan.ts).
 */
function jsonErrorWhere(err: unknown, text: string, oneLine: boolean): string {
  const message = err instanceof Error ? err.message : String(err);
  const bare = message.replace(/ at position \d+( \(line \d+ column \d+\))?/, '');
  // JSON.parse was given the text trimmed (a byte-order mark is no JSON whitespace): scan the same.
  const start = text.length - text.trimStart().length;
  const offset = jsonErrorOffset(text.trim());
  if (offset === undefined) return message;
  const { line, column } = lineAndColumn(text, start + offset);
  return oneLine ? `column ${column}: ${bare}` : `line ${line} column ${column}: ${bare}`;
}

/**
 * Refuses JSON `text` (valid) in which an object holds a key twice: JSON.parse keeps the last value, so a
 * cell written twice (pasted over, say) would be analysed as one of them without a word.
 */
function refuseDuplicateKeys(text: string, where: string, oneLine: boolean): void {
  // Scanned as JSON.parse read it: trimmed (a byte-order mark is no JSON whitespace).
  const start = text.length - text.trimStart().length;
  const duplicate = jsonDuplicateKey(text.trim());
  if (duplicate === undefined) return;
  const { line, column } = lineAndColumn(text, start + duplicate.offset);
  const at = oneLine ? `column ${column}` : `line ${line} column ${column}`;
  throw new InputError(
    `${where}: ${JSON.stringify(duplicate.key)} appears twice in one object (the second at ${at}); ` +
      'JSON keeps only the last, so remove the one you do not mean',
  );
}

/** How deep an input may nest: a record is 3 levels ({"matrix": {cell: {…}}}), room is left for metadata. */
const MAX_NESTING = 64;

/** Bad lines named in one error; the others are counted. */
const ERRORS_SHOWN = 20;

/**
 * Reads one matrix, one record, or JSONL records from the text. JSONL lines are all checked first, every
 * bad one reported at once (one run shows every fix needed); the inputs are then read again one at a time
 * as they are taken, so a large file's records are never all in memory (100,000 records held ~400 MB).
 */
export function parseGameInputs(
  text: string,
  name: string,
  spec: GameSpec = DEFAULT_SPEC,
): Iterable<GameInput> {
  const trimmed = text.trim();
  if (trimmed === '') throw new InputError(`${name}: empty input`);
  const deep = jsonNestingPast(text, MAX_NESTING);
  if (deep !== undefined) {
    const { line, column } = lineAndColumn(text, deep);
    throw new InputError(
      `${name}: nested more than ${MAX_NESTING} levels deep at line ${line} column ${column}; a game record nests 3`,
    );
  }
  // A whole-file JSON value (possibly pretty-printed over many lines) is one game.
  let whole: unknown;
  let wholeError: unknown;
  try {
    whole = JSON.parse(trimmed);
  } catch (err) {
    wholeError = err;
  }
  if (wholeError === undefined) {
    refuseDuplicateKeys(text, name, false);
    return [toInput(whole, spec, name)];
  }
  let lines = 0;
  let notJson = 0;
  let bad = 0;
  const shown: string[] = [];
  for (const { line, text: lineText } of nonBlankLines(text)) {
    lines++;
    const where = `${name} line ${line}`;
    try {
      let value: unknown;
      try {
        value = JSON.parse(lineText);
      } catch (err) {
        notJson++;
        throw new InputError(`${where}: not valid JSON (${jsonErrorWhere(err, lineText, true)})`);
      }
      refuseDuplicateKeys(lineText, where, true);
      toInput(value, spec, where);
    } catch (err) {
      if (!(err instanceof InputError)) throw err;
      if (bad++ < ERRORS_SHOWN) shown.push(err.message);
    }
  }
  // No line is JSON on its own: a JSON document spread over lines (a pretty-printed matrix) with an error
  // in it. One message at the right line beats one per line.
  if (lines > 1 && notJson === lines) {
    throw new InputError(`${name}: not valid JSON (${jsonErrorWhere(wholeError, text, false)})`);
  }
  // One line (a matrix on one line, say) has its error alone, not a count of bad lines.
  if (bad === 1 && lines === 1) throw new InputError(shown[0]!);
  if (bad > 0) {
    const more = bad > ERRORS_SHOWN ? `\n(and ${bad - ERRORS_SHOWN} more bad lines)` : '';
    throw new InputError(`${bad} bad input line(s):\n${shown.join('\n')}${more}`);
  }
  return {
    *[Symbol.iterator]() {
      for (const { line, text: lineText } of nonBlankLines(text)) {
        yield toInput(JSON.parse(lineText), spec, `${name} line ${line}`);
      }
    },
  };
}

/** The --json shape of one analysis. */
export function analysisJson(input: GameInput, analysis: GameAnalysis): Record<string, unknown> {
  return {
    ...(input.id !== undefined ? { id: input.id } : {}),
    pareto: analysis.pareto,
    selected: analysis.selected,
    argmax_product: analysis.argmax_product,
    pure_nash: analysis.pure_nash,
    nash: analysis.nash,
    degenerate: analysis.degenerate,
    ...(analysis.note ? { note: analysis.note } : {}),
    rule: analysis.selection.rule,
    selection: { selected: analysis.selection.selected, reason: analysis.selection.reason },
  };
}

// Six decimals, except for a payoff so small that they would show it as 0 next to real zeros.
const fmt = (x: number) =>
  Number.isInteger(x) ? x.toFixed(1) : Math.abs(x) < 5e-7 ? x.toExponential(2) : String(Number(x.toFixed(6)));

/** A readable report: the matrix with markers, the frontier, equilibria and the choice. */
export function renderAnalysis(input: GameInput, analysis: GameAnalysis, spec: GameSpec): string {
  const out: string[] = [];
  if (input.id !== undefined) out.push(`game ${input.id}`);
  const cellText = (row: string, col: string) => {
    const key = cellKey(row, col);
    const p = input.matrix[key]!;
    const marks = `${analysis.pareto.includes(key) ? '*' : ' '}${analysis.selection.selected[0] === key ? '<' : ' '}`;
    return `${formatPayoffPair(p, fmt)}${marks}`;
  };
  const width = Math.max(
    ...spec.columns.map((c) => c.length),
    ...spec.rows.flatMap((r) => spec.columns.map((c) => cellText(r, c).length)),
  );
  const rowHead = Math.max('user\\LLM'.length, ...spec.rows.map((r) => r.length));
  out.push(
    `${'user\\LLM'.padEnd(rowHead + 2)}${spec.columns.map((c) => c.padEnd(width + 2)).join('')}`.trimEnd(),
  );
  for (const r of spec.rows) {
    out.push(
      `${r.padEnd(rowHead + 2)}${spec.columns.map((c) => cellText(r, c).padEnd(width + 2)).join('')}`.trimEnd(),
    );
  }
  out.push('  (* on the Pareto frontier, < selected)');
  out.push(`Pareto frontier: ${analysis.pareto.join(', ')}`);
  out.push(
    `Selected (${analysis.selection.rule}): ${analysis.selection.selected.join(', ')} (${analysis.selection.reason})`,
  );
  if (analysis.selection.rule !== 'sum') out.push(`Selected by the default rule (sum): ${analysis.selected}`);
  out.push(`Argmax user*LLM: ${analysis.argmax_product.join(', ')}`);
  out.push(`Pure Nash equilibria: ${analysis.pure_nash.length > 0 ? analysis.pure_nash.join(', ') : 'none'}`);
  out.push(
    `Nash equilibria (mixed included): ${analysis.nash.length}${analysis.degenerate ? ' (degenerate game: equilibria may form a continuum; this list may be incomplete)' : ''}`,
  );
  for (const eq of analysis.nash) {
    const u = Object.entries(eq.user)
      .map(([k, p]) => `${k} ${fmt(p)}`)
      .join(', ');
    const l = Object.entries(eq.llm)
      .map(([k, p]) => `${k} ${fmt(p)}`)
      .join(', ');
    out.push(`  user [${u}]  LLM [${l}]  payoff ${formatPayoffPair(eq.payoff, fmt)}`);
  }
  if (analysis.note) out.push(`Note: ${analysis.note}`);
  return `${out.join('\n')}\n`;
}

/** The solver's refusal in a command user's words (the library's names an option the CLI does not have). */
function tooLarge(err: GameTooLargeError): UsageError {
  return new UsageError(
    `--rows/--columns: game too large for support enumeration: ${err.rows}×${err.columns} has ` +
      `${err.supportPairs} support pairs, past the ${MAX_SUPPORT_PAIRS} this command solves ` +
      '(10×10 has 184755, 2×20 has 230)',
  );
}

/**
 * The game spec of --rows/--columns (each defaults to the paper's strategies); a problem names the
 * settings where they were given (flags: a usage error; the settings file: a setting to fix).
 */
function specFromSettings(loaded: LoadedOf<[typeof ROWS, typeof COLUMNS]>): GameSpec {
  const { rows, columns } = loaded.values;
  if (rows === undefined && columns === undefined) return DEFAULT_SPEC;
  const list = (value: string | undefined, fallback: readonly string[]) =>
    value === undefined ? [...fallback] : value.split(',').map((x) => x.trim());
  const spec: GameSpec = {
    rows: list(rows, DEFAULT_SPEC.rows),
    columns: list(columns, DEFAULT_SPEC.columns),
  };
  // Past the solver's limit every matrix would be refused: say so before reading (or listing) its cells.
  try {
    assertSolvableSize(spec.rows.length, spec.columns.length);
  } catch (err) {
    if (err instanceof GameTooLargeError) throw tooLarge(err);
    throw err;
  }
  const problems = specProblems(spec);
  if (problems.length > 0) {
    const given = [
      givenSetting(loaded, 'rows', 'game.rows'),
      givenSetting(loaded, 'columns', 'game.columns'),
    ].filter((g) => g.source.kind !== 'default');
    throw settingConflict(given, (...names) => {
      const flags = given.every((g) => g.source.kind === 'flag');
      return `${flags ? '--rows/--columns' : names.join(', ')}: ${problems.join('; ')}`;
    });
  }
  return spec;
}

export const gameAnalyzeCommand = defineCommand({
  name: 'game analyze',
  usage:
    'Usage: gtalign game analyze [FILE|-] [--json] [--rule NAME] [--tolerance X] [--rows A,B --columns X,Y,Z]',
  about: `Analyses payoff matrices of the user-assistant game: Pareto frontier, the selected cell,
the argmax of user*LLM, pure and mixed Nash equilibria.

Input (FILE, or stdin when FILE is '-' or absent):
  - one matrix: a JSON object keyed by cell (DQ_DA, DQ_CQ, DQ_AQ, VQ_DA, VQ_CQ, VQ_AQ),
    each {"LLM": number, "user": number}; or one {"id": ..., "matrix": {...}} object;
  - or JSONL: one {"id": ..., "matrix": {...}} object per line.`,
  notes: 'Exit codes: 0 ok, 1 bad input (the message names the line and the key), 2 bad usage.',
  settings: SETTINGS,
  positionals: true,
  async run(loaded, ctx) {
    const { values, positionals } = loaded;
    if (positionals.length > 1) throw new UsageError(`expected at most one FILE, got ${positionals.length}`);
    const { rule, tolerance } = values;
    const spec = specFromSettings(loaded);
    const { name, text } = await readInput(positionals[0], ctx.stdin);
    const inputs = parseGameInputs(text, name, spec);
    // Written a batch at a time: the whole report of a large input would not fit in one string.
    let batch = '';
    let i = 0;
    for (const input of inputs) {
      let analysis: GameAnalysis;
      try {
        analysis = analyzeGame(input.matrix, { spec, rule, tolerance });
      } catch (err) {
        if (err instanceof GameTooLargeError) throw tooLarge(err);
        throw err;
      }
      if (!values.json && i++ > 0) batch += '\n';
      batch += values.json
        ? `${JSON.stringify(analysisJson(input, analysis))}\n`
        : renderAnalysis(input, analysis, spec);
      if (batch.length >= OUTPUT_BATCH_CHARS) {
        await writeOut(ctx.stdout, batch);
        batch = '';
      }
    }
    if (batch !== '') await writeOut(ctx.stdout, batch);
    return 0;
  },
});
