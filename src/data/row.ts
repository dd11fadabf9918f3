import { basename, extname } from 'node:path';
import { z } from 'zod';
import { setOwn } from '../io/own-keys.js';
import { numericIdProblem } from '../io/record-id.js';
import { exactIdNumber } from '../io/record-id-schema.js';
import { describeZodError } from '../issues.js';
import type { ChatMessage } from '../llm/types.js';
import { DataError, describeSource, type RowSource } from './errors.js';

/**
 * One data set row, normalized from the verl layout (parquet or JSONL) or from our flat JSONL layout.
 *
 * `id` is stable and unique across the released files: `${data_source}:${split}:${index}`, where `split`
 * is the split the file's name says (see {@link splitOfFile}), else `extra_info.split`, else the file's
 * name without extension; and `index` is `extra_info.index` (`row<N>`, the 0-based row, when absent).
 * E.g. `ambig_qa:test:901`. A flat record's own `id` wins. The file wins over `extra_info.split`
 * because the released Minerva test file labels every row `split: "train"`: its ids read
 * `minerva:test:<i>`, not ids of a training split. The id depends only on the row and the file's name,
 * so the same files give the same ids on every run (what `--resume` matches records by).
 */
export interface DatasetRow {
  id: string;
  data_source: string;
  /** The chat messages sent to the model; the last user message holds the four-block instruction. */
  prompt: ChatMessage[];
  /** `reward_model.ground_truth` in the verl layout. */
  ground_truth: string;
  /** 64-bit integers as numbers when safe, as decimal strings otherwise; null fields kept as null. */
  extra_info: Record<string, unknown>;
  /** `reward_model.style` in the verl layout (e.g. "rule"). */
  reward_style?: string;
  /** Other fields of `reward_model` in the verl layout, kept for a faithful export. */
  reward_model_extra?: Record<string, unknown>;
  conv_id?: string | number;
  turn_id?: number;
  adversarial?: boolean;
  ability?: string;
  /** Other top-level columns of the source (e.g. `source`, `unique_conv_id`), kept for a faithful export. */
  columns?: Record<string, unknown>;
  source: RowSource;
}

export type RecordResult = { ok: true; row: DatasetRow } | { ok: false; error: DataError };

/**
 * Turns parquet/JSON values into plain JSON-like values: BigInt becomes a number when it is a safe
 * integer and a decimal string otherwise (never a silently rounded number); typed arrays become arrays;
 * dates become ISO strings. Plain objects and arrays are copied only when something inside changes.
 */
export function normalizeValue(value: unknown): unknown {
  switch (typeof value) {
    case 'bigint': {
      const n = Number(value);
      return Number.isSafeInteger(n) ? n : value.toString();
    }
    case 'object': {
      if (value === null) return null;
      if (Array.isArray(value)) {
        let out: unknown[] | undefined;
        for (let i = 0; i < value.length; i++) {
          const v = normalizeValue(value[i]);
          if (v !== value[i] && out === undefined) out = value.slice(0, i);
          if (out !== undefined) out.push(v);
        }
        return out ?? value;
      }
      if (ArrayBuffer.isView(value) && !(value instanceof DataView)) {
        return Array.from(value as unknown as ArrayLike<unknown>, normalizeValue);
      }
      if (value instanceof Date) return value.toISOString();
      const obj = value as Record<string, unknown>;
      let out: Record<string, unknown> | undefined;
      for (const key of Object.keys(obj)) {
        const v = normalizeValue(obj[key]);
        if (v !== obj[key] && out === undefined) out = { ...obj };
        if (out !== undefined) out[key] = v;
      }
      return out ?? obj;
    }
    default:
      return value;
  }
}

/** A chat message; other fields (`name`) are kept for export, and model calls send role and content only. */
export const messageSchema = z
  .object({
    role: z.enum(['system', 'user', 'assistant']),
    content: z.string(),
  })
  .loose();

