/**
 * A string's UTF-16 code units, copied into one typed array reused by the thread. On Node 20's V8 a loop
 * over a Uint16Array reads a code unit about 2.7× faster than `charCodeAt` on the string (reward outputs:
 * 0.66 against 1.8 ns a unit, the copy included), so the reward's per-character scans (lengths, BLEU)
 * read the copy. The copy is exact: Node's UTF-16LE writer keeps lone surrogates as they are.
 */

// Where Buffer is missing, or the platform is big-endian (UTF-16LE bytes would not read back as native
// code units), the units are copied one by one instead: the same result, without the speed.
const FAST_COPY: boolean = (() => {
  if (typeof Buffer !== 'function') return false;
  const probe = Buffer.allocUnsafeSlow(2);
  probe.write('\u0102', 0, 'utf16le');
  return new Uint16Array(probe.buffer, probe.byteOffset, 1)[0] === 0x0102;
})();

let bytes: Buffer | undefined;
let units = new Uint16Array(1 << 15);

/**
 * The code units of `text` in the first `text.length` entries of the returned array. The array is shared:
 * it holds them until the next call, in this thread.
 */
export function codeUnitsOf(text: string): Uint16Array {
  const length = text.length;
  if (length > units.length) {
    const size = 2 ** Math.ceil(Math.log2(length));
    units = new Uint16Array(size);
    bytes = undefined;
  }
  if (FAST_COPY) {
    // Own memory (byte offset 0), so the Uint16Array view over it is aligned.
    bytes ??= Buffer.from(units.buffer, units.byteOffset, units.byteLength);
    bytes.write(text, 0, 'utf16le');
  } else {
    for (let i = 0; i < length; i++) units[i] = text.charCodeAt(i);
  }
  return units;
}
