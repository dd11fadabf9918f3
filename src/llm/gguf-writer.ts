/**
 * A small GGUF v3 writer (little-endian, F32 tensors) and a generator of tiny llama-architecture models with
 * random weights and a byte-level BPE tokenizer, so the embedded backend can be tested end to end without
 * downloading a model. The tiny model knows nothing: its text is noise, but under a grammar it is well-formed.
 *
 * Layout (ggml docs/gguf.md): header (magic, version, tensor count, KV count) → metadata KVs → tensor infos
 * (name, dims innermost first, ggml type, offset relative to the data section) → zero padding to the
 * alignment → tensor data, each tensor starting at a multiple of the alignment.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { seededRandom } from '../random.js';

// ---------- generic GGUF encoding ----------

/** Scalar metadata types (gguf_metadata_value_type). */
const VALUE_TYPE = {
  uint8: 0,
  int8: 1,
  uint16: 2,
  int16: 3,
  uint32: 4,
  int32: 5,
  float32: 6,
  bool: 7,
  string: 8,
  array: 9,
  uint64: 10,
  int64: 11,
  float64: 12,
} as const;

export type GgufNumberType =
  | 'uint8'
  | 'int8'
  | 'uint16'
  | 'int16'
  | 'uint32'
  | 'int32'
  | 'float32'
  | 'float64';
export type GgufBigIntType = 'uint64' | 'int64';

export type GgufMetadataValue =
  | { type: GgufNumberType; value: number }
  | { type: GgufBigIntType; value: bigint }
  | { type: 'bool'; value: boolean }
  | { type: 'string'; value: string }
  | { type: 'array'; itemType: GgufNumberType; values: readonly number[] }
  | { type: 'array'; itemType: 'string'; values: readonly string[] }
  | { type: 'array'; itemType: 'bool'; values: readonly boolean[] };

/** An F32 tensor. `dims` are in ggml order: the innermost (contiguous) dimension first. */
export interface GgufTensor {
  name: string;
  dims: readonly number[];
  data: Float32Array;
}

export interface GgufFile {
  /** Metadata in file order. Keys must be unique. */
  metadata: ReadonlyArray<readonly [string, GgufMetadataValue]>;
  tensors: readonly GgufTensor[];
  /** Alignment of the tensor data (default 32; written as `general.alignment` when not 32). */
  alignment?: number;
}

export const u32 = (value: number): GgufMetadataValue => ({ type: 'uint32', value });
export const i32 = (value: number): GgufMetadataValue => ({ type: 'int32', value });
export const f32 = (value: number): GgufMetadataValue => ({ type: 'float32', value });
export const str = (value: string): GgufMetadataValue => ({ type: 'string', value });
export const bool = (value: boolean): GgufMetadataValue => ({ type: 'bool', value });

const NUMBER_SIZE: Record<GgufNumberType, number> = {
  uint8: 1,
  int8: 1,
  uint16: 2,
  int16: 2,
  uint32: 4,
  int32: 4,
  float32: 4,
  float64: 8,
};

/** Growable little-endian byte buffer. */
class ByteSink {
  private buf = new Uint8Array(1 << 16);
  private view = new DataView(this.buf.buffer);
  length = 0;

  private reserve(n: number): number {
    const at = this.length;
    if (at + n > this.buf.length) {
      let size = this.buf.length * 2;
      while (size < at + n) size *= 2;
      const next = new Uint8Array(size);
      next.set(this.buf.subarray(0, at));
      this.buf = next;
      this.view = new DataView(next.buffer);
    }
    this.length = at + n;
    return at;
  }

  number(type: GgufNumberType, value: number): void {
    const at = this.reserve(NUMBER_SIZE[type]);
    const v = this.view;
    switch (type) {
      case 'uint8':
        v.setUint8(at, value);
        break;
      case 'int8':
        v.setInt8(at, value);
        break;
      case 'uint16':
        v.setUint16(at, value, true);
        break;
      case 'int16':
        v.setInt16(at, value, true);
        break;
      case 'uint32':
        v.setUint32(at, value, true);
        break;
      case 'int32':
        v.setInt32(at, value, true);
        break;
      case 'float32':
        v.setFloat32(at, value, true);
        break;
      case 'float64':
        v.setFloat64(at, value, true);
        break;
    }
  }

  u64(value: bigint | number): void {
    const at = this.reserve(8);
    this.view.setBigUint64(at, BigInt(value), true);
  }

