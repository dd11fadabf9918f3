/**
 * User studies: blind, randomized pairwise ratings of two arms (two runs over the same rows).
 *
 * A study lives in `<studies dir>/<id>/`: `study.json` (the items with both replies and their welfare W,
 * written once, atomically) and `ratings.jsonl` (append-only: one rating per line, each written whole and
 * synced to disk with fdatasync before it is acknowledged, so a crash loses nothing acknowledged). A torn
 * last line (a write cut by a crash, never acknowledged) is cut off when the study is opened. One rating
 * per rater and item: a repeated answer (a retry after a lost acknowledgement) is acknowledged as already
 * stored and not written again, so the export holds every rating exactly once.
 *
 * Each rater sees the items in an order, and each pair's sides, drawn from a generator seeded by the
 * study's seed and the rater id: the same rater always gets the same plan (resume), raters differ.
 */
import { randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { hashSeed, seededRandom, shuffled } from '../eval/stats.js';
import { syncDir, writeAll, writeFileAtomic } from '../io/checked-write.js';
import { type FileOps, nodeFileOps, type OpenFile } from '../io/file-ops.js';

export type Arm = 'A' | 'B';

export interface StudyItem {
  id: string;
  data_source: string;
  question: string | null;
  replies: Record<Arm, string>;
  /** Each reply's welfare W = √(U·L) from its run (null when its scoring failed). */
  W: Record<Arm, number | null>;
}

export interface StudyFile {
  schema: 'gtalign.study/1';
  id: string;
  name: string;
  createdAt: string;
  seed: number;
  arms: Record<Arm, { run: string; dir: string }>;
  items: StudyItem[];
}

export interface Rating {
  rater: string;
  item: string;
  /** Which arm was shown on the left (reply 1). */
  left: Arm;
  satisfaction: Record<Arm, number>;
  preference: Arm | 'tie';
  comment: string;
  at: string;
}

export interface RaterPlan {
  rater: string;
  /** Items in this rater's order, each with the arm shown on the left. */
  order: { item: string; left: Arm }[];
  done: string[];
}

export class StudyError extends Error {
  constructor(
    message: string,
    readonly status: 400 | 404 | 409 | 500 = 400,
  ) {
    super(message);
    this.name = 'StudyError';
  }
}

export const RATER_ID = /^[A-Za-z0-9_.-]{1,64}$/;
const STUDY_ID = /^[a-z0-9-]{1,80}$/;
const MAX_COMMENT = 2000;

export function raterPlan(study: StudyFile, rater: string, done: Iterable<string> = []): RaterPlan {
  const random = seededRandom(hashSeed(`${study.seed}:${rater}`));
  const order = shuffled(
    study.items.map((i) => i.id),
    random,
  ).map((item) => ({ item, left: (random() < 0.5 ? 'A' : 'B') as Arm }));
  return { rater, order, done: [...done] };
}

/** Checks one answer from a rater (untrusted JSON) against the study and the rater's plan. */
export function parseAnswer(study: StudyFile, rater: string, body: unknown): Omit<Rating, 'at'> {
  if (!RATER_ID.test(rater)) throw new StudyError('rater ids are 1–64 letters, digits, "_", "." or "-"');
  if (typeof body !== 'object' || body === null) throw new StudyError('send a JSON object');
  const b = body as Record<string, unknown>;
  const item = b.item;
  if (typeof item !== 'string') throw new StudyError('item: required (the item id)');
  const planned = raterPlan(study, rater).order.find((o) => o.item === item);
  if (planned === undefined) throw new StudyError(`item ${JSON.stringify(item)} is not in this study`, 404);
  const score = (v: unknown, what: string): number => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 5)
      throw new StudyError(`${what}: a satisfaction rating from 1 to 5`);
    return v;
  };
  // The page shows replies 1 (left) and 2 (right); the store keeps arms.
  const right: Arm = planned.left === 'A' ? 'B' : 'A';
  const s1 = score(b.satisfaction1, 'satisfaction1');
  const s2 = score(b.satisfaction2, 'satisfaction2');
  const pref = b.preference;
  if (pref !== 1 && pref !== 2 && pref !== 'tie') throw new StudyError('preference: 1, 2 or "tie"');
  const comment = b.comment === undefined ? '' : b.comment;
  if (typeof comment !== 'string' || comment.length > MAX_COMMENT)
    throw new StudyError(`comment: a string of at most ${MAX_COMMENT} characters`);
  return {
    rater,
    item,
    left: planned.left,
    satisfaction: { [planned.left]: s1, [right]: s2 } as Record<Arm, number>,
    preference: pref === 'tie' ? 'tie' : pref === 1 ? planned.left : right,
    comment,
  };
}

