/**
 * A run-store file system that fails on purpose: short writes, a full disk, I/O errors, at chosen
 * points (the Nth write, after N bytes, the Nth sync, rename, open, truncate or close). Everything
 * else goes to the real files, so what a fault leaves behind is on disk for the test to read.
 *
 * Indexes are 0-based and count calls through this layer across all files (a continued write counts
 * again). Errors look like Node's own (`code`, `errno`, `syscall`, `path`).
 */
import { constants } from 'node:os';
import { basename } from 'node:path';
import { type FileOps, nodeFileOps, type OpenFile } from '../../src/io/file-ops.js';

export type ErrorCode = 'ENOSPC' | 'EIO' | 'EDQUOT' | 'EROFS' | 'EPERM' | 'EEXIST';

export type Fault =
  /** The index-th write writes about half of what it was given and reports it, without an error. */
  | { on: 'write'; index: number; kind: 'short' }
  /** The index-th write fails and writes nothing. */
  | { on: 'write'; index: number; kind: ErrorCode }
  /** A disk with `limit` bytes free: the write that crosses it writes what fits; later writes fail ENOSPC. */
  | { on: 'bytes'; limit: number }
  /** The index-th sync or datasync fails (the bytes are in the file, their durability is not known). */
  | { on: 'sync'; index: number; kind: ErrorCode }
  | { on: 'rename'; index: number; kind: ErrorCode }
  | { on: 'open'; index: number; kind: ErrorCode }
  /** The index-th truncate of an open file fails (a store cutting back a failed append). */
  | { on: 'truncate'; index: number; kind: ErrorCode }
  /** The index-th close fails (a network file system reporting a lost write); the file is closed. */
  | { on: 'close'; index: number; kind: ErrorCode };

export interface FaultyFs extends FileOps {
  /** Calls so far, by kind, and bytes written. */
  readonly counts: {
    write: number;
    sync: number;
    rename: number;
    open: number;
    truncate: number;
    close: number;
    bytes: number;
  };
  /** Faults that fired. */
  readonly fired: Fault[];
}

/** An error as Node reports it for a failed system call. */
export function systemError(code: ErrorCode, syscall: string, path: string): NodeJS.ErrnoException {
  const text: Record<ErrorCode, string> = {
    ENOSPC: 'no space left on device',
    EIO: 'i/o error',
    EDQUOT: 'disk quota exceeded',
    EROFS: 'read-only file system',
    EPERM: 'operation not permitted',
    EEXIST: 'file already exists',
  };
  return Object.assign(new Error(`${code}: ${text[code]}, ${syscall} '${path}'`), {
    code,
    errno: -(constants.errno[code] ?? 5),
    syscall,
    path,
  });
}

export function faultyFs(faults: readonly Fault[], base: FileOps = nodeFileOps): FaultyFs {
  const counts = { write: 0, sync: 0, rename: 0, open: 0, truncate: 0, close: 0, bytes: 0 };
  const fired: Fault[] = [];
  const at = (on: Fault['on'], index: number) => {
    const fault = faults.find((f) => f.on === on && 'index' in f && f.index === index);
    if (fault !== undefined) fired.push(fault);
    return fault;
  };
  const budget = faults.find((f) => f.on === 'bytes');

  const wrap = (file: OpenFile, path: string): OpenFile => ({
    async write(data, offset, length) {
      const fault = at('write', counts.write++);
      if (fault !== undefined && fault.on === 'write') {
        if (fault.kind !== 'short') throw systemError(fault.kind, 'write', path);
        length = Math.max(1, Math.floor(length / 2));
      }
      if (budget !== undefined) {
        const free = budget.limit - counts.bytes;
        if (free <= 0) {
          if (!fired.includes(budget)) fired.push(budget);
          throw systemError('ENOSPC', 'write', path);
        }
        length = Math.min(length, free);
      }
      const result = await file.write(data, offset, length);
      counts.bytes += result.bytesWritten;
      return result;
    },
    async sync() {
      const fault = at('sync', counts.sync++);
      if (fault !== undefined && fault.on === 'sync') throw systemError(fault.kind, 'fsync', path);
      await file.sync();
    },
    async datasync() {
      const fault = at('sync', counts.sync++);
      if (fault !== undefined && fault.on === 'sync') throw systemError(fault.kind, 'fdatasync', path);
      await file.datasync();
    },
    async truncate(length) {
      const fault = at('truncate', counts.truncate++);
      if (fault !== undefined && fault.on === 'truncate') throw systemError(fault.kind, 'ftruncate', path);
      await file.truncate(length);
    },
    stat: () => file.stat(),
    async close() {
      await file.close();
      const fault = at('close', counts.close++);
      if (fault !== undefined && fault.on === 'close') throw systemError(fault.kind, 'close', path);
    },
  });

  return {
    ...base,
    counts,
    fired,
    async open(path, flags) {
      const fault = at('open', counts.open++);
      if (fault !== undefined && fault.on === 'open') throw systemError(fault.kind, 'open', path);
      return wrap(await base.open(path, flags), path);
    },
    async rename(from, to) {
      const fault = at('rename', counts.rename++);
      if (fault !== undefined && fault.on === 'rename') throw systemError(fault.kind, 'rename', from);
      await base.rename(from, to);
    },
  };
}

/** File operations whose writes to the file named `name` fail with ENOSPC (a full disk); the rest are real. */
export function fullDiskFor(name: string): FileOps {
  return {
    ...nodeFileOps,
    async open(path, flags) {
      const file = await nodeFileOps.open(path, flags);
      if (basename(path) !== name) return file;
      const failing: OpenFile = {
        write: async () => {
          throw systemError('ENOSPC', 'write', path);
        },
        sync: () => file.sync(),
        datasync: () => file.datasync(),
        truncate: (length) => file.truncate(length),
        stat: () => file.stat(),
        close: () => file.close(),
      };
      return failing;
    },
  };
}