  i64(value: bigint): void {
    const at = this.reserve(8);
    this.view.setBigInt64(at, value, true);
  }

  bytes(data: Uint8Array): void {
    const at = this.reserve(data.length); // may replace this.buf
    this.buf.set(data, at);
  }

  string(s: string): void {
    const data = new TextEncoder().encode(s);
    this.u64(data.length);
    this.bytes(data);
  }

  padTo(alignment: number): void {
    const pad = (alignment - (this.length % alignment)) % alignment;
    this.reserve(pad); // fresh bytes are zero
  }

  result(): Uint8Array {
    return this.buf.slice(0, this.length);
  }
}

function checkInteger(key: string, type: GgufNumberType, value: number): void {
  if (type === 'float32' || type === 'float64') return;
  const bits = NUMBER_SIZE[type] * 8;
  const signed = type.startsWith('int');
  const min = signed ? -(2 ** (bits - 1)) : 0;
  const max = signed ? 2 ** (bits - 1) - 1 : 2 ** bits - 1;
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`GGUF metadata "${key}": ${value} is not a valid ${type}`);
  }
}

function writeValue(sink: ByteSink, key: string, value: GgufMetadataValue): void {
  switch (value.type) {
    case 'bool':
      sink.number('uint8', value.value ? 1 : 0);
      return;
    case 'string':
      sink.string(value.value);
      return;
    case 'uint64':
      if (value.value < 0n) throw new RangeError(`GGUF metadata "${key}": uint64 must not be negative`);
      sink.u64(value.value);
      return;
    case 'int64':
      sink.i64(value.value);
      return;
    case 'array': {
      sink.number('uint32', VALUE_TYPE[value.itemType]);
      sink.u64(value.values.length);
      if (value.itemType === 'string') for (const s of value.values) sink.string(s);
      else if (value.itemType === 'bool') for (const b of value.values) sink.number('uint8', b ? 1 : 0);
      else {
        for (const n of value.values) {
          checkInteger(key, value.itemType, n);
          sink.number(value.itemType, n);
        }
      }
      return;
    }
    default:
      checkInteger(key, value.type, value.value);
      sink.number(value.type, value.value);
  }
}

/** Encodes a GGUF v3 file in memory. Throws a RangeError on invalid input (duplicate keys, bad shapes). */
export function encodeGguf(file: GgufFile): Uint8Array {
  const alignment = file.alignment ?? 32;
  if (!Number.isSafeInteger(alignment) || alignment < 8 || alignment % 8 !== 0) {
    throw new RangeError(`GGUF alignment must be a positive multiple of 8, got ${alignment}`);
  }
  const metadata: Array<readonly [string, GgufMetadataValue]> = [...file.metadata];
  const keys = new Set(metadata.map(([k]) => k));
  if (keys.size !== metadata.length) throw new RangeError('GGUF metadata keys must be unique');
  if (alignment !== 32 && !keys.has('general.alignment'))
    metadata.push(['general.alignment', u32(alignment)]);

  const names = new Set<string>();
  for (const t of file.tensors) {
    if (names.has(t.name)) throw new RangeError(`GGUF tensor "${t.name}" appears twice`);
    names.add(t.name);
    const count = t.dims.reduce((a, b) => a * b, 1);
    if (t.dims.length === 0 || t.dims.length > 4 || t.dims.some((d) => !Number.isSafeInteger(d) || d < 1)) {
      throw new RangeError(`GGUF tensor "${t.name}": dims must be 1 to 4 positive integers`);
    }
    if (count !== t.data.length) {
      throw new RangeError(
        `GGUF tensor "${t.name}": dims hold ${count} values but data has ${t.data.length}`,
      );
    }
  }

  const sink = new ByteSink();
  sink.bytes(new TextEncoder().encode('GGUF'));
  sink.number('uint32', 3);
  sink.u64(file.tensors.length);
  sink.u64(metadata.length);
  for (const [key, value] of metadata) {
    sink.string(key);
    sink.number('uint32', VALUE_TYPE[value.type]);
    writeValue(sink, key, value);
  }
  let offset = 0;
  for (const t of file.tensors) {
    sink.string(t.name);
    sink.number('uint32', t.dims.length);
    for (const d of t.dims) sink.u64(d);
    sink.number('uint32', 0); // GGML_TYPE_F32
    sink.u64(offset);
    offset += Math.ceil((t.data.length * 4) / alignment) * alignment;
  }
  sink.padTo(alignment);
  for (const t of file.tensors) {
    const bytes = new Uint8Array(t.data.length * 4);
    const view = new DataView(bytes.buffer);
    for (let i = 0; i < t.data.length; i++) view.setFloat32(i * 4, t.data[i] ?? 0, true);
    sink.bytes(bytes);
    sink.padTo(alignment);
  }
  return sink.result();
}

