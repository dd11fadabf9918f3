import type { SchemaTree } from 'hyparquet';

/**
 * The type of a column, nested: what `data inspect` prints and what the verl parquet writer encodes.
 * `union` appears only when values disagree (JSONL); the writer rejects it.
 */
export type Shape =
  | { kind: 'null' }
  | { kind: 'bool' }
  | { kind: 'int' }
  | { kind: 'float' }
  | { kind: 'string' }
  | { kind: 'list'; element: Shape }
  | { kind: 'struct'; fields: Map<string, Shape> }
  | { kind: 'union'; options: Shape[] }
  | { kind: 'other'; name: string };

export interface Field {
  name: string;
  shape: Shape;
}

const NULL: Shape = { kind: 'null' };

/** The shape of one JSON-like value (after `normalizeValue`). */
export function shapeOf(value: unknown): Shape {
  if (value === null || value === undefined) return NULL;
  switch (typeof value) {
    case 'boolean':
      return { kind: 'bool' };
    case 'number':
      // Past 2^53 a number is a double that happens to be whole (1e20): it may not fit INT64 and was never
      // exact, so it stays a double.
      return Number.isSafeInteger(value) ? { kind: 'int' } : { kind: 'float' };
    case 'bigint':
      return { kind: 'int' };
    case 'string':
      return { kind: 'string' };
    case 'object': {
      if (Array.isArray(value)) {
        let element: Shape = NULL;
        for (const v of value) element = mergeShapes(element, shapeOf(v));
        return { kind: 'list', element };
      }
      const fields = new Map<string, Shape>();
      for (const [k, v] of Object.entries(value)) fields.set(k, shapeOf(v));
      return { kind: 'struct', fields };
    }
    default:
      return { kind: 'other', name: typeof value };
  }
}

/** The least shape holding both: null joins anything, int widens to float, structs unite their fields. */
export function mergeShapes(a: Shape, b: Shape): Shape {
  if (a.kind === 'null') return b;
  if (b.kind === 'null') return a;
  if (a.kind === 'union' || b.kind === 'union') {
    let out = a.kind === 'union' ? a : { kind: 'union' as const, options: [a] };
    for (const option of b.kind === 'union' ? b.options : [b]) out = addOption(out, option);
    return out.options.length === 1 ? out.options[0]! : out;
  }
  if (a.kind === b.kind) {
    if (a.kind === 'list' && b.kind === 'list')
      return { kind: 'list', element: mergeShapes(a.element, b.element) };
    if (a.kind === 'struct' && b.kind === 'struct') {
      const fields = new Map(a.fields);
      for (const [k, s] of b.fields) fields.set(k, mergeShapes(fields.get(k) ?? NULL, s));
      return { kind: 'struct', fields };
    }
    if (a.kind === 'other' && b.kind === 'other' && a.name !== b.name)
      return { kind: 'union', options: [a, b] };
    return a;
  }
  if ((a.kind === 'int' && b.kind === 'float') || (a.kind === 'float' && b.kind === 'int'))
    return { kind: 'float' };
  return { kind: 'union', options: [a, b] };
}

function addOption(
  union: { kind: 'union'; options: Shape[] },
  option: Shape,
): { kind: 'union'; options: Shape[] } {
  const options = [...union.options];
  const i = options.findIndex((o) => mergeShapes(o, option).kind !== 'union');
  if (i >= 0) options[i] = mergeShapes(options[i]!, option);
  else options.push(option);
  return { kind: 'union', options };
}

/** Arrow-like text: `list<struct<content: string, role: string>>`, `int64`, `string | int64`. */
export function shapeToString(shape: Shape): string {
  switch (shape.kind) {
    case 'int':
      return 'int64';
    case 'float':
      return 'double';
    case 'list':
      return `list<${shapeToString(shape.element)}>`;
    case 'struct':
      return `struct<${[...shape.fields].map(([k, s]) => `${k}: ${shapeToString(s)}`).join(', ')}>`;
    case 'union':
      return shape.options.map(shapeToString).join(' | ');
    case 'other':
      return shape.name;
    default:
      return shape.kind;
  }
}

