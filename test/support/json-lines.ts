/** Reading back what a run wrote: the JSON values of a JSONL file's non-blank lines, in file order. */
import { readFile } from 'node:fs/promises';

// biome-ignore lint/suspicious/noExplicitAny: JSON records read back from a run folder, checked by each test
export async function jsonLines(path: string): Promise<Array<Record<string, any>>> {
  return (await readFile(path, 'utf8'))
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l));
}