const convIdSchema = z.union([z.string(), exactIdNumber]);
const objectSchema = z.record(z.string(), z.unknown());
/** `extra_info`, whose `index` becomes part of the row's id when the record has none (see rowId). */
const extraInfoSchema = objectSchema.superRefine((extra, ctx) => {
  const problem = typeof extra.index === 'number' ? numericIdProblem(extra.index) : undefined;
  if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem, path: ['index'] });
});

/**
 * A raw verl record (after `normalizeValue`): the fields we read; other columns pass through. `id` is
 * the column our verl export adds, so that a row keeps its id in a file of any name (see `DatasetRow.id`).
 */
export const verlRecordSchema = z.object({
  id: z.union([z.string().min(1), exactIdNumber]).nullish(),
  prompt: z.array(messageSchema).min(1),
  data_source: z.string().min(1),
  reward_model: z.object({ ground_truth: z.string(), style: z.string().nullish() }).loose(),
  extra_info: extraInfoSchema.nullish(),
  conv_id: convIdSchema.nullish(),
  turn_id: z.number().int().nullish(),
  adversarial: z.boolean().nullish(),
  ability: z.string().nullish(),
});

/** A flat record: our normalized row as written by `gtalign data export --format jsonl`. */
export const flatRecordSchema = z.object({
  id: z.union([z.string().min(1), exactIdNumber]).nullish(),
  data_source: z.string().min(1),
  prompt: z.array(messageSchema).min(1),
  ground_truth: z.string(),
  extra_info: extraInfoSchema.nullish(),
  reward_style: z.string().nullish(),
  reward_model_extra: objectSchema.nullish(),
  conv_id: convIdSchema.nullish(),
  turn_id: z.number().int().nullish(),
  adversarial: z.boolean().nullish(),
  ability: z.string().nullish(),
  columns: objectSchema.nullish(),
});

const VERL_KEYS = new Set(Object.keys(verlRecordSchema.shape));
const REWARD_MODEL_KEYS = new Set(['ground_truth', 'style']);
const FLAT_KEYS = new Set(Object.keys(flatRecordSchema.shape));

function fileStem(file: string): string {
  const base = basename(file);
  return base.slice(0, base.length - extname(base).length) || base;
}

/** Names of data set splits, as files name them (`test.parquet`, `minerva_test.jsonl`, `train-00000-of-00001.parquet`). */
const SPLIT_NAMES = new Set(['train', 'test', 'validation', 'valid', 'val', 'dev', 'eval']);

/**
 * The split a file's name says: its stem when that is a split name, else the one split name among the
 * stem's words (split at anything but letters and digits). Undefined when it names none, or several.
 */
export function splitOfFile(file: string): string | undefined {
  const stem = fileStem(file).toLowerCase();
  if (SPLIT_NAMES.has(stem)) return stem;
  const named = new Set(stem.split(/[^a-z0-9]+/).filter((w) => SPLIT_NAMES.has(w)));
  return named.size === 1 ? [...named][0] : undefined;
}

/** The stable id of a row without its own id; see `DatasetRow.id`. */
export function rowId(dataSource: string, extraInfo: Record<string, unknown>, source: RowSource): string {
  const split =
    splitOfFile(source.file) ??
    (typeof extraInfo.split === 'string' && extraInfo.split !== '' ? extraInfo.split : fileStem(source.file));
  const index = extraInfo.index;
  const part =
    (typeof index === 'number' && Number.isInteger(index)) || (typeof index === 'string' && index !== '')
      ? String(index)
      : `row${source.row}`;
  return `${dataSource}:${split}:${part}`;
}

function schemaError(error: z.ZodError, source: RowSource): DataError {
  return new DataError(`${describeSource(source)}: ${describeZodError(error, 'record')}`, source);
}

