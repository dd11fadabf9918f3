import { z } from 'zod';
import { describeZodError } from '../issues.js';
import type { ChatMessage } from '../llm/types.js';
import { DataError, describeSource, type RowSource } from './errors.js';
import { type DatasetRow, messageSchema, type RecordResult, rowId } from './row.js';

/**
 * OpenRLHF prompt data (PromptDataset): one JSON object per line. Train with
 *   --prompt_data FILE.jsonl --input_key input --label_key label --apply_chat_template
 * `input` is the chat message list, which OpenRLHF renders with the policy's own chat template
 * (`tokenizer.apply_chat_template(..., add_generation_prompt=True)`); `label` is handed, one string per
 * sample, to the reward function / `--remote_rm_url` server together with the rollout. The default
 * label is a JSON string holding everything the GTAlign reward needs (data source, ground truth,
 * extra_info, id), because the grader and judge rubric depend on the data source; decode it with
 * `decodeOpenRlhfLabel`. `--label json-with-prompt` adds the chat messages as `extra_info.prompt`, which
 * a look-ahead reward gives its policy (OpenRLHF sends the reward server only the templated prompt text);
 * `--label ground-truth` writes the bare ground truth instead.
 * `datasource` is the key OpenRLHF reads to group metrics by source.
 */
export interface OpenRlhfRecord {
  id: string;
  input: ChatMessage[];
  label: string;
  datasource: string;
}

export type OpenRlhfLabelMode = 'json' | 'json-with-prompt' | 'ground-truth';

export interface OpenRlhfLabel {
  id?: string;
  data_source: string;
  ground_truth: string;
  extra_info?: Record<string, unknown>;
}

export function toOpenRlhfRecord(row: DatasetRow, mode: OpenRlhfLabelMode = 'json'): OpenRlhfRecord {
  const label: OpenRlhfLabel = {
    id: row.id,
    data_source: row.data_source,
    ground_truth: row.ground_truth,
    // A `prompt` the row's extra_info has already is its own and stays.
    extra_info:
      mode === 'json-with-prompt' && !('prompt' in row.extra_info)
        ? { ...row.extra_info, prompt: row.prompt }
        : row.extra_info,
  };
  return {
    id: row.id,
    input: row.prompt,
    label: mode === 'ground-truth' ? row.ground_truth : JSON.stringify(label),
    datasource: row.data_source,
  };
}

const labelSchema = z.object({
  id: z.string().optional(),
  data_source: z.string().min(1),
  ground_truth: z.string(),
  extra_info: z.record(z.string(), z.unknown()).optional(),
});

/** Reads a label written by `toOpenRlhfRecord` (JSON mode); the error names the bad field. Never throws. */
export function decodeOpenRlhfLabel(
  text: string,
): { ok: true; label: OpenRlhfLabel } | { ok: false; error: string } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return { ok: false, error: `label is not JSON (${(err as Error).message})` };
  }
  const parsed = labelSchema.safeParse(value);
  if (!parsed.success) return { ok: false, error: `label ${describeZodError(parsed.error, 'value', 1)}` };
  return { ok: true, label: parsed.data };
}

/** The fields `toOpenRlhfRecord` writes (OpenRLHF reads `input` and `label`; `datasource` groups its metrics). */
export const OPENRLHF_FIELDS = ['id', 'input', 'label', 'datasource'] as const;

/**
 * True for a record in the shape of OpenRLHF prompt data (`gtalign data export --format openrlhf`): an
 * `input` and a `label`, and neither a verl `reward_model` nor a flat `ground_truth`.
 */
export function isOpenRlhfShape(value: unknown): boolean {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const v = value as Record<string, unknown>;
  return 'input' in v && 'label' in v && !('reward_model' in v) && !('ground_truth' in v);
}

const openRlhfRecordSchema = z.object({
  id: z.union([z.string().min(1), z.number()]).nullish(),
  input: z.array(messageSchema).min(1),
  label: z.string(),
  datasource: z.string().min(1).nullish(),
});

function recordError(source: RowSource, message: string): RecordResult {
  return { ok: false, error: new DataError(`${describeSource(source)}: ${message}`, source) };
}

/**
 * Reads an OpenRLHF prompt record back into a row: `input` is the prompt; a JSON label (the default
 * export) gives the data source, ground truth, extra_info and id; a bare label (`--label ground-truth`) is
 * the ground truth, with the data source from `datasource`. Errors name the line and the field.
 */
export function parseOpenRlhfRecord(raw: unknown, source: RowSource): RecordResult {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    return recordError(source, 'record is not a JSON object');
  const parsed = openRlhfRecordSchema.safeParse(raw);
  if (!parsed.success) return recordError(source, describeZodError(parsed.error, 'record', 1));
  const d = parsed.data;
  let dataSource = d.datasource ?? undefined;
  let groundTruth = d.label;
  let extra: Record<string, unknown> = {};
  let labelId: string | undefined;
  // A label that is a JSON object is the default export's; anything else is a bare ground truth.
  if (d.label.trimStart().startsWith('{')) {
    const label = decodeOpenRlhfLabel(d.label);
    if (!label.ok) return recordError(source, `field label: ${label.error}`);
    if (dataSource !== undefined && dataSource !== label.label.data_source) {
      return recordError(
        source,
        `field datasource: "${dataSource}" differs from the label's data_source "${label.label.data_source}"`,
      );
    }
    dataSource = label.label.data_source;
    groundTruth = label.label.ground_truth;
    extra = label.label.extra_info ?? {};
    labelId = label.label.id;
  }
  if (dataSource === undefined) {
    return recordError(
      source,
      'field datasource: missing, and the label is a bare ground truth (no data source)',
    );
  }
  return {
    ok: true,
    row: {
      id: d.id != null ? String(d.id) : (labelId ?? rowId(dataSource, extra, source)),
      data_source: dataSource,
      prompt: d.input,
      ground_truth: groundTruth,
      extra_info: extra,
      source,
    },
  };
}
