/**
 * A whole GGUF file for download tests: a llama header and one float tensor of `values` values, all
 * `fill` (different fills give different files of the same size). About 4 bytes a value.
 */
import { encodeGguf, str } from '../../src/llm/gguf-writer.js';

export function ggufFile(fill: number, values = 75_000): Buffer {
  return Buffer.from(
    encodeGguf({
      metadata: [['general.architecture', str('llama')]],
      tensors: [{ name: 'w', dims: [values], data: new Float32Array(values).fill(fill) }],
    }),
  );
}