interface OpenStudy {
  study: StudyFile;
  ratings: Rating[];
  keys: Set<string>;
  file?: OpenFile;
  size: number;
  queue: Promise<unknown>;
  failed?: Error;
}

export interface StudyStore {
  readonly dir: string;
  list(): StudyFile[];
  get(id: string): StudyFile;
  ratings(id: string): readonly Rating[];
  create(
    input: Omit<StudyFile, 'schema' | 'id' | 'createdAt' | 'seed'> & { seed?: number },
  ): Promise<StudyFile>;
  /** Stores one answer durably; `stored: false` when this rater had already rated the item. */
  rate(id: string, answer: Omit<Rating, 'at'>): Promise<{ stored: boolean; rating: Rating }>;
  close(): Promise<void>;
}

const key = (r: { rater: string; item: string }): string => `${r.rater}\u0000${r.item}`;

async function readStudy(fs: FileOps, dir: string): Promise<OpenStudy> {
  const study = JSON.parse((await fs.readFile(join(dir, 'study.json'))).toString('utf8')) as StudyFile;
  if (study.schema !== 'gtalign.study/1') throw new StudyError(`${dir}/study.json: not a gtalign study`, 500);
  const path = join(dir, 'ratings.jsonl');
  let buffer: Buffer;
  try {
    buffer = await fs.readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    buffer = Buffer.alloc(0);
  }
  // Everything after the last newline is an append a crash cut short: never acknowledged.
  const end = buffer.lastIndexOf(0x0a) + 1;
  if (end < buffer.length) await fs.truncate(path, end);
  const ratings: Rating[] = [];
  const keys = new Set<string>();
  const lines = buffer.subarray(0, end).toString('utf8').split('\n');
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    let r: Rating;
    try {
      r = JSON.parse(line) as Rating;
    } catch (err) {
      throw new StudyError(`${path}:${i + 1}: not valid JSON (${(err as Error).message})`, 500);
    }
    if (keys.has(key(r))) return;
    keys.add(key(r));
    ratings.push(r);
  });
  return { study, ratings, keys, size: end, queue: Promise.resolve() };
}

