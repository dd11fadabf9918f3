/**
 * The offline pool finishes whatever the timing of its input, its workers and its reader: a chunk that
 * finishes while the pool is reading input or waiting for its reader must still wake it (a lost wake-up
 * once left `reward score` waiting forever with every chunk scored).
 */
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { scoreLinesOffline } from '../../src/reward/offline-pool.js';

const cases = readFileSync(new URL('../fixtures/reward-parity.jsonl', import.meta.url), 'utf8')
  .split('\n')
  .filter((l) => l.trim() !== '')
  .map((l) => JSON.parse(l) as Record<string, unknown>);

/** A writing sample with a long response: costly to score (BLEU), so it finishes after the small ones. */
function heavyLine(id: string): string {
  const base = cases.find((c) => c.data_source === 'medium' && c.verdict !== undefined)!;
  const long = `${String(base.response).replace(/<response>/, `<response>${'word and more words '.repeat(6000)}`)}`;
  return JSON.stringify({ ...base, id, response: long });
}

describe('offline pool liveness', () => {
  // Two workers; or one, with this thread scoring whenever it holds its two chunks.
  it.each([
    { workers: 2, thisThreadHelps: false },
    { workers: 1, thisThreadHelps: true },
  ])(
    'scores every line once, in order, with a slow source, a slow reader and uneven chunks (%o)',
    async (pool) => {
      const small = cases.filter((c) => c.verdict !== undefined).slice(0, 40);
      const lines: string[] = [];
      for (let round = 0; round < 3; round++) {
        lines.push(heavyLine(`heavy-${round}`));
        for (const [i, c] of small.entries()) lines.push(JSON.stringify({ ...c, id: `${round}-${i}` }));
      }
      async function* source() {
        for (const [i, line] of lines.entries()) {
          // Pauses while reading: chunks finish in the workers meanwhile.
          if (i % 7 === 0) await sleep(15);
          yield `${line}\n`;
        }
      }
      const ids: unknown[] = [];
      for await (const result of scoreLinesOffline(source(), {
        ...pool,
        chunkBytes: 64,
        clipVerdicts: true,
      })) {
        for (const out of result.text.split('\n').filter((l) => l !== '')) ids.push(JSON.parse(out).id);
        // A slow reader: the pool is suspended at its yield while workers finish.
        await sleep(5);
      }
      expect(ids).toEqual(lines.map((l) => JSON.parse(l).id));
    },
    120_000,
  );
});