function otherColumns(raw: Record<string, unknown>, known: Set<string>): Record<string, unknown> | undefined {
  let out: Record<string, unknown> | undefined;
  for (const key of Object.keys(raw)) {
    // A null column is an absent one (parquet gives every row every column).
    if (known.has(key) || raw[key] == null) continue;
    out ??= {};
    setOwn(out, key, raw[key]);
  }
  return out;
}

function withOptional(
  row: DatasetRow,
  d: {
    conv_id?: string | number | null | undefined;
    turn_id?: number | null | undefined;
    adversarial?: boolean | null | undefined;
    ability?: string | null | undefined;
  },
  style: string | null | undefined,
  columns: Record<string, unknown> | undefined,
): DatasetRow {
  if (style != null) row.reward_style = style;
  if (d.conv_id != null) row.conv_id = d.conv_id;
  if (d.turn_id != null) row.turn_id = d.turn_id;
  if (d.adversarial != null) row.adversarial = d.adversarial;
  if (d.ability != null) row.ability = d.ability;
  if (columns !== undefined && Object.keys(columns).length > 0) row.columns = columns;
  return row;
}

function asObject(raw: unknown, source: RowSource): Record<string, unknown> | DataError {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    return new DataError(`${describeSource(source)}: record is not a JSON object`, source);
  return raw as Record<string, unknown>;
}

/** The fields both layouts share, as a row: the id is the record's own, else derived from where it came from. */
function baseRow(
  d: {
    id?: string | number | null | undefined;
    data_source: string;
    prompt: DatasetRow['prompt'];
    extra_info?: Record<string, unknown> | null | undefined;
  },
  groundTruth: string,
  source: RowSource,
): DatasetRow {
  const extra = d.extra_info ?? {};
  return {
    id: d.id != null ? String(d.id) : rowId(d.data_source, extra, source),
    data_source: d.data_source,
    prompt: d.prompt,
    ground_truth: groundTruth,
    extra_info: extra,
    source,
  };
}

/**
 * The parsed record with `extra_info` and `columns` as the input holds them: the schema checked them, but
 * its copies assign each key, which drops a "__proto__" key (see io/own-keys.ts).
 */
function withRawObjects<T extends { extra_info?: unknown; columns?: unknown }>(
  d: T,
  raw: Record<string, unknown>,
): T {
  const out = { ...d };
  if (d.extra_info != null) out.extra_info = raw.extra_info as T['extra_info'];
  if (d.columns != null) out.columns = raw.columns as T['columns'];
  return out;
}

/** The record as an object that passes `schema`, or the error that names the file, row and field. */
function validRecord<T>(
  raw: unknown,
  source: RowSource,
  schema: z.ZodType<T>,
): { ok: true; obj: Record<string, unknown>; d: T } | { ok: false; error: DataError } {
  const obj = asObject(raw, source);
  if (obj instanceof DataError) return { ok: false, error: obj };
  const parsed = schema.safeParse(obj);
  if (!parsed.success) return { ok: false, error: schemaError(parsed.error, source) };
  return { ok: true, obj, d: parsed.data };
}

/** Validates one verl-layout record (`reward_model.ground_truth`), already passed through `normalizeValue`. */
export function parseVerlRecord(raw: unknown, source: RowSource): RecordResult {
  const r = validRecord(raw, source, verlRecordSchema);
  if (!r.ok) return r;
  const { obj, d } = r;
  const row = baseRow(withRawObjects(d, obj), d.reward_model.ground_truth, source);
  const extra = otherColumns(obj.reward_model as Record<string, unknown>, REWARD_MODEL_KEYS);
  if (extra !== undefined) row.reward_model_extra = extra;
  return { ok: true, row: withOptional(row, d, d.reward_model.style, otherColumns(obj, VERL_KEYS)) };
}

