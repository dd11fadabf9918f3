/**
 * What each token of a node-llama-cpp model writes into the text, as far as UTF-8 is concerned.
 *
 * node-llama-cpp hands a token's text over only as a JS string, in which bytes that are not UTF-8 on their own
 * (a byte token such as <0xF8>, or a token holding part of a character) have become U+FFFD. For those tokens
 * the bytes are read from the vocabulary, as llama.cpp's detokenizer reads them: `<0xHH>` for a byte token,
 * GPT-2's byte-to-character map for a byte-level BPE token. A reading is kept only if it decodes to exactly the
 * text the engine gave; otherwise the token's bytes are unknown. Every other token writes whole characters or
 * nothing, and which bytes those are does not matter here, so they are not kept (a 150k vocabulary would
 * otherwise be 150k small arrays).
 */
import type { LlamaModel, Token } from 'node-llama-cpp';
import { byteToUnicode } from './gguf-writer.js';

/** Bytes that are not UTF-8 on their own; `'text'`: one or more whole characters; `'none'`; undefined: unknown. */
export type TokenBytes = Uint8Array | 'text' | 'none' | undefined;

const BYTE_TOKEN = /^<0x([0-9A-Fa-f]{2})>$/;

let gpt2Bytes: Map<string, number> | undefined;

/** The bytes of a byte-level BPE token's text, or undefined when a character is outside GPT-2's map. */
function fromGpt2(text: string): Uint8Array | undefined {
  gpt2Bytes ??= new Map(byteToUnicode().map((ch, byte) => [ch, byte]));
  const bytes: number[] = [];
  for (const ch of text) {
    const byte = gpt2Bytes.get(ch);
    if (byte === undefined) return undefined;
    bytes.push(byte);
  }
  return Uint8Array.from(bytes);
}

/** The bytes of `token`, whose detokenized `text` holds U+FFFD, read from the vocabulary; or undefined. */
function fromVocabulary(
  model: LlamaModel,
  token: Token,
  text: string,
  vocabText: string,
  decoder: TextDecoder,
): Uint8Array | undefined {
  const byteToken = model.getTokenAttributes(token).byte ? BYTE_TOKEN.exec(vocabText) : null;
  const candidates = [
    byteToken === null ? undefined : Uint8Array.of(Number.parseInt(byteToken[1] ?? '', 16)),
    model.vocabularyType === 'bpe' ? fromGpt2(vocabText) : undefined,
    // A token whose text is U+FFFD itself: valid UTF-8, spelled in the vocabulary as it is written.
    new TextEncoder().encode(vocabText.replaceAll('\u2581', ' ')),
  ];
  return candidates.find((bytes) => bytes !== undefined && decoder.decode(bytes) === text);
}

/** What every token of `model` writes, indexed by token id. */
export function tokenBytes(model: LlamaModel): TokenBytes[] {
  const vocabulary = model.fileInfo.metadata.tokenizer?.ggml?.tokens ?? [];
  const decoder = new TextDecoder();
  const out: TokenBytes[] = [];
  for (const token of model.iterateAllTokens()) {
    // Without special tokens: a control token writes nothing into the text.
    const text = model.detokenize([token]);
    if (text === '') out[token] = 'none';
    else if (!text.includes('\uFFFD')) out[token] = 'text';
    else out[token] = fromVocabulary(model, token, text, vocabulary[token] ?? '', decoder);
  }
  return out;
}
