import type { SchemaElement } from 'hyparquet';
import { setOwn } from '../io/own-keys.js';
import { isWellFormed } from '../io/well-formed.js';
import { DataError } from './errors.js';
import { addRecordShapes, type Shape, shapeToString } from './shape.js';

/** The npm package that writes parquet (hyparquet reads only). Loaded on demand, so reading never needs it. */
export const PARQUET_WRITER_PACKAGE = 'hyparquet-writer';

interface ColumnSource {
  name: string;
  data: unknown[];
}

/** hyparquet-writer's byte buffer: what it wrote since `index` was last reset sits in `getBytes()`. */
interface ByteWriter {
  index: number;
  getBytes(): Uint8Array;
}

/** The part of hyparquet-writer we use: its incremental writer, one row group per `write`. */
export interface ParquetWriterModule {
  ByteWriter: new () => ByteWriter;
  ParquetWriter: new (options: {
    writer: ByteWriter;
    schema: SchemaElement[];
    codec?: 'SNAPPY' | 'UNCOMPRESSED';
    createdBy?: string;
  }) => {
    write(options: { columnData: ColumnSource[]; rowGroupSize: number }): void | Promise<void>;
    finish(): void | Promise<void>;
  };
}

/** Loads hyparquet-writer, or returns undefined when it is not installed. */
export async function loadParquetWriter(): Promise<ParquetWriterModule | undefined> {
  // A non-literal specifier keeps the type checker and bundlers from requiring the optional package.
  const name: string = PARQUET_WRITER_PACKAGE;
  try {
    const mod = (await import(name)) as Partial<ParquetWriterModule>;
    return typeof mod.ParquetWriter === 'function' && typeof mod.ByteWriter === 'function'
      ? (mod as ParquetWriterModule)
      : undefined;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') return undefined;
    throw err;
  }
}

/** Loads hyparquet-writer, or throws the error that says how to install it or write JSONL instead. */
export async function requireParquetWriter(): Promise<ParquetWriterModule> {
  const writer = await loadParquetWriter();
  if (!writer)
    throw new DataError(
      `writing parquet needs the npm package ${PARQUET_WRITER_PACKAGE} (npm install ${PARQUET_WRITER_PACKAGE}); ` +
        'or give an --out path ending in .jsonl to write the same layout as JSONL',
    );
  return writer;
}

/** Schema elements for one column of this shape, in the layout pyarrow writes (3-level lists, NULL type). */
function schemaElements(name: string, shape: Shape, path: string): SchemaElement[] {
  switch (shape.kind) {
    case 'null':
      return [{ name, type: 'INT32', repetition_type: 'OPTIONAL', logical_type: { type: 'NULL' } }];
    case 'bool':
      return [{ name, type: 'BOOLEAN', repetition_type: 'OPTIONAL' }];
    case 'int':
      return [{ name, type: 'INT64', repetition_type: 'OPTIONAL' }];
    case 'float':
      return [{ name, type: 'DOUBLE', repetition_type: 'OPTIONAL' }];
    case 'string':
      return [
        {
          name,
          type: 'BYTE_ARRAY',
          repetition_type: 'OPTIONAL',
          converted_type: 'UTF8',
          logical_type: { type: 'STRING' },
        },
      ];
    case 'list':
      return [
        {
          name,
          repetition_type: 'OPTIONAL',
          converted_type: 'LIST',
          logical_type: { type: 'LIST' },
          num_children: 1,
        },
        { name: 'list', repetition_type: 'REPEATED', num_children: 1 },
        ...schemaElements('element', shape.element, `${path}[]`),
      ];
    case 'struct': {
      // Parquet has no empty groups; a struct that never has a field holds nothing but nulls.
      if (shape.fields.size === 0) return schemaElements(name, { kind: 'null' }, path);
      const children = [...shape.fields].flatMap(([k, s]) => schemaElements(k, s, `${path}.${k}`));
      return [{ name, repetition_type: 'OPTIONAL', num_children: shape.fields.size }, ...children];
    }
    default:
      throw new DataError(
        `cannot write field ${path} to parquet: its values have mixed types (${shapeToString(shape)}); ` +
          'export to JSONL instead, or make the field one type',
      );
  }
}