/** Validates one flat record (`ground_truth` at the top level, optional `id`). */
export function parseFlatRecord(raw: unknown, source: RowSource): RecordResult {
  const r = validRecord(raw, source, flatRecordSchema);
  if (!r.ok) return r;
  const { obj, d } = r;
  const kept = withRawObjects(d, obj);
  const columns = { ...(kept.columns ?? {}), ...otherColumns(obj, FLAT_KEYS) };
  const row = baseRow(kept, d.ground_truth, source);
  // The input's own object, not the schema's copy (see withRawObjects).
  const extra = obj.reward_model_extra as Record<string, unknown> | null | undefined;
  if (extra != null && Object.keys(extra).length > 0) row.reward_model_extra = extra;
  return { ok: true, row: withOptional(row, d, d.reward_style, columns) };
}

/** Reads either layout: a record with `reward_model` is verl, one with top-level `ground_truth` is flat. */
export function parseRecord(raw: unknown, source: RowSource): RecordResult {
  const obj = asObject(raw, source);
  if (obj instanceof DataError) return { ok: false, error: obj };
  if ('reward_model' in obj) return parseVerlRecord(obj, source);
  if ('ground_truth' in obj) return parseFlatRecord(obj, source);
  // Our own OpenRLHF export is a training input, not a data set: say what it is rather than what it lacks.
  // (openrlhf.ts's isOpenRlhfShape, whose module imports this one.)
  if ('input' in obj && 'label' in obj) {
    return {
      ok: false,
      error: new DataError(
        `${describeSource(source)}: an OpenRLHF prompt record (fields input, label; written by gtalign data export --format openrlhf), not a data set row in the verl or flat layout: use the data set it was exported from`,
        source,
      ),
    };
  }
  return {
    ok: false,
    error: new DataError(
      `${describeSource(source)}: field reward_model.ground_truth (verl layout) or ground_truth (flat layout) is missing`,
      source,
    ),
  };
}

/**
 * The row in the verl layout, as verl's RLHFDataset reads it (it passes other columns through); the row's
 * `id` is written too, since the file's name the id came from may differ; the source's other columns follow.
 */
/** Adds the row's conversation fields (conv_id, turn_id, adversarial) that it has, in that order. */
export function withConversationFields(
  row: DatasetRow,
  out: Record<string, unknown>,
): Record<string, unknown> {
  if (row.conv_id !== undefined) out.conv_id = row.conv_id;
  if (row.turn_id !== undefined) out.turn_id = row.turn_id;
  if (row.adversarial !== undefined) out.adversarial = row.adversarial;
  return out;
}

export function toVerlRecord(row: DatasetRow): Record<string, unknown> {
  const rewardModel: Record<string, unknown> = { ground_truth: row.ground_truth };
  if (row.reward_style !== undefined) rewardModel.style = row.reward_style;
  for (const [k, v] of Object.entries(row.reward_model_extra ?? {}))
    if (!Object.hasOwn(rewardModel, k)) setOwn(rewardModel, k, v);
  const out: Record<string, unknown> = { id: row.id, prompt: row.prompt, data_source: row.data_source };
  if (row.ability !== undefined) out.ability = row.ability;
  out.reward_model = rewardModel;
  out.extra_info = row.extra_info;
  withConversationFields(row, out);
  for (const [k, v] of Object.entries(row.columns ?? {})) if (!Object.hasOwn(out, k)) setOwn(out, k, v);
  return out;
}

/** The row in our flat layout (the normalized row without `source`); `parseFlatRecord` reads it back. */
export function toFlatRecord(row: DatasetRow): Record<string, unknown> {
  const out: Record<string, unknown> = {
    id: row.id,
    data_source: row.data_source,
    prompt: row.prompt,
    ground_truth: row.ground_truth,
    extra_info: row.extra_info,
  };
  if (row.reward_style !== undefined) out.reward_style = row.reward_style;
  if (row.reward_model_extra !== undefined) out.reward_model_extra = row.reward_model_extra;
  withConversationFields(row, out);
  if (row.ability !== undefined) out.ability = row.ability;
  if (row.columns !== undefined) out.columns = row.columns;
  return out;
}
