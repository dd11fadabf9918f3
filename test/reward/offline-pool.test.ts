import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FileBytes } from '../../src/io/byte-reader.js';
import { LineTooLongError } from '../../src/io/lines.js';
import {
  type ChunkResult,
  linesOfChunk,
  rawChunks,
  scoreLinesOffline,
} from '../../src/reward/offline-pool.js';

const lines = readFileSync(new URL('../fixtures/reward-parity.jsonl', import.meta.url), 'utf8')
  .split('\n')
  .filter((l) => l.trim() !== '');

/** Cuts `bytes` into pieces at the given offsets (as a stream would, even inside a UTF-8 character). */
function pieces(bytes: Buffer, cuts: number[]): Buffer[] {
  const at = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let from = 0;
  for (const c of [...at, bytes.length]) {
    if (c > from) out.push(bytes.subarray(from, c));
    from = Math.max(from, c);
  }
  return out;
}

async function numberedLines(source: Buffer[], target: number) {
  const out: Array<{ line: number; text: string }> = [];
  for await (const chunk of rawChunks(source, target)) out.push(...linesOfChunk(chunk));
  return out;
}

describe('rawChunks + linesOfChunk', () => {
  it('numbers every non-blank line as the file does, however the stream is cut', async () => {
    const row = fc.oneof(
      fc.constant(''),
      fc.constant('   '),
      fc.string({ unit: 'grapheme', maxLength: 30 }).map((s) => s.replace(/[\r\n\ufeff]/g, ' ')),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.array(row, { maxLength: 30 }),
        fc.boolean(),
        fc.boolean(),
        fc.array(fc.nat(), { maxLength: 8 }),
        fc.integer({ min: 1, max: 64 }),
        async (rows, crlf, bom, cuts, target) => {
          const text = `${bom ? '\ufeff' : ''}${rows.join(crlf ? '\r\n' : '\n')}`;
          const got = await numberedLines(pieces(Buffer.from(text, 'utf8'), cuts), target);
          const want = rows.map((t, i) => ({ line: i + 1, text: t })).filter((l) => l.text.trim() !== '');
          expect(got).toEqual(want);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('reads a file straight into its blocks with the same lines as from a stream', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gtalign-blocks-'));
    try {
      const text = `\ufeff${lines.slice(0, 120).join('\r\n')}\n\n  \n${lines[7]}`;
      const file = join(dir, 'in.jsonl');
      writeFileSync(file, text);
      const want = await numberedLines([Buffer.from(text, 'utf8')], 1 << 20);
      expect(want).toHaveLength(121);
      for (const target of [1, 100, 4096, 1 << 20]) {
        const got: Array<{ line: number; text: string }> = [];
        for await (const chunk of rawChunks(await FileBytes.open(file), target))
          got.push(...linesOfChunk(chunk));
        expect(got).toEqual(want);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('stops at the first line over the bound, naming it, after every whole line before it', async () => {
    const row = fc.string({ unit: fc.constantFrom('a', 'é', '€'), maxLength: 8 });
    await fc.assert(
      fc.asyncProperty(
        fc.array(row, { minLength: 1, maxLength: 12 }),
        fc.boolean(),
        fc.array(fc.nat(), { maxLength: 6 }),
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 4, max: 16 }),
        async (rows, lastNewline, cuts, target, maxLineBytes) => {
          const text = rows.join('\n') + (lastNewline ? '\n' : '');
          const bytes = rows.map((r) => Buffer.byteLength(r));
          const bad = bytes.findIndex((b) => b > maxLineBytes);
          const got: Array<{ line: number; text: string }> = [];
          let error: unknown;
          try {
            const source = pieces(Buffer.from(text, 'utf8'), cuts);
            for await (const chunk of rawChunks(source, target, { name: 'in.jsonl', maxLineBytes }))
              got.push(...linesOfChunk(chunk));
          } catch (err) {
            error = err;
          }
          const before = bad < 0 ? rows : rows.slice(0, bad);
          const want = before.map((t, i) => ({ line: i + 1, text: t })).filter((l) => l.text.trim() !== '');
          expect(got).toEqual(want);
          if (bad < 0) expect(error).toBeUndefined();
          else {
            expect(error).toBeInstanceOf(LineTooLongError);
            expect((error as LineTooLongError).line).toBe(bad + 1);
            expect((error as Error).message).toMatch(
              new RegExp(`^in\\.jsonl:${bad + 1}: the line is longer than`),
            );
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('keeps a 10 MB line whole', async () => {
    const big = `{"x":"${'a'.repeat(10 * 1024 * 1024)}"}`;
    const got = await numberedLines(
      pieces(Buffer.from(`a\n${big}\r\nb`), [1, 2, 65_536, 5_000_000]),
      1 << 20,
    );
    expect(got.map((l) => [l.line, l.text.length])).toEqual([
      [1, 1],
      [2, big.length],
      [3, 1],
    ]);
  });
});

async function run(input: string | Buffer, options: Parameters<typeof scoreLinesOffline>[1]) {
  const chunks: ChunkResult[] = [];
  for await (const c of scoreLinesOffline([Buffer.from(input)], options)) chunks.push(c);
  return {
    out: chunks.map((c) => c.text).join(''),
    errors: chunks.flatMap((c) => c.errors),
    aborted: chunks.map((c) => c.aborted).filter((a) => a !== undefined),
    count: chunks.reduce((n, c) => n + c.count, 0),
  };
}

describe('scoreLinesOffline', () => {
  // 1,400 lines in ~4 KiB chunks: many chunks over two workers, so order is really at stake.
  const many = Array.from({ length: 5 }, () => lines).flat();
  many[333] = '{"id": "broken"';
  many[900] = JSON.stringify({ id: 'alien', data_source: 'gsm8k', response: 'x', ground_truth: '1' });
  // A line saved as Latin-1: its é is one byte, 0xE9, which UTF-8 cannot read.
  many[1200] = JSON.stringify({ id: 'latin', data_source: 'math-hard', response: 'café', ground_truth: '1' });
  const input = Buffer.from(`\ufeff${many.join('\r\n')}\r\n`, 'utf8');
  const latin = Buffer.from(many[1200], 'utf8');
  input.set(Buffer.concat([Buffer.from(many[1200], 'latin1'), Buffer.from(' ')]), input.indexOf(latin));

  // Two workers, or one worker with this thread scoring whenever the worker holds its two blocks (the
  // reader outpaces one worker many times over, so this thread takes many of the blocks).
  const pools = [
    { workers: 2, thisThreadHelps: false },
    { workers: 1, thisThreadHelps: true },
  ];

  it.each(pools)(
    'gives the same lines in the same order with worker threads as in this thread (%o)',
    async (pool) => {
      // The parity lines replay the reference, which clips its one off-scale verdict.
      const single = await run(input, { workers: 0, chunkBytes: 4096, clipVerdicts: true });
      const pooled = await run(input, { ...pool, chunkBytes: 4096, clipVerdicts: true });
      expect(pooled.out).toBe(single.out);
      expect(single.count).toBe(many.length);
      const ids = single.out
        .trimEnd()
        .split('\n')
        .map((l) => JSON.parse(l) as { id?: unknown; line?: number });
      expect(ids.map((o) => o.id)).toEqual(
        many.map((l, i) => (l.startsWith('{"id": "broken"') || i === 1200 ? undefined : JSON.parse(l).id)),
      );
      expect(ids[333]).toMatchObject({ line: 334 });
      expect(ids[1200]).toMatchObject({ line: 1201 });
      expect(pooled.errors).toEqual([
        expect.stringMatching(/^line 334: not valid JSON/),
        expect.stringMatching(/^line 901 \(id "[^"]+"\): unknown data source "gsm8k"/),
        expect.stringMatching(/^line 1201: not valid UTF-8: byte 56 of the line \(0xE9\) does not start/),
      ]);
    },
    60_000,
  );

  it('under fail, writes everything before the first bad line and nothing after', async () => {
    for (const pool of [{ workers: 0 }, ...pools]) {
      const r = await run(input, { ...pool, chunkBytes: 4096, onJudgeError: 'fail', clipVerdicts: true });
      expect(r.count).toBe(333);
      expect(r.aborted).toEqual([expect.stringMatching(/^line 334: not valid JSON/)]);
      const ids = r.out
        .trimEnd()
        .split('\n')
        .map((l) => (JSON.parse(l) as { id: unknown }).id);
      expect(ids).toEqual(many.slice(0, 333).map((l) => JSON.parse(l).id));
    }
  }, 60_000);

  it('scores every line around an output whose payoff is JSON nested 200,000 deep', async () => {
    // JSON.parse reads any depth; the payoff error used to carry the nested value, whose serialization
    // overflowed the stack and ended the whole run with an internal error and no output at all.
    const deep = '['.repeat(200_000) + ']'.repeat(200_000);
    const cellDeep = `{"DQ_AQ": ${deep}}`;
    const hostile = [deep, cellDeep].map((payoff, i) =>
      JSON.stringify({
        id: `deep-${i}`,
        data_source: 'math-hard',
        response: `<thinking>t</thinking><payoff>${payoff}</payoff><analyze>a</analyze><response>r</response>`,
        ground_truth: '1',
        verdict: 1,
      }),
    );
    const input = [lines[0], ...hostile, lines[1]].join('\n');
    for (const pool of [{ workers: 0 }, { workers: 1, thisThreadHelps: false }]) {
      const r = await run(input, { ...pool, clipVerdicts: true });
      expect(r.count).toBe(4);
      const out = r.out
        .trimEnd()
        .split('\n')
        .map((l) => JSON.parse(l) as { id: unknown; score?: number; unscorable?: { stage: string } });
      expect(out.map((o) => o.id)).toEqual([
        JSON.parse(lines[0]!).id,
        'deep-0',
        'deep-1',
        JSON.parse(lines[1]!).id,
      ]);
      expect(out[1]).toMatchObject({ score: 0, unscorable: { stage: 'payoff' } });
      expect(out[2]).toMatchObject({ score: 0, unscorable: { stage: 'payoff' } });
    }
  }, 60_000);
});
