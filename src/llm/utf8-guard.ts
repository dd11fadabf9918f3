/**
 * Keeps what the embedded engine samples valid UTF-8: a token bias, recomputed before every sampled token,
 * that bans the tokens whose bytes cannot continue the text generated so far into valid UTF-8.
 *
 * A vocabulary with byte tokens (byte-level BPE: all 256 bytes; SentencePiece: <0xHH> byte fallback) can spell
 * anything, and llama.cpp's grammar does not stop it: its decoder reads F5–FF as lead bytes of code points past
 * U+10FFFF and does not check the range of the byte after E0, ED, F0 or F4 (overlong forms, surrogates, past
 * U+10FFFF). The tiny random-weights model wrote such bytes in every demo run, shown as U+FFFD.
 *
 The bias follows a UTF-8 decoder's state (Unicode's Table 3-7): between characters it bans continuation
 * bytes and bytes that are never UTF-8 (C0, C1, F5–FF), a few hundred tokens at most; inside a character,
 * every token that does not go on with the bytes it needs, which is nearly the whole vocabulary.
 *
 * The ban between characters applies to every model: a banned token could only have made the text
 * undecodable, a trained model gives those tokens next to no probability, and it is cheap. The ban inside a
 * character is kept for models of random weights (`insideCharacters`): node-llama-cpp copies a bias into
 * arrays before every token, and a ban of 130k–260k tokens costs 9–15 ms a token here, spent on the event
 * loop, for a trained model that does not need it (it finishes the characters it starts). The vocabulary is
 * read when the model loads (0.02–0.2 s for 32k–262k tokens).
 *
 * TokenBias cannot ban an end-of-generation token, so an output may still end inside a character: local.ts
 * leaves those bytes out. A token whose bytes cannot be read (see token-bytes.ts) is never banned, and after
 * one the guard stands aside until a token shows where a character starts.
 */
import type { LlamaModel, Token, TokenBias } from 'node-llama-cpp';
import { type TokenBytes, tokenBytes } from './token-bytes.js';

type NodeLlamaCpp = typeof import('node-llama-cpp');

/** A decoder's state: between characters, inside one (1–7), or lost (bytes it could not read or follow). */
export type Utf8State = number;
export const BETWEEN: Utf8State = 0;
const LOST: Utf8State = -1;

/** Whether `state` is inside a character (the last bytes are not text yet); undefined when lost. */
export function insideCharacter(state: Utf8State): boolean | undefined {
  return state === LOST ? undefined : state !== BETWEEN;
}

/** Inside a character: the range of the next byte and the state after it, by state. */
const INSIDE: ReadonlyArray<readonly [lo: number, hi: number, next: Utf8State]> = [
  [0, -1, LOST], // BETWEEN: see `step`
  [0x80, 0xbf, BETWEEN], // one byte to go
  [0x80, 0xbf, 1], // two to go (after E1–EC, EE, EF)
  [0xa0, 0xbf, 1], // after E0: no overlong form
  [0x80, 0x9f, 1], // after ED: no surrogate
  [0x80, 0xbf, 2], // three to go (after F1–F3)
  [0x90, 0xbf, 2], // after F0: no overlong form
  [0x80, 0x8f, 2], // after F4: nothing past U+10FFFF
];

/** The state after `byte`, or LOST when no valid UTF-8 goes on this way. */
function step(state: Utf8State, byte: number): Utf8State {
  if (state !== BETWEEN) {
    const [lo, hi, next] = INSIDE[state] ?? [0, -1, LOST];
    return byte >= lo && byte <= hi ? next : LOST;
  }
  if (byte < 0x80) return BETWEEN;
  if (byte < 0xc2) return LOST; // a continuation byte, or C0/C1 (the lead of an overlong form)
  if (byte < 0xe0) return 1;
  if (byte === 0xe0) return 3;
  if (byte === 0xed) return 4;
  if (byte < 0xf0) return 2;
  if (byte === 0xf0) return 6;
  if (byte < 0xf4) return 5;
  return byte === 0xf4 ? 7 : LOST;
}

/** The state after a token's bytes (known: not undefined). */
function run(state: Utf8State, bytes: Exclude<TokenBytes, undefined>): Utf8State {
  if (bytes === 'none') return state;
  // Whole characters start with an ASCII or a lead byte: fine between characters, never inside one.
  if (bytes === 'text') return state === BETWEEN ? BETWEEN : LOST;
  for (const byte of bytes) {
    state = step(state, byte);
    if (state === LOST) break;
  }
  return state;
}

export class Utf8Guard {
  private readonly bans = new Map<Utf8State, { tokens: readonly Token[]; bias: TokenBias }>();

  private constructor(
    private readonly lib: NodeLlamaCpp,
    private readonly model: LlamaModel,
    /** By token id. */
    private readonly bytes: readonly TokenBytes[],
    private readonly insideCharacters: boolean,
  ) {}

  /**
   * Reads what every token of `model` writes (see token-bytes.ts). `insideCharacters`: whether to ban, inside
   * a character, the tokens that do not finish it (see the module comment; for models of random weights).
   */
  static for(lib: NodeLlamaCpp, model: LlamaModel, options: { insideCharacters: boolean }): Utf8Guard {
    return new Utf8Guard(lib, model, tokenBytes(model), options.insideCharacters);
  }

  /** The tokens that cannot come next in `state`, and the bias that bans them (built once per state). */
  private ban(state: Utf8State): { tokens: readonly Token[]; bias: TokenBias } {
    let ban = this.bans.get(state);
    if (ban === undefined) {
      const tokens: Token[] = [];
      if (state === BETWEEN || (state !== LOST && this.insideCharacters)) {
        this.bytes.forEach((bytes, token) => {
          if (bytes !== undefined && run(state, bytes) === LOST) tokens.push(token as Token);
        });
      }
      // End-of-generation tokens are left out by TokenBias itself: a grammar decides where text may end.
      ban = { tokens, bias: new this.lib.TokenBias(this.model.tokenizer).set(tokens, 'never') };
      this.bans.set(state, ban);
    }
    return ban;
  }

  /** The tokens that cannot come next in `state`, in id order. */
  banned(state: Utf8State): readonly Token[] {
    return this.ban(state).tokens;
  }

  /** The bias for the token after `state`. */
  bias(state: Utf8State): TokenBias {
    return this.ban(state).bias;
  }

  /** The state after `token` was sampled in `state`. */
  after(state: Utf8State, token: Token): Utf8State {
    const bytes = this.bytes[token];
    if (bytes === undefined) return LOST;
    if (state !== LOST) return run(state, bytes);
    if (typeof bytes === 'string') return bytes === 'text' ? BETWEEN : LOST;
    // Lost: continuation bytes at the start may end a character begun unseen; a character starts after them.
    // Until one does, nothing is banned (a grammar may still be inside that character and need them).
    let start = 0;
    while (start < bytes.length && ((bytes[start] ?? 0) & 0xc0) === 0x80) start++;
    return start === bytes.length ? LOST : run(BETWEEN, bytes.subarray(start));
  }
}
