import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ggufFileProblem } from '../../src/llm/gguf-check.js';
import { encodeGguf, type GgufFile, str, tinyLlamaGguf } from '../../src/llm/gguf-writer.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gtalign-gguf-check-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

let n = 0;
async function problemOf(bytes: Uint8Array): Promise<string | undefined> {
  const path = join(dir, `m${n++}.gguf`);
  await writeFile(path, bytes);
  return ggufFileProblem(path);
}

const model: GgufFile = {
  metadata: [
    ['general.architecture', str('llama')],
    ['test.names', { type: 'array', itemType: 'string', values: ['a', 'é', ''] }],
  ],
  tensors: [
    { name: 'a', dims: [3], data: new Float32Array([1, 2, 3]) },
    { name: 'b', dims: [4, 2], data: new Float32Array(8) },
  ],
};

describe('ggufFileProblem', () => {
  it('finds nothing wrong with whole files, with or without tensors', async () => {
    expect(await problemOf(encodeGguf(model))).toBeUndefined();
    expect(await problemOf(encodeGguf(tinyLlamaGguf({ seed: 1 })))).toBeUndefined();
    // A vocabulary-only file (as llama.cpp ships for its tokenizer tests) ends with its header, unpadded.
    const vocab = encodeGguf({ metadata: model.metadata, tensors: [] });
    const unpadded = vocab.subarray(0, vocab.length - 1);
    expect(await problemOf(unpadded)).toBeUndefined();
  });

  it('says the file is cut short wherever it was cut, down to the last byte', async () => {
    const whole = encodeGguf(model);
    const dataStart = whole.length - 64; // two tensors, each padded to 32 bytes
    for (const cut of [6, 20, 40, 90, 150]) {
      expect(await problemOf(whole.subarray(0, cut)), `cut at ${cut}`).toMatch(
        /header is (damaged or )?cut short/,
      );
    }
    const needed = dataStart + 32 + 8 * 4;
    for (const cut of [dataStart, dataStart + 40, needed - 1]) {
      expect(await problemOf(whole.subarray(0, cut))).toBe(
        `it is cut short: the file has ${cut} bytes, its tensors need ${needed} (an interrupted download or copy?)`,
      );
    }
    expect(await problemOf(whole.subarray(0, needed))).toBeUndefined();
  });

  it('names an empty file, a file of another kind and a GGUF version llama.cpp no longer reads', async () => {
    expect(await problemOf(new Uint8Array(0))).toBe('the file is empty (0 bytes)');
    expect(await problemOf(Buffer.from('<html>'))).toBe(
      'it is not a GGUF file (it starts with "<htm", not "GGUF")',
    );
    const v1 = Buffer.from(encodeGguf(model));
    v1.writeUInt32LE(1, 4);
    expect(await problemOf(v1)).toBe('it is GGUF version 1, which llama.cpp no longer reads');
  });

  it('reads a count larger than the file as damage, without allocating it', async () => {
    const bad = Buffer.from(encodeGguf(model));
    bad.writeBigUInt64LE(1n << 60n, 16); // the metadata count
    expect(await problemOf(bad)).toMatch(
      /the metadata count 1152921504606846976 at byte 16 is larger than the file/,
    );
  });
});