/** Opens (creating) the studies folder and reads every study in it. */
export async function openStudyStore(dir: string, fs: FileOps = nodeFileOps): Promise<StudyStore> {
  const root = resolve(dir);
  await fs.mkdir(root, { recursive: true });
  const open = new Map<string, OpenStudy>();
  for (const entry of await readdir(root, { withFileTypes: true })) {
    if (!entry.isDirectory() || !STUDY_ID.test(entry.name)) continue;
    try {
      await fs.stat(join(root, entry.name, 'study.json'));
    } catch {
      continue;
    }
    const s = await readStudy(fs, join(root, entry.name));
    open.set(s.study.id, s);
  }
  const find = (id: string): OpenStudy => {
    const s = open.get(id);
    if (s === undefined) throw new StudyError(`no study ${JSON.stringify(id)}`, 404);
    return s;
  };
  return {
    dir: root,
    list: () => [...open.values()].map((s) => s.study).sort((a, b) => a.createdAt.localeCompare(b.createdAt)),
    get: (id) => find(id).study,
    ratings: (id) => find(id).ratings,
    async create(input) {
      if (input.items.length === 0) throw new StudyError('the two runs share no rows with a reply in both');
      const slug = input.name
        .toLowerCase()
        .replace(/[^a-z0-9]+/g, '-')
        .replace(/^-|-$/g, '')
        .slice(0, 40);
      const id = `${slug === '' ? 'study' : slug}-${randomBytes(3).toString('hex')}`;
      const study: StudyFile = {
        schema: 'gtalign.study/1',
        id,
        name: input.name,
        createdAt: new Date().toISOString(),
        seed: input.seed ?? randomBytes(4).readUInt32LE(0),
        arms: input.arms,
        items: input.items,
      };
      const sdir = join(root, id);
      await fs.mkdir(sdir, { recursive: true });
      await writeFileAtomic(join(sdir, 'study.json'), `${JSON.stringify(study, null, 1)}\n`, fs);
      await syncDir(fs, sdir);
      await syncDir(fs, root);
      open.set(id, { study, ratings: [], keys: new Set(), size: 0, queue: Promise.resolve() });
      return study;
    },
    rate(id, answer) {
      const s = find(id);
      // One append at a time per study, in arrival order.
      const run = async (): Promise<{ stored: boolean; rating: Rating }> => {
        const existing = s.ratings.find((r) => r.rater === answer.rater && r.item === answer.item);
        if (existing !== undefined) return { stored: false, rating: existing };
        if (s.failed !== undefined)
          throw new StudyError(
            `ratings of ${id} cannot be stored: an earlier write failed (${s.failed.message})`,
            500,
          );
        const rating: Rating = { ...answer, at: new Date().toISOString() };
        const path = join(root, id, 'ratings.jsonl');
        const bytes = Buffer.from(`${JSON.stringify(rating)}\n`, 'utf8');
        try {
          s.file ??= await fs.open(path, 'a');
          await writeAll(s.file, bytes);
          await s.file.datasync();
        } catch (err) {
          s.failed = err as Error;
          // Leave the file as it was before this append, so no unacknowledged rating remains.
          await s.file?.truncate(s.size).catch(() => undefined);
          throw new StudyError(`cannot store the rating in ${path}: ${(err as Error).message}`, 500);
        }
        s.size += bytes.length;
        s.ratings.push(rating);
        s.keys.add(key(rating));
        return { stored: true, rating };
      };
      const next = s.queue.then(run, run);
      s.queue = next.catch(() => undefined);
      return next;
    },
    async close() {
      for (const s of open.values()) {
        await s.queue;
        await s.file?.close().catch(() => undefined);
        s.file = undefined;
      }
    },
  };
}

const CSV_COLUMNS = [
  'study',
  'rater',
  'item',
  'data_source',
  'left',
  'satisfaction_A',
  'satisfaction_B',
  'preference',
  'W_A',
  'W_B',
  'comment',
  'at',
] as const;

function csvCell(value: unknown): string {
  const text = value === null || value === undefined ? '' : String(value);
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** Rows of the export, one per rating, with each reply's W joined in. */
export function exportRows(
  study: StudyFile,
  ratings: readonly Rating[],
): Record<(typeof CSV_COLUMNS)[number], unknown>[] {
  const items = new Map(study.items.map((i) => [i.id, i]));
  return ratings.map((r) => {
    const item = items.get(r.item);
    return {
      study: study.id,
      rater: r.rater,
      item: r.item,
      data_source: item?.data_source ?? '',
      left: r.left,
      satisfaction_A: r.satisfaction.A,
      satisfaction_B: r.satisfaction.B,
      preference: r.preference,
      W_A: item?.W.A ?? null,
      W_B: item?.W.B ?? null,
      comment: r.comment,
      at: r.at,
    };
  });
}

export function exportCsv(study: StudyFile, ratings: readonly Rating[]): string {
  const lines = [CSV_COLUMNS.join(',')];
  for (const row of exportRows(study, ratings)) lines.push(CSV_COLUMNS.map((c) => csvCell(row[c])).join(','));
  return `${lines.join('\r\n')}\r\n`;
}

export function exportJsonl(study: StudyFile, ratings: readonly Rating[]): string {
  return exportRows(study, ratings)
    .map((r) => `${JSON.stringify(r)}\n`)
    .join('');
}