const SCALARS = new Set(['bool', 'int', 'float', 'string']);

/**
 * `shape` with each part that is not a list or struct replaced by `leaf(part, path)`; paths as in
 * `floatPaths` (shape.ts): `.field` into a struct, `[]` into a list's elements.
 */
function mapLeaves(shape: Shape, path: string, leaf: (shape: Shape, path: string) => Shape): Shape {
  switch (shape.kind) {
    case 'list':
      return { kind: 'list', element: mapLeaves(shape.element, `${path}[]`, leaf) };
    case 'struct':
      return {
        kind: 'struct',
        fields: new Map([...shape.fields].map(([k, s]) => [k, mapLeaves(s, `${path}.${k}`, leaf)])),
      };
    default:
      return leaf(shape, path);
  }
}

/**
 * Settles mixed scalar types (e.g. conv_id: int64 in most released files, string in Minerva's) on string,
 * the one type that holds every value, and records a note; other mixes stay unions and are rejected.
 */
function settle(shape: Shape, path: string, notes: string[]): Shape {
  return mapLeaves(shape, path, (leaf, at) => {
    if (leaf.kind !== 'union' || !leaf.options.every((o) => SCALARS.has(o.kind))) return leaf;
    notes.push(`field ${at} mixes ${shapeToString(leaf)}: written as string`);
    return { kind: 'string' };
  });
}

/**
 * Integer leaves at the paths of `floatColumns` as doubles: the source file held floating-point numbers
 * there, which JavaScript reads back as plain numbers, so whole ones (3.0) look like integers.
 */
function asFloats(shape: Shape, path: string, floatColumns: ReadonlySet<string>): Shape {
  if (floatColumns.size === 0) return shape;
  return mapLeaves(shape, path, (leaf, at) =>
    leaf.kind === 'int' && floatColumns.has(at) ? { kind: 'float' } : leaf,
  );
}

/**
 * Fits a value to its column's schema: BigInt for INT64, strings for settled mixes, null for field-less
 * structs. `illFormed` hears of each string with a lone surrogate (JSON can carry "\ud800", UTF-8
 * cannot: the writer puts U+FFFD in its place), by its path (`prompt.0.content`).
 */
function fitValue(value: unknown, shape: Shape, path: string, illFormed: (path: string) => void): unknown {
  if (value === null || value === undefined) return null;
  switch (shape.kind) {
    case 'string': {
      const text = typeof value === 'string' ? value : String(value);
      if (!isWellFormed(text)) illFormed(path);
      return text;
    }
    case 'int':
      // The writer takes INT64 values as BigInt only.
      return typeof value === 'number' ? BigInt(value) : value;
    case 'struct': {
      if (shape.fields.size === 0) return null;
      const obj = value as Record<string, unknown>;
      const out: Record<string, unknown> = {};
      // Defined, not assigned: a field named "__proto__" assigned would set the prototype instead.
      for (const [k, s] of shape.fields)
        setOwn(out, k, fitValue(Object.hasOwn(obj, k) ? obj[k] : null, s, `${path}.${k}`, illFormed));
      return out;
    }
    case 'list':
      return (value as unknown[]).map((v, i) => fitValue(v, shape.element, `${path}.${i}`, illFormed));
    default:
      return value;
  }
}

/** The file's schema and how each record's fields fit it. */
export interface ParquetLayout {
  schema: SchemaElement[];
  columns: Array<{ name: string; shape: Shape }>;
  /** Type adjustments made so the rows fit one schema. */
  notes: string[];
}

/**
 * The schema for records of these inferred shapes (see `addRecordShapes`): ints widened to double when
 * mixed or at a path of `floatColumns`, scalar mixes as string, other mixes an error naming the field.
 */