/** Writes a GGUF file (creating the directory) and returns its size in bytes. */
export async function writeGguf(path: string, file: GgufFile): Promise<number> {
  const bytes = encodeGguf(file);
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, bytes);
  return bytes.length;
}

// ---------- the tiny byte-level tokenizer ----------

/**
 * GPT-2's reversible byte → printable character map: printable Latin-1 bytes stand for themselves, the others
 * are moved to U+0100 and up in byte order.
 */
export function byteToUnicode(): string[] {
  const out: string[] = new Array(256);
  let shifted = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    out[b] = String.fromCodePoint(printable ? b : 256 + shifted++);
  }
  return out;
}

/**
 * Words given a merge chain, so that tokenization is not one token per byte: the four block tags and the payoff
 * keys become a few multi-byte tokens, which is what makes re-tokenizing edited text a real concern.
 */
const MERGED_WORDS = ['</', 'thinking', 'payoff', 'analyze', 'response', 'LLM', 'user', '":'];

export const TINY_SPECIAL_TOKENS = ['<|endoftext|>', '<|im_start|>', '<|im_end|>'] as const;

/** ChatML, the template most chat GGUFs carry. */
export const TINY_CHAT_TEMPLATE =
  "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}" +
  "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

interface TinyVocab {
  tokens: string[];
  types: number[];
  merges: string[];
  bos: number;
  eos: number;
}

/** 256 byte tokens (id = byte value), merged tokens, then the special tokens. */
function tinyVocab(): TinyVocab {
  const b2u = byteToUnicode();
  const tokens = [...b2u];
  const types = tokens.map(() => 1); // NORMAL
  const merges: string[] = [];
  const known = new Set(tokens);
  for (const word of MERGED_WORDS) {
    const chars = [...new TextEncoder().encode(word)].map((b) => b2u[b] ?? '');
    let left = chars[0] ?? '';
    for (const right of chars.slice(1)) {
      const merged = left + right;
      if (!known.has(merged)) {
        merges.push(`${left} ${right}`);
        tokens.push(merged);
        types.push(1);
        known.add(merged);
      }
      left = merged;
    }
  }
  const firstSpecial = tokens.length;
  for (const s of TINY_SPECIAL_TOKENS) {
    tokens.push(s);
    types.push(3); // CONTROL
  }
  return { tokens, types, merges, bos: firstSpecial, eos: firstSpecial + 2 };
}

// ---------- the tiny model ----------

export interface TinyLlamaOptions {
  /** PRNG seed for the weights (default 1): the same options give a byte-identical file. */
  seed?: number;
  embeddingLength?: number;
  blockCount?: number;
  headCount?: number;
  /** Key/value heads (default `headCount`); must divide `headCount`. */
  headCountKv?: number;
  feedForwardLength?: number;
  contextLength?: number;
  /** Written as `tokenizer.chat_template` (default ChatML); `null` writes none. */
  chatTemplate?: string | null;
  name?: string;
}

export interface TinyLlamaInfo {
  path: string;
  bytes: number;
  vocabSize: number;
  parameters: number;
}

const prng = seededRandom;

