/**
 * A resume scores rows as they were when their records were written. config.json names the data files,
 * not their content, so a file edited between a run and its `--resume` would have a record judged again
 * against a row it was not made from (a conversation re-summarised with an intent its user never held), or
 * new records beside old ones of another version of the data. Each stored record is checked against its
 * row as it is now: the data source, the ground truth and the label it was made with.
 */
import type { DatasetRow } from '../data/row.js';
import type { RunRecord } from './types.js';

/** What the check reads of a record (or of an unfinished conversation's first turn). */
export type RowStamp = Pick<RunRecord, 'id' | 'data_source' | 'ground_truth' | 'label'>;

/** How a stored record's row changed since the record was written (`ground_truth changed`), if it did. */
function rowChange(record: RowStamp, row: DatasetRow): string | undefined {
  const label = typeof row.extra_info.ground_truth === 'string' ? row.extra_info.ground_truth : undefined;
  const changed = [
    ...(record.data_source === row.data_source ? [] : ['data_source']),
    ...(record.ground_truth === row.ground_truth ? [] : ['ground_truth']),
    ...(record.label === label ? [] : ['label (extra_info.ground_truth)']),
  ];
  return changed.length === 0 ? undefined : `${record.id}: ${changed.join(', ')}`;
}

/**
 * Why a resume cannot go on with `records` (the records of row `rowOf(record.id)`), or undefined: names
 * up to three records whose row changed, and how many in all.
 */
export function changedDataProblem(
  records: readonly RowStamp[],
  rowOf: (id: string) => DatasetRow | undefined,
): string | undefined {
  const changes: string[] = [];
  for (const record of records) {
    const row = rowOf(record.id);
    const change = row === undefined ? undefined : rowChange(record, row);
    if (change !== undefined) changes.push(change);
  }
  if (changes.length === 0) return undefined;
  const more = changes.length > 3 ? `; and ${changes.length - 3} more` : '';
  return (
    `the data changed since these records were written (${changes.slice(0, 3).join('; ')}${more}): ` +
    'resume with the data files as they were, or start a new run with another --out'
  );
}
