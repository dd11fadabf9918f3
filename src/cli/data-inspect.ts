import { describedAs, group } from '../config/setting.js';
import { INSPECT_LIMIT, WIDTH } from '../config/settings/data.js';
import { JSON_OUTPUT } from '../config/settings/output.js';
import { DataError } from '../data/errors.js';
import { iterateJsonlLines, parseJsonlLine } from '../data/jsonl.js';
import { expandInputs, formatOf } from '../data/load.js';
import { isOpenRlhfShape, OPENRLHF_FIELDS, parseOpenRlhfRecord } from '../data/openrlhf.js';
import { iterateParquetRecords, openParquet, parquetFileFields } from '../data/parquet.js';
import { parseRecord } from '../data/row.js';
import { addRecordShapes, type Field, fieldsOf, type Shape, shapeToString } from '../data/shape.js';
import { defineCommand } from './command.js';
import { InputError, UsageError } from './errors.js';
import { writeOut } from './io.js';

const SETTINGS = [
  group('Options', [
    describedAs(
      JSON_OUTPUT,
      `one JSON object: {"files": [{"file", "format", "layout" (verl, flat,
openrlhf or mixed), "rows", "file_rows" (with --limit), "data_sources":
{name: n}, "fields": [{"name", "type"}], "example": {"row", "id", "record"},
"invalid", "errors"}], "total": {"files", "rows", "data_sources", "invalid",
"duplicate_ids"}}`,
    ),
    INSPECT_LIMIT,
    WIDTH,
  ]),
] as const;

const MAX_ERRORS = 5;

/** The shape of a file's records: a data set layout, or our OpenRLHF export. */
type Layout = 'verl' | 'flat' | 'openrlhf';

interface FileReport {
  file: string;
  format: 'parquet' | 'jsonl';
  /** The layout of the file's records (`mixed` when they differ); absent when no record was an object. */
  layout?: Layout | 'mixed';
  rows: number;
  /** Rows in the whole file (parquet footer), when --limit read fewer. */
  file_rows?: number;
  data_sources: Record<string, number>;
  fields: Array<{ name: string; type: string }>;
  /** The fields with their shapes, for the nested text layout (not in --json). */
  shapes: Field[];
  example?: { row: number; id: string; record: Record<string, unknown> };
  invalid: number;
  errors: string[];
}

function count(map: Record<string, number>, key: string, n = 1): void {
  map[key] = (map[key] ?? 0) + n;
}

function layoutOf(value: unknown): Layout | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  if (isOpenRlhfShape(value)) return 'openrlhf';
  if ('reward_model' in value) return 'verl';
  return 'ground_truth' in value ? 'flat' : undefined;
}

async function inspectFile(
  file: string,
  limit: number | undefined,
  ids: Map<string, string>,
  duplicates: string[],
): Promise<FileReport> {
  const format = formatOf(file) ?? 'parquet';
  const report: FileReport = {
    file,
    format,
    rows: 0,
    data_sources: {},
    fields: [],
    shapes: [],
    invalid: 0,
    errors: [],
  };
  const fail = (message: string) => {
    report.invalid++;
    if (report.errors.length < MAX_ERRORS) report.errors.push(message);
  };
  const take = (value: unknown, row: number, line?: number) => {
    report.rows++;
    const source = line === undefined ? { file, row } : { file, row, line };
    const layout = layoutOf(value);
    if (layout !== undefined)
      report.layout = report.layout === undefined || report.layout === layout ? layout : 'mixed';
    const result = layout === 'openrlhf' ? parseOpenRlhfRecord(value, source) : parseRecord(value, source);
    if (!result.ok) {
      fail(result.error.message);
      return;
    }
    count(report.data_sources, result.row.data_source);
    const where = line === undefined ? `${file}: row ${row}` : `${file}:${line}`;
    const first = ids.get(result.row.id);
    if (first !== undefined) duplicates.push(`id ${result.row.id} at ${where} repeats ${first}`);
    else ids.set(result.row.id, where);
    if (!report.example)
      report.example = { row, id: result.row.id, record: value as Record<string, unknown> };
  };
  const options = limit === undefined ? {} : { limit };
  if (format === 'parquet') {
    const pq = await openParquet(file);
    report.shapes = parquetFileFields(pq);
    for await (const record of iterateParquetRecords(pq, options)) {
      if (record.notUtf8 === undefined) take(record.value, record.row);
      else {
        report.rows++;
        fail(`${file}: row ${record.row}: ${record.notUtf8}`);
      }
    }
    if (report.rows < pq.rows) report.file_rows = pq.rows;
  } else {
    const shapes = new Map<string, Shape>();
    for await (const line of iterateJsonlLines(file, options)) {
      const record = parseJsonlLine(file, line);
      if (record instanceof DataError) {
        report.rows++;
        fail(record.message);
        continue;
      }
      if (typeof record.value === 'object' && record.value !== null && !Array.isArray(record.value))
        addRecordShapes(shapes, record.value as Record<string, unknown>);
      take(record.value, record.row, record.line);
    }
    report.shapes = fieldsOf(shapes);
  }
  report.fields = report.shapes.map((f) => ({ name: f.name, type: shapeToString(f.shape) }));
  return report;
}

/** One line per field; a struct (or list of structs) too long for one line lists its fields below it. */
function fieldLines(name: string, shape: Shape, indent: string): string[] {
  const flat = `${indent}${name}: ${shapeToString(shape)}`;
  if (flat.length <= 100) return [flat];
  const struct = shape.kind === 'list' && shape.element.kind === 'struct' ? shape.element : shape;
  if (struct.kind !== 'struct') return [flat];
  const head = `${indent}${name}: ${struct === shape ? 'struct' : 'list<struct>'}`;
  return [head, ...[...struct.fields].flatMap(([k, s]) => fieldLines(k, s, `${indent}  `))];
}