/** The GGUF content of a tiny llama model (pure: no I/O). */
export function tinyLlamaGguf(options: TinyLlamaOptions = {}): GgufFile {
  const nEmbd = options.embeddingLength ?? 64;
  const nLayer = options.blockCount ?? 2;
  const nHead = options.headCount ?? 4;
  const nHeadKv = options.headCountKv ?? nHead;
  const nFf = options.feedForwardLength ?? 2 * nEmbd;
  const nCtx = options.contextLength ?? 4096;
  for (const [name, v] of Object.entries({ nEmbd, nLayer, nHead, nHeadKv, nFf, nCtx })) {
    if (!Number.isSafeInteger(v) || v < 1)
      throw new RangeError(`tiny model option ${name} must be >= 1, got ${v}`);
  }
  if (nEmbd % nHead !== 0 || (nEmbd / nHead) % 2 !== 0) {
    throw new RangeError(`embeddingLength ${nEmbd} must split into ${nHead} heads of even size (RoPE)`);
  }
  if (nHead % nHeadKv !== 0) throw new RangeError(`headCountKv ${nHeadKv} must divide headCount ${nHead}`);
  const headDim = nEmbd / nHead;
  const vocab = tinyVocab();
  const nVocab = vocab.tokens.length;

  const random = prng(options.seed ?? 1);
  const gaussian = (): number => {
    const u = 1 - random();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
  };
  // Weights scaled by 1/sqrt(fan in) keep activations O(1); the output gets a larger scale so the next-token
  // distribution is peaked enough that sampling is not uniform noise.
  const matrix = (name: string, nIn: number, nOut: number, scale = 1): GgufTensor => {
    const data = new Float32Array(nIn * nOut);
    const std = scale / Math.sqrt(nIn);
    for (let i = 0; i < data.length; i++) data[i] = gaussian() * std;
    return { name, dims: [nIn, nOut], data };
  };
  const ones = (name: string): GgufTensor => ({ name, dims: [nEmbd], data: new Float32Array(nEmbd).fill(1) });

  const tensors: GgufTensor[] = [matrix('token_embd.weight', nEmbd, nVocab, Math.sqrt(nEmbd))];
  for (let i = 0; i < nLayer; i++) {
    const p = `blk.${i}`;
    tensors.push(
      ones(`${p}.attn_norm.weight`),
      matrix(`${p}.attn_q.weight`, nEmbd, nEmbd),
      matrix(`${p}.attn_k.weight`, nEmbd, nHeadKv * headDim),
      matrix(`${p}.attn_v.weight`, nEmbd, nHeadKv * headDim),
      matrix(`${p}.attn_output.weight`, nEmbd, nEmbd),
      ones(`${p}.ffn_norm.weight`),
      matrix(`${p}.ffn_gate.weight`, nEmbd, nFf),
      matrix(`${p}.ffn_up.weight`, nEmbd, nFf),
      matrix(`${p}.ffn_down.weight`, nFf, nEmbd),
    );
  }
  tensors.push(ones('output_norm.weight'), matrix('output.weight', nEmbd, nVocab, 3));

  const metadata: Array<readonly [string, GgufMetadataValue]> = [
    ['general.architecture', str('llama')],
    ['general.name', str(options.name ?? 'gtalign tiny random llama')],
    ['general.file_type', u32(0)], // ALL_F32
    ['llama.context_length', u32(nCtx)],
    ['llama.embedding_length', u32(nEmbd)],
    ['llama.block_count', u32(nLayer)],
    ['llama.feed_forward_length', u32(nFf)],
    ['llama.attention.head_count', u32(nHead)],
    ['llama.attention.head_count_kv', u32(nHeadKv)],
    ['llama.attention.layer_norm_rms_epsilon', f32(1e-5)],
    ['llama.rope.dimension_count', u32(headDim)],
    ['llama.rope.freq_base', f32(10000)],
    ['llama.vocab_size', u32(nVocab)],
    ['tokenizer.ggml.model', str('gpt2')],
    ['tokenizer.ggml.pre', str('default')],
    ['tokenizer.ggml.tokens', { type: 'array', itemType: 'string', values: vocab.tokens }],
    ['tokenizer.ggml.token_type', { type: 'array', itemType: 'int32', values: vocab.types }],
    ['tokenizer.ggml.merges', { type: 'array', itemType: 'string', values: vocab.merges }],
    ['tokenizer.ggml.bos_token_id', u32(vocab.bos)],
    ['tokenizer.ggml.eos_token_id', u32(vocab.eos)],
    ['tokenizer.ggml.padding_token_id', u32(vocab.bos)],
    ['tokenizer.ggml.add_bos_token', bool(false)],
  ];
  const template = options.chatTemplate === undefined ? TINY_CHAT_TEMPLATE : options.chatTemplate;
  if (template !== null) metadata.push(['tokenizer.chat_template', str(template)]);
  return { metadata, tensors };
}

/** Writes a tiny random llama model to `path` (reproducible for a given seed and options). */
export async function writeTinyLlamaGguf(
  path: string,
  options: TinyLlamaOptions = {},
): Promise<TinyLlamaInfo> {
  const file = tinyLlamaGguf(options);
  const bytes = await writeGguf(path, file);
  const vocab = file.metadata.find(([k]) => k === 'tokenizer.ggml.tokens')?.[1];
  return {
    path,
    bytes,
    vocabSize: vocab?.type === 'array' ? vocab.values.length : 0,
    parameters: file.tensors.reduce((n, t) => n + t.data.length, 0),
  };
}