export function parquetLayout(
  inferred: ReadonlyMap<string, Shape>,
  floatColumns: ReadonlySet<string> = new Set(),
): ParquetLayout {
  const notes: string[] = [];
  const schema: SchemaElement[] = [{ name: 'schema', num_children: inferred.size }];
  const columns: ParquetLayout['columns'] = [];
  for (const [name, raw] of inferred) {
    const shape = settle(asFloats(raw, name, floatColumns), name, notes);
    schema.push(...schemaElements(name, shape, name));
    columns.push({ name, shape });
  }
  return { schema, columns, notes };
}

/** A parquet file written a row group at a time: memory holds one group, not the file. */
export interface ParquetStream {
  /** Encodes the records as one row group and hands its bytes to the sink. */
  writeGroup(records: readonly Record<string, unknown>[]): Promise<void>;
  /** Writes the footer (the schema and where each group is) and hands it to the sink. */
  finish(): Promise<void>;
  /** What was written otherwise than given (strings with lone surrogates), for the user to hear of. */
  notes(): string[];
}

/** Starts a parquet file of `layout`; `sink` receives its bytes in order (each a copy it may keep). */
export function openParquetStream(
  writer: ParquetWriterModule,
  layout: ParquetLayout,
  sink: (bytes: Uint8Array) => Promise<void>,
): ParquetStream {
  const bytes = new writer.ByteWriter();
  const pq = new writer.ParquetWriter({
    writer: bytes,
    schema: layout.schema,
    codec: 'SNAPPY',
    createdBy: 'gtalign',
  });
  // The buffer is reused: what is in it goes to the sink and the next group starts at its beginning
  // (the writer counts file offsets apart from it).
  const drain = async (): Promise<void> => {
    const out = bytes.getBytes().slice();
    bytes.index = 0;
    await sink(out);
  };
  let rowsBefore = 0;
  // Columns are fitted one after the other: the first row is kept, whatever column found it.
  const illFormed = { count: 0, row: Number.POSITIVE_INFINITY, path: '' };
  return {
    async writeGroup(records) {
      if (records.length === 0) return;
      const columnData = layout.columns.map(({ name, shape }) => ({
        name,
        data: records.map((r, i) =>
          fitValue(Object.hasOwn(r, name) ? r[name] : null, shape, name, (path) => {
            illFormed.count++;
            if (rowsBefore + i + 1 < illFormed.row)
              Object.assign(illFormed, { row: rowsBefore + i + 1, path });
          }),
        ),
      }));
      await pq.write({ columnData, rowGroupSize: records.length });
      rowsBefore += records.length;
      await drain();
    },
    notes() {
      return illFormed.count === 0
        ? []
        : [
            `${illFormed.count} string(s) with a lone surrogate (JSON's "\\ud800", which UTF-8 cannot hold) written with U+FFFD in its place; the first: field ${illFormed.path} in row ${illFormed.row}`,
          ];
    },
    async finish() {
      await pq.finish();
      await drain();
    },
  };
}

export interface EncodedParquet {
  bytes: Uint8Array;
  /** Type adjustments made so the rows fit one schema. */
  notes: string[];
}

/**
 * Encodes records as a parquet file in memory. The schema is inferred from all records (keys in
 * first-seen order, see `parquetLayout`, missing fields null), so rows from different sources can share
 * a file. `data export` streams instead (export-parquet.ts).
 */
export async function encodeParquet(
  records: readonly Record<string, unknown>[],
  floatColumns: ReadonlySet<string> = new Set(),
): Promise<EncodedParquet> {
  const writer = await requireParquetWriter();
  const inferred = new Map<string, Shape>();
  for (const r of records) addRecordShapes(inferred, r);
  const layout = parquetLayout(inferred, floatColumns);
  const parts: Uint8Array[] = [];
  const stream = openParquetStream(writer, layout, async (b) => {
    parts.push(b);
  });
  await stream.writeGroup(records);
  await stream.finish();
  return { bytes: new Uint8Array(Buffer.concat(parts)), notes: [...layout.notes, ...stream.notes()] };
}
