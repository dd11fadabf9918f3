/**
 * A preload (`node --import`) for CLI tests: the disk "fills up" under some files. Set
 * GTALIGN_TEST_FULL_DISK to {"file": "results.jsonl", "free": 2000}: writes to files whose name starts
 * with `file` get `free` bytes in all; the write that crosses it writes what fits and reports that
 * without an error (as a real full disk does), and later writes fail with ENOSPC. Only this test
 * helper reads the variable.
 */
import fs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { basename } from 'node:path';

const spec = JSON.parse(process.env.GTALIGN_TEST_FULL_DISK ?? 'null');
if (spec !== null) {
  let free = spec.free;
  const open = fs.promises.open;
  fs.promises.open = async (path, ...rest) => {
    const handle = await open(path, ...rest);
    if (!basename(String(path)).startsWith(spec.file)) return handle;
    const write = handle.write.bind(handle);
    handle.write = async (data, ...rest) => {
      // write(buffer, offset?, length?, position?) or write(string, position?, encoding?)
      const buffer = typeof data === 'string' ? Buffer.from(data, rest[1] ?? 'utf8') : data;
      const offset = typeof data === 'string' ? 0 : (rest[0] ?? 0);
      const length = typeof data === 'string' ? buffer.length : (rest[1] ?? buffer.length - offset);
      const position = (typeof data === 'string' ? rest[0] : rest[2]) ?? null;
      if (free <= 0) {
        throw Object.assign(new Error(`ENOSPC: no space left on device, write '${path}'`), {
          code: 'ENOSPC',
          errno: -28,
          syscall: 'write',
        });
      }
      const result = await write(buffer, offset, Math.min(length, free), position);
      free -= result.bytesWritten;
      return result;
    };
    return handle;
  };
  // The named exports of node:fs/promises (what the store imports) follow the patched object.
  syncBuiltinESMExports();
}
