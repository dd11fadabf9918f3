/**
 * The file operations of writers that promise durability (the run store, atomic files), as a parameter:
 * the default is node:fs/promises, and tests pass a layer that injects short writes and errors (a full
 * disk, an I/O error) at chosen points.
 */
import { link, mkdir, open, readFile, rename, stat, truncate, unlink } from 'node:fs/promises';

/** An open file. `write` may write fewer bytes than asked (see `writeAll` in checked-write.ts). */
export interface OpenFile {
  write(data: Uint8Array, offset: number, length: number): Promise<{ bytesWritten: number }>;
  sync(): Promise<void>;
  datasync(): Promise<void>;
  truncate(length: number): Promise<void>;
  stat(): Promise<{ size: number }>;
  close(): Promise<void>;
}

export interface FileOps {
  /** One folder (EEXIST when it is there), or with `recursive` every missing folder of the path. */
  mkdir(path: string, options?: { recursive: true }): Promise<unknown>;
  /** `flags` as node:fs takes them ('a', 'w', 'wx', or O_… constants). */
  open(path: string, flags: string | number): Promise<OpenFile>;
  readFile(path: string): Promise<Buffer>;
  rename(from: string, to: string): Promise<void>;
  unlink(path: string): Promise<void>;
  link(existing: string, newPath: string): Promise<void>;
  stat(path: string): Promise<{ size: number }>;
  truncate(path: string, length: number): Promise<void>;
}

export const nodeFileOps: FileOps = {
  mkdir: (path, options) => mkdir(path, options),
  open: (path, flags) => open(path, flags),
  readFile: (path) => readFile(path),
  rename: (from, to) => rename(from, to),
  unlink: (path) => unlink(path),
  link: (existing, newPath) => link(existing, newPath),
  stat: (path) => stat(path),
  truncate: (path, length) => truncate(path, length),
};