/** The shape of a parquet schema node, read from the file's own schema (LIST and MAP annotations honoured). */
export function parquetNodeShape(node: SchemaTree): Shape {
  const e = node.element;
  const isList = e.converted_type === 'LIST' || e.logical_type?.type === 'LIST';
  if (isList && node.children.length === 1) {
    const repeated = node.children[0]!;
    // Standard 3-level list (list > element); a 2-level list repeats the element itself.
    const element =
      repeated.children.length === 1 && repeated.element.repetition_type === 'REPEATED'
        ? repeated.children[0]!
        : repeated;
    return { kind: 'list', element: parquetNodeShape(element) };
  }
  const isMap = e.converted_type === 'MAP' || e.logical_type?.type === 'MAP';
  if (isMap && node.children.length === 1 && node.children[0]!.children.length === 2) {
    const [k, v] = node.children[0]!.children;
    return {
      kind: 'other',
      name: `map<${shapeToString(parquetNodeShape(k!))}, ${shapeToString(parquetNodeShape(v!))}>`,
    };
  }
  if (node.children.length > 0) {
    const fields = new Map<string, Shape>();
    for (const child of node.children) fields.set(child.element.name, parquetNodeShape(child));
    const struct: Shape = { kind: 'struct', fields };
    return e.repetition_type === 'REPEATED' ? { kind: 'list', element: struct } : struct;
  }
  const leaf = parquetLeafShape(node);
  return e.repetition_type === 'REPEATED' ? { kind: 'list', element: leaf } : leaf;
}

function parquetLeafShape(node: SchemaTree): Shape {
  const e = node.element;
  const logical = e.logical_type?.type;
  if (logical === 'NULL') return NULL;
  if (
    logical === 'STRING' ||
    e.converted_type === 'UTF8' ||
    logical === 'ENUM' ||
    e.converted_type === 'ENUM'
  )
    return { kind: 'string' };
  if (logical === 'JSON' || e.converted_type === 'JSON') return { kind: 'other', name: 'json' };
  switch (e.type) {
    case 'BOOLEAN':
      return { kind: 'bool' };
    case 'INT32':
    case 'INT64': {
      const plain =
        (logical === undefined || logical === 'INTEGER') &&
        (e.converted_type === undefined || /^U?INT_/.test(e.converted_type));
      return plain
        ? { kind: 'int' }
        : { kind: 'other', name: (logical ?? e.converted_type ?? e.type).toLowerCase() };
    }
    case 'FLOAT':
    case 'DOUBLE':
      return { kind: 'float' };
    default:
      return { kind: 'other', name: (logical ?? e.converted_type ?? e.type ?? 'unknown').toLowerCase() };
  }
}

/**
 * The paths of the floating-point leaves of these columns: a column's name, then `.field` into a struct
 * and `[]` into a list's elements (`extra_info.difficulty`, `scores[]`).
 */
export function floatPaths(fields: readonly Field[]): Set<string> {
  const out = new Set<string>();
  const walk = (shape: Shape, path: string): void => {
    if (shape.kind === 'float') out.add(path);
    else if (shape.kind === 'list') walk(shape.element, `${path}[]`);
    else if (shape.kind === 'struct') for (const [k, s] of shape.fields) walk(s, `${path}.${k}`);
  };
  for (const f of fields) walk(f.shape, f.name);
  return out;
}

/** The top-level columns of a parquet file's schema. */
export function parquetFields(root: SchemaTree): Field[] {
  return root.children.map((child) => ({ name: child.element.name, shape: parquetNodeShape(child) }));
}

/** Adds one record's columns to `shapes` (JSONL inference): keys in first-seen order, shapes merged. */
export function addRecordShapes(shapes: Map<string, Shape>, record: Record<string, unknown>): void {
  for (const [k, v] of Object.entries(record)) shapes.set(k, mergeShapes(shapes.get(k) ?? NULL, shapeOf(v)));
}

export function fieldsOf(shapes: Map<string, Shape>): Field[] {
  return [...shapes].map(([name, shape]) => ({ name, shape }));
}