/** Copies a value with long strings cut to `width` characters plus a note of how much was cut. */
function shorten(value: unknown, width: number): unknown {
  if (typeof value === 'string') {
    const chars = [...value];
    return width > 0 && chars.length > width
      ? `${chars.slice(0, width).join('')}… (+${chars.length - width} chars)`
      : value;
  }
  if (Array.isArray(value)) return value.map((v) => shorten(v, width));
  if (typeof value === 'object' && value !== null)
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, shorten(v, width)]));
  return value;
}

function table(counts: Record<string, number>, indent: string): string[] {
  const names = Object.keys(counts).sort();
  const pad = Math.max(0, ...names.map((n) => n.length));
  return names.map((n) => `${indent}${n.padEnd(pad)}  ${counts[n]}`);
}

/** What an OpenRLHF export is, for a reader who took it for a data set. */
function openRlhfNote(layout: 'openrlhf' | 'mixed'): string[] {
  const what =
    layout === 'openrlhf'
      ? 'an OpenRLHF export (gtalign data export --format openrlhf)'
      : 'data set rows mixed with OpenRLHF export lines (gtalign data export --format openrlhf)';
  return [
    `  note: ${what}, fields ${OPENRLHF_FIELDS.join(', ')}: training input, not a data set.`,
    '    Its rows are read back from input (the prompt) and label (data source, ground truth, extra_info);',
    '    to check the data set itself, inspect the files it was exported from.',
  ];
}

function textReport(reports: FileReport[], duplicates: string[], width: number): string {
  const out: string[] = [];
  for (const r of reports) {
    const read = r.file_rows !== undefined ? `${r.rows} of ${r.file_rows} rows read` : `${r.rows} rows`;
    const kind = r.layout === 'openrlhf' ? ', OpenRLHF prompt data' : '';
    out.push(`${r.file}  (${r.format}${kind}, ${read}${r.invalid > 0 ? `, ${r.invalid} invalid` : ''})`);
    if (r.layout === 'openrlhf' || r.layout === 'mixed') out.push(...openRlhfNote(r.layout));
    out.push('  rows per data source:');
    out.push(...(Object.keys(r.data_sources).length > 0 ? table(r.data_sources, '    ') : ['    (none)']));
    out.push('  fields:');
    for (const f of r.shapes) out.push(...fieldLines(f.name, f.shape, '    '));
    if (r.example) {
      out.push(`  example (row ${r.example.row}, id ${r.example.id}):`);
      const json = JSON.stringify(shorten(r.example.record, width), null, 2);
      out.push(...json.split('\n').map((l) => `    ${l}`));
    }
    if (r.errors.length > 0) {
      out.push(
        `  invalid rows (${r.invalid}${r.invalid > r.errors.length ? `, first ${r.errors.length}` : ''}):`,
      );
      for (const e of r.errors) out.push(`    ${e}`);
    }
    out.push('');
  }
  if (reports.length > 1) {
    const total: Record<string, number> = {};
    for (const r of reports) for (const [k, n] of Object.entries(r.data_sources)) count(total, k, n);
    const rows = reports.reduce((s, r) => s + r.rows, 0);
    out.push(`total: ${rows} rows in ${reports.length} files`);
    out.push(...table(total, '  '));
    out.push('');
  }
  if (duplicates.length > 0) {
    out.push(`repeated ids: ${duplicates.length}`);
    for (const d of duplicates.slice(0, MAX_ERRORS)) out.push(`  ${d}`);
    out.push('');
  }
  return out.join('\n');
}

export const dataInspectCommand = defineCommand({
  name: 'data inspect',
  usage: 'Usage: gtalign data inspect FILE|DIR|GLOB... [--json] [--limit N] [--width N]',
  about: `Reads data set files (verl parquet, or JSONL in the verl or the flat layout) and prints for each file:
the rows per data source, the columns with their nested types, and one example row. A directory stands
for every .parquet/.jsonl file below it. Every row is validated; the first problems are listed.
An OpenRLHF export (gtalign data export --format openrlhf: fields ${OPENRLHF_FIELDS.join(', ')}) is
recognised and said to be one; its rows are read back from input and label.`,
  notes:
    'Exit codes: 0 every row valid and ids unique, 1 invalid rows, repeated ids or unreadable files, 2 bad usage.',
  settings: SETTINGS,
  positionals: true,
  async run({ values, positionals }, ctx) {
    if (positionals.length === 0) throw new UsageError('give at least one data file, directory or glob');
    const { limit, width } = values;
    const reports: FileReport[] = [];
    const ids = new Map<string, string>();
    const duplicates: string[] = [];
    try {
      for (const file of await expandInputs(positionals))
        reports.push(await inspectFile(file, limit, ids, duplicates));
    } catch (err) {
      if (err instanceof DataError) throw new InputError(err.message);
      throw err;
    }
    if (values.json) {
      const dataSources: Record<string, number> = {};
      for (const r of reports) for (const [k, n] of Object.entries(r.data_sources)) count(dataSources, k, n);
      const total = {
        files: reports.length,
        rows: reports.reduce((s, r) => s + r.rows, 0),
        data_sources: dataSources,
        invalid: reports.reduce((s, r) => s + r.invalid, 0),
        duplicate_ids: duplicates.length,
      };
      const files = reports.map(({ shapes: _shapes, ...rest }) => rest);
      await writeOut(ctx.stdout, `${JSON.stringify({ files, total })}\n`);
    } else {
      await writeOut(ctx.stdout, textReport(reports, duplicates, width));
    }
    return reports.some((r) => r.invalid > 0) || duplicates.length > 0 ? 1 : 0;
  },
});
