/**
 * Is a file a whole GGUF model? Walks the header (magic, version, metadata, tensor infos) with every
 * length checked against the file's size, then checks that the file holds the tensor data the header
 * describes. A download or copy that was cut short is named as such here, before llama.cpp reads the
 * file: its own errors for such files are "Failed to load model" or a JavaScript TypeError from the GGUF
 * reader, which reads past the end of a short header as if it were zeros.
 *
 * Bounded work: the header is read once in 1 MiB pieces; the tensor data is never read.
 * Layout: ggml docs/gguf.md (little-endian).
 */
import { type FileHandle, open } from 'node:fs/promises';

/** Bytes per block and elements per block of the ggml types whose layout is fixed (ggml.c type_traits). */
const TYPE_SIZES: ReadonlyMap<number, { bytes: number; elements: number }> = new Map([
  [0, { bytes: 4, elements: 1 }], // F32
  [1, { bytes: 2, elements: 1 }], // F16
  [2, { bytes: 18, elements: 32 }], // Q4_0
  [3, { bytes: 20, elements: 32 }], // Q4_1
  [6, { bytes: 22, elements: 32 }], // Q5_0
  [7, { bytes: 24, elements: 32 }], // Q5_1
  [8, { bytes: 34, elements: 32 }], // Q8_0
  [10, { bytes: 84, elements: 256 }], // Q2_K
  [11, { bytes: 110, elements: 256 }], // Q3_K
  [12, { bytes: 144, elements: 256 }], // Q4_K
  [13, { bytes: 176, elements: 256 }], // Q5_K
  [14, { bytes: 210, elements: 256 }], // Q6_K
  [24, { bytes: 1, elements: 1 }], // I8
  [25, { bytes: 2, elements: 1 }], // I16
  [26, { bytes: 4, elements: 1 }], // I32
  [27, { bytes: 8, elements: 1 }], // I64
  [28, { bytes: 8, elements: 1 }], // F64
  [30, { bytes: 2, elements: 1 }], // BF16
]);

/** Bytes of each scalar metadata value type (gguf_metadata_value_type); 8 = string, 9 = array. */
const SCALAR_BYTES: ReadonlyMap<number, number> = new Map([
  [0, 1],
  [1, 1],
  [2, 2],
  [3, 2],
  [4, 4],
  [5, 4],
  [6, 4],
  [7, 1],
  [10, 8],
  [11, 8],
  [12, 8],
]);
const STRING = 8;
const ARRAY = 9;
const MAX_DIMS = 4;
const PIECE = 1 << 20;

/** Thrown inside the walk; turned into the problem text. */
class Problem extends Error {}

/** Sequential reads of a file, each checked against its size. */
class HeaderReader {
  pos = 0;
  private buffer = Buffer.alloc(0);
  private bufferAt = 0;

  constructor(
    private readonly file: FileHandle,
    readonly size: number,
  ) {}

  async bytes(n: number): Promise<Buffer> {
    if (n > this.size - this.pos) {
      throw new Problem(
        `its header is cut short: it needs ${n} more bytes at byte ${this.pos}, past the end of the file`,
      );
    }
    const end = this.bufferAt + this.buffer.length;
    if (this.pos < this.bufferAt || this.pos + n > end) {
      const length = Math.min(Math.max(n, PIECE), this.size - this.pos);
      const buffer = Buffer.alloc(length);
      const { bytesRead } = await this.file.read(buffer, 0, length, this.pos);
      if (bytesRead < n) throw new Problem(`the file ended while reading byte ${this.pos}`);
      this.buffer = buffer.subarray(0, bytesRead);
      this.bufferAt = this.pos;
    }
    const at = this.pos - this.bufferAt;
    this.pos += n;
    return this.buffer.subarray(at, at + n);
  }

  async u32(): Promise<number> {
    return (await this.bytes(4)).readUInt32LE(0);
  }

  /** A u64 that must be a count or length within the file (`what` names it in the problem). */
  async count(what: string): Promise<number> {
    const at = this.pos;
    const value = (await this.bytes(8)).readBigUInt64LE(0);
    if (value > BigInt(this.size)) {
      throw new Problem(
        `its header is damaged or cut short: ${what} ${value} at byte ${at} is larger than the file`,
      );
    }
    return Number(value);
  }

  async u64(): Promise<bigint> {
    return (await this.bytes(8)).readBigUInt64LE(0);
  }

  async skip(n: number): Promise<void> {
    if (n > this.size - this.pos) {
      throw new Problem(
        `its header is cut short: it needs ${n} more bytes at byte ${this.pos}, past the end of the file`,
      );
    }
    this.pos += n;
  }

