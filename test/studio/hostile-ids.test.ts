/**
 * Row ids the run viewer puts in its URLs (#/runs/0/item/ID, /api/item?id=ID): an id with a lone surrogate
 * (JSON allows "\ud800" in a hand-edited results.jsonl) cannot be encoded in a URL, and the page's
 * encodeURIComponent threw on it, failing the run's whole item list and comparison.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { itemRow, loadRuns } from '../../src/studio/runs.js';
import { rec } from '../eval/helpers.js';

describe('the run viewer reads ids a URL can carry', () => {
  it('reads a lone surrogate of an id as U+FFFD, and leaves other ids as they are', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gtalign-hostile-ids-'));
    const records = [
      rec('lone\ud800high', 'math-hard', { u: 0.5, l: 0.5 }),
      rec('lone\udfffLow', 'math-hard', { u: 0.4, l: 0.6 }),
      rec('pair 😀 <b>', 'math-hard', { u: 0.3, l: 0.7 }),
    ];
    // JSON.stringify writes a lone surrogate as its escape, which JSON.parse reads back.
    await writeFile(join(dir, 'results.jsonl'), `${records.map((r) => JSON.stringify(r)).join('\n')}\n`);
    await writeFile(join(dir, 'config.json'), JSON.stringify({ name: 'run' }));
    const [run] = await loadRuns([dir]);
    const ids = run!.records.map((r) => itemRow(r).id);
    expect(ids).toEqual(['lone\ufffdhigh', 'lone\ufffdLow', 'pair 😀 <b>']);
    for (const id of ids) {
      expect(decodeURIComponent(encodeURIComponent(id))).toBe(id);
      expect(run!.byId.get(id)?.id).toBe(id);
    }
  });
});