  /** Skips `n` strings (a vocabulary: up to hundreds of thousands) from the buffer, without a promise each. */
  async skipStrings(n: number): Promise<void> {
    for (let i = 0; i < n; i++) {
      if (this.pos < this.bufferAt || this.pos + 8 > this.bufferAt + this.buffer.length) {
        await this.bytes(8); // loads the piece that holds the length, or says the file ends first
        this.pos -= 8;
      }
      const at = this.pos - this.bufferAt;
      // Inexact above 2^53, where it is far beyond any file anyway.
      const length = this.buffer.readUInt32LE(at + 4) * 2 ** 32 + this.buffer.readUInt32LE(at);
      this.pos += 8;
      if (length > this.size - this.pos) {
        throw new Problem(
          `its header is cut short: it needs ${length} more bytes at byte ${this.pos}, past the end of the file`,
        );
      }
      this.pos += length;
    }
  }

  async string(): Promise<string> {
    const length = await this.count('a string length');
    return (await this.bytes(length)).toString('utf8');
  }
}

async function skipValue(reader: HeaderReader, type: number, key: string): Promise<void> {
  if (type === STRING) {
    await reader.skip(await reader.count('a string length'));
    return;
  }
  if (type === ARRAY) {
    const itemType = await reader.u32();
    const n = await reader.count(`the length of the array ${key}`);
    if (itemType === STRING) {
      await reader.skipStrings(n);
      return;
    }
    const bytes = SCALAR_BYTES.get(itemType);
    if (bytes === undefined)
      throw new Problem(`its metadata ${key} holds an array of unknown type ${itemType}`);
    await reader.skip(n * bytes);
    return;
  }
  const bytes = SCALAR_BYTES.get(type);
  if (bytes === undefined) throw new Problem(`its metadata ${key} has unknown type ${type}`);
  await reader.skip(bytes);
}

/** The header walk; returns the least size of a file that holds all the tensor data the header lists. */
async function neededSize(reader: HeaderReader): Promise<number | undefined> {
  const magic = (await reader.bytes(Math.min(4, reader.size))).toString('latin1');
  if (magic !== 'GGUF') {
    throw new Problem(`it is not a GGUF file (it starts with ${JSON.stringify(magic)}, not "GGUF")`);
  }
  const version = await reader.u32();
  if (version < 2) throw new Problem(`it is GGUF version ${version}, which llama.cpp no longer reads`);
  // A later version may lay its header out differently: llama.cpp judges it.
  if (version > 3) return undefined;
  const tensors = await reader.count('the tensor count');
  const entries = await reader.count('the metadata count');
  let alignment = 32;
  for (let i = 0; i < entries; i++) {
    const key = await reader.string();
    const type = await reader.u32();
    if (key === 'general.alignment' && type === 4) {
      alignment = await reader.u32();
      if (alignment === 0) throw new Problem('its general.alignment is 0');
    } else {
      await skipValue(reader, type, key);
    }
  }
  let dataEnd = 0;
  for (let i = 0; i < tensors; i++) {
    const name = await reader.string();
    const dims = await reader.u32();
    if (dims > MAX_DIMS) throw new Problem(`its tensor ${name} has ${dims} dimensions (at most ${MAX_DIMS})`);
    let elements = 1n;
    for (let d = 0; d < dims; d++) elements *= await reader.u64();
    const type = await reader.u32();
    const offset = await reader.u64();
    const layout = TYPE_SIZES.get(type);
    // A type whose size is not known here still has its data start within the file.
    const bytes = layout === undefined ? 0n : (elements / BigInt(layout.elements)) * BigInt(layout.bytes);
    const end = offset + bytes;
    if (end > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new Problem(`its tensor ${name} is said to end at byte ${end}, beyond any file`);
    }
    dataEnd = Math.max(dataEnd, Number(end));
  }
  // A file without tensors (a vocabulary-only file) ends with its header, unpadded.
  if (tensors === 0) return reader.pos;
  const dataStart = Math.ceil(reader.pos / alignment) * alignment;
  return dataStart + dataEnd;
}

/**
 * What is wrong with `path` as a GGUF model file, or undefined when its header is whole and the file holds
 * all the tensor data it lists. Errors opening or reading the file are thrown as they are.
 */
export async function ggufFileProblem(path: string): Promise<string | undefined> {
  const file = await open(path, 'r');
  try {
    const { size } = await file.stat();
    if (size === 0) return 'the file is empty (0 bytes)';
    const reader = new HeaderReader(file, size);
    let needed: number | undefined;
    try {
      needed = await neededSize(reader);
    } catch (err) {
      if (err instanceof Problem) return err.message;
      throw err;
    }
    if (needed !== undefined && size < needed) {
      return `it is cut short: the file has ${size} bytes, its tensors need ${needed} (an interrupted download or copy?)`;
    }
    return undefined;
  } finally {
    await file.close();
  }
}
