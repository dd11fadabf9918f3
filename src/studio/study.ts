/**
 * User studies: blind, randomized pairwise ratings of two arms. Two kinds:
 *
 * - runs: two runs over the same rows. The items (both replies and their welfare W) are fixed at creation.
 *   Each rater sees the items in an order, and each pair's sides, drawn from a generator seeded by the
 *   study's seed and the rater id: the same rater always gets the same plan (resume), raters differ.
 * - live: two steering policies over the studio's backend. A rater writes a message, both policies answer
 *   it (src/studio/live-study.ts), and that turn becomes an item of this rater only, its sides drawn from
 *   the study's seed, the rater and the item.
 *
 * A study lives in `<studies dir>/<id>/`: `study.json` (written once, atomically), `ratings.jsonl` and, for
 * a live study, `items.jsonl` (append-only logs whose every line is synced before it is acknowledged, so a
 * crash loses nothing acknowledged; see append-log.ts). One rating per rater and item: a repeated answer
 * (a retry after a lost acknowledgement) is acknowledged as already stored and not written again, so the
 * export holds every rating exactly once.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readdir, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { hashSeed, seededRandom, shuffled } from '../eval/stats.js';
import { SELECTION_RULES, type SelectionRuleName } from '../game/select.js';
import { syncDir, writeFileAtomic } from '../io/checked-write.js';
import { type FileOps, nodeFileOps } from '../io/file-ops.js';
import type { SteeringPolicy } from '../steering/policy.js';
import { AppendLog, AppendLogError, failureReason } from './append-log.js';

export type Arm = 'A' | 'B';

export interface StudyItem {
  id: string;
  data_source: string;
  question: string | null;
  replies: Record<Arm, string>;
  /**
   * Each reply's welfare W = √(U·L) from its run (null when its scoring failed, and in a live study, whose
   * replies to a rater's own messages have no reference answer to score against).
   */
  W: Record<Arm, number | null>;
  /** Each reply's assistant action (DA, CQ, AQ), when known. */
  actions?: Record<Arm, string | null>;
  /** A live study's turn: who wrote it, where in their conversations, and what each policy produced. */
  live?: LiveTurn;
}

export interface LiveTurn {
  rater: string;
  /** The rater's conversation (1, 2, …) and the turn in it (1, 2, …). */
  conversation: number;
  turn: number;
  /** The arm shown on the left (reply 1). */
  left: Arm;
  /**
   * Stage 1 as the model wrote it, shared by both arms (thinking and the payoff matrix); absent when the
   * arms answer from different backends (each output then holds its own).
   */
  stage1?: string;
  /** Each arm's chosen cell and whole four-block output. */
  cells: Record<Arm, string>;
  outputs: Record<Arm, string>;
  at: string;
}

/** An arm of a study of two runs. */
export interface RunArm {
  run: string;
  dir: string;
}

/** An arm of a live study: a steering policy and selection rule on one of the studio's backends. */
export interface PolicyArm {
  /** What the analysis and the export call the arm (the policy's name, and the second backend's). */
  run: string;
  policy: SteeringPolicy;
  rule: SelectionRuleName;
  /** `compare`: the arm answers from the studio's second backend (`--compare-base-url`); else the main one. */
  backend?: 'compare';
}

export interface StudyFile {
  schema: 'gtalign.study/1';
  /** Absent in studies of two runs (and in files written before live studies existed). */
  kind?: 'live';
  id: string;
  name: string;
  createdAt: string;
  seed: number;
  arms: Record<Arm, RunArm | PolicyArm>;
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

const isScore = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= 5;

export function raterPlan(study: StudyFile, rater: string, done: Iterable<string> = []): RaterPlan {
  if (study.kind === 'live') {
    // A live study's items are the rater's own turns, in the order they were written.
    const order = study.items
      .filter((i) => i.live?.rater === rater)
      .map((i) => ({ item: i.id, left: i.live!.left }));
    return { rater, order, done: [...done] };
  }
  const random = seededRandom(hashSeed(`${study.seed}:${rater}`));
  const order = shuffled(
    study.items.map((i) => i.id),
    random,
  ).map((item) => ({ item, left: (random() < 0.5 ? 'A' : 'B') as Arm }));
  return { rater, order, done: [...done] };
}

/** The side a live turn's arm A is shown on, drawn from the study's seed, the rater and the item. */
export function liveLeft(study: StudyFile, rater: string, item: string): Arm {
  return seededRandom(hashSeed(`${study.seed}:${rater}:${item}`))() < 0.5 ? 'A' : 'B';
}

/**
 * A digest of a pair's replies in the order a rater sees them (reply 1, reply 2). The rater's page sends
 * back the one it showed, so an answer given on a page loaded before the sides changed (study.json edited
 * by hand: an item taken out or the seed changed reshuffles every side) is refused instead of being
 * stored with its ratings under the wrong arms. It tells nothing the page does not show.
 */
export function sidesDigest(item: StudyItem, left: Arm): string {
  const right: Arm = left === 'A' ? 'B' : 'A';
  return createHash('sha256')
    .update(`${item.replies[left]}\u0000${item.replies[right]}`)
    .digest('hex')
    .slice(0, 16);
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
  if (b.shown !== undefined) {
    if (typeof b.shown !== 'string')
      throw new StudyError('shown: the digest of the replies as shown (a string)');
    const rated = study.items.find((i) => i.id === item)!;
    if (b.shown !== sidesDigest(rated, planned.left))
      throw new StudyError(
        `item ${JSON.stringify(item)}: its replies are no longer where this page showed them (the study was changed since it loaded): reload the page and rate it again`,
        409,
      );
  }
  const score = (v: unknown, what: string): number => {
    if (!isScore(v)) throw new StudyError(`${what}: a satisfaction rating from 1 to 5`);
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
  ratingLog: AppendLog;
  /** A live study's turns (`items.jsonl`). */
  itemLog?: AppendLog;
  queue: Promise<unknown>;
  /** Changes stored since the study was opened (a rating or a turn each). */
  revision: number;
}

export interface StudyStore {
  readonly dir: string;
  list(): StudyFile[];
  get(id: string): StudyFile;
  ratings(id: string): readonly Rating[];
  /**
   * How many changes (ratings, turns) were stored since the study was opened: what was computed from its
   * items and ratings at one revision holds until the revision changes.
   */
  revision(id: string): number;
  create(
    input: Omit<StudyFile, 'schema' | 'id' | 'createdAt' | 'seed'> & { seed?: number },
  ): Promise<StudyFile>;
  /** Stores one answer durably; `stored: false` when this rater had already rated the item. */
  rate(id: string, answer: Omit<Rating, 'at'>): Promise<{ stored: boolean; rating: Rating }>;
  /**
   * Stores one turn of a live study durably (appended to its `items.jsonl` and synced) and adds it to the
   * study's items. `check` runs first, in the study's queue (after every earlier change is stored), and may
   * refuse by throwing.
   */
  addItem(id: string, item: StudyItem, check?: (study: StudyFile) => void): Promise<StudyItem>;
  close(): Promise<void>;
}

const key = (r: { rater: string; item: string }): string => `${r.rater}\u0000${r.item}`;

const storageError = (err: unknown): StudyError =>
  err instanceof AppendLogError ? new StudyError(err.message, 500) : (err as StudyError);

/** The study file's fields the store and the pages rely on; what is wrong with them, or undefined. */
function studyFileProblem(study: unknown): string | undefined {
  if (typeof study !== 'object' || study === null || Array.isArray(study)) return 'not a JSON object';
  const s = study as Record<string, unknown>;
  if (s.schema !== 'gtalign.study/1') return 'not a gtalign study (schema is not gtalign.study/1)';
  for (const field of ['id', 'name', 'createdAt'] as const)
    if (typeof s[field] !== 'string') return `${field} is not a string`;
  if (!isObject(s.arms)) return 'arms is not an object';
  for (const arm of ['A', 'B'] as const) {
    const a = s.arms[arm];
    if (!isObject(a)) return `arms.${arm} is not an object`;
    if (typeof a.run !== 'string') return `arms.${arm}.run is not a string`;
    // A live study's arms steer each turn: a policy and a selection rule.
    if (s.kind === 'live') {
      if (!isObject(a.policy)) return `arms.${arm}.policy is not an object`;
      if (!(SELECTION_RULES as readonly unknown[]).includes(a.rule))
        return `arms.${arm}.rule is not one of ${SELECTION_RULES.join(', ')}`;
    }
  }
  if (s.kind === 'live') return undefined;
  if (!Array.isArray(s.items)) return 'items is not a list';
  // A study of two runs keeps its items here: every rater's page, the analysis and the exports read them.
  const ids = new Set<unknown>();
  for (const [i, item] of s.items.entries()) {
    const problem = itemFieldsProblem(item);
    if (problem !== undefined) return `items[${i}]: ${problem}`;
    const id = (item as { id: string }).id;
    if (ids.has(id)) return `items[${i}]: the id ${JSON.stringify(id)} is also an earlier item's`;
    ids.add(id);
  }
  return undefined;
}

/** What is wrong with the fields every {@link StudyItem} has (all but `live`), or undefined. */
function itemFieldsProblem(value: unknown): string | undefined {
  if (!isObject(value)) return 'not a JSON object';
  if (typeof value.id !== 'string') return 'id is not a string';
  if (typeof value.data_source !== 'string') return 'data_source is not a string';
  if (value.question !== null && typeof value.question !== 'string')
    return 'question is not a string or null';
  return (
    pairProblem(value.replies, 'replies', isString, 'a string') ??
    pairProblem(value.W, 'W', (x) => x === null || typeof x === 'number', 'a number or null') ??
    (value.actions === undefined
      ? undefined
      : pairProblem(value.actions, 'actions', (x) => x === null || isString(x), 'a string or null'))
  );
}

/**
 * What is wrong with a line of a ratings log read back as a {@link Rating}, or undefined: it must hold what
 * {@link parseAnswer} and `rate` write, since the analysis and the exports read every field.
 */
function ratingProblem(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'not a JSON object';
  const r = value as Record<string, unknown>;
  if (typeof r.rater !== 'string' || !RATER_ID.test(r.rater))
    return 'rater is not a rater id (1–64 letters, digits, "_", "." or "-")';
  if (typeof r.item !== 'string') return 'item is not a string';
  if (r.left !== 'A' && r.left !== 'B') return 'left is not "A" or "B"';
  const s = r.satisfaction;
  if (typeof s !== 'object' || s === null || Array.isArray(s)) return 'satisfaction is not an object';
  for (const arm of ['A', 'B'] as const)
    if (!isScore((s as Record<string, unknown>)[arm]))
      return `satisfaction.${arm} is not a whole number from 1 to 5`;
  if (r.preference !== 'A' && r.preference !== 'B' && r.preference !== 'tie')
    return 'preference is not "A", "B" or "tie"';
  if (typeof r.comment !== 'string' || r.comment.length > MAX_COMMENT)
    return `comment is not a string of at most ${MAX_COMMENT} characters`;
  if (typeof r.at !== 'string') return 'at is not a string';
  return undefined;
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** What is wrong with an `{A, B}` pair of values (`replies`, `W`, …), or undefined. */
function pairProblem(
  v: unknown,
  name: string,
  ok: (x: unknown) => boolean,
  what: string,
): string | undefined {
  if (!isObject(v)) return `${name} is not an object`;
  for (const arm of ['A', 'B'] as const) if (!ok(v[arm])) return `${name}.${arm} is not ${what}`;
  return undefined;
}

const isString = (x: unknown) => typeof x === 'string';
const isTurnNumber = (x: unknown) => Number.isSafeInteger(x) && (x as number) >= 1;

/** What is wrong with a line of a live study's `items.jsonl` (a {@link StudyItem} with `live`), or undefined. */
function liveTurnProblem(value: unknown): string | undefined {
  const problem = itemFieldsProblem(value);
  if (problem !== undefined) return problem;
  const live = (value as Record<string, unknown>).live;
  if (!isObject(live)) return 'live is not an object';
  if (typeof live.rater !== 'string' || !RATER_ID.test(live.rater)) return 'live.rater is not a rater id';
  if (!isTurnNumber(live.conversation)) return 'live.conversation is not a whole number ≥ 1';
  if (!isTurnNumber(live.turn)) return 'live.turn is not a whole number ≥ 1';
  if (live.left !== 'A' && live.left !== 'B') return 'live.left is not "A" or "B"';
  if (live.stage1 !== undefined && typeof live.stage1 !== 'string') return 'live.stage1 is not a string';
  return (
    pairProblem(live.cells, 'live.cells', isString, 'a string') ??
    pairProblem(live.outputs, 'live.outputs', isString, 'a string') ??
    (typeof live.at === 'string' ? undefined : 'live.at is not a string')
  );
}

async function readStudy(fs: FileOps, dir: string): Promise<OpenStudy> {
  const file = join(dir, 'study.json');
  let study: StudyFile;
  try {
    study = JSON.parse((await fs.readFile(file)).toString('utf8')) as StudyFile;
  } catch (err) {
    throw new StudyError(
      `${file}: ${err instanceof SyntaxError ? 'not valid JSON: ' : ''}${(err as Error).message}`,
      500,
    );
  }
  const problem = studyFileProblem(study);
  if (problem !== undefined) throw new StudyError(`${file}: ${problem}`, 500);
  let opened: Awaited<ReturnType<typeof AppendLog.open>>;
  let itemLog: AppendLog | undefined;
  try {
    if (study.kind === 'live') {
      const items = await AppendLog.open(fs, join(dir, 'items.jsonl'));
      itemLog = items.log;
      // A turn's line copied by hand: the rater's page would show it twice and the analysis count it twice.
      const lineOf = new Map<string, number>();
      for (const { number, value } of items.lines) {
        const problem = liveTurnProblem(value);
        if (problem !== undefined)
          throw new StudyError(`${items.log.path}:${number}: not a turn of a live study: ${problem}`, 500);
        const id = (value as StudyItem).id;
        const earlier = lineOf.get(id);
        if (earlier !== undefined)
          throw new StudyError(
            `${items.log.path}:${number}: the id ${JSON.stringify(id)} is also the turn's on line ${earlier}`,
            500,
          );
        lineOf.set(id, number);
      }
      study.items = items.lines.map((l) => l.value as StudyItem);
    }
    opened = await AppendLog.open(fs, join(dir, 'ratings.jsonl'));
  } catch (err) {
    throw storageError(err);
  }
  const ratings: Rating[] = [];
  const keys = new Set<string>();
  for (const { number, value } of opened.lines) {
    const problem = ratingProblem(value);
    if (problem !== undefined)
      throw new StudyError(`${opened.log.path}:${number}: not a rating: ${problem}`, 500);
    const r = value as Rating;
    if (keys.has(key(r))) continue;
    keys.add(key(r));
    ratings.push(r);
  }
  return {
    study,
    ratings,
    keys,
    ratingLog: opened.log,
    ...(itemLog === undefined ? {} : { itemLog }),
    queue: Promise.resolve(),
    revision: 0,
  };
}

/**
 * Opens (creating) the studies folder and reads every study in it. A study that cannot be read (a damaged
 * study.json or ratings log) is left out and `warn` is told which and why: the others, and the runs, stay
 * usable.
 */
export async function openStudyStore(
  dir: string,
  fs: FileOps = nodeFileOps,
  warn: (message: string) => void = (m) => process.stderr.write(`warning: ${m}\n`),
): Promise<StudyStore> {
  const root = resolve(dir);
  await fs.mkdir(root, { recursive: true });
  const open = new Map<string, OpenStudy>();
  /** The folder each open study was read from. */
  const folderOf = new Map<string, string>();
  // In name order, so which of two folders holding one id (a copy) is served does not depend on the disk.
  const entries = (await readdir(root, { withFileTypes: true })).sort((a, b) =>
    a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
  );
  for (const entry of entries) {
    if (!entry.isDirectory() || !STUDY_ID.test(entry.name)) continue;
    try {
      await fs.stat(join(root, entry.name, 'study.json'));
    } catch {
      continue;
    }
    let s: OpenStudy;
    try {
      s = await readStudy(fs, join(root, entry.name));
    } catch (err) {
      if (!(err instanceof StudyError)) throw err;
      warn(`study ${entry.name} left out: ${err.message}`);
      continue;
    }
    // Two folders with one id (a study folder copied as a backup): serving both under one id would send
    // ratings to either. The folder named as the id is the study; the other is left out.
    const id = s.study.id;
    const other = folderOf.get(id);
    if (other !== undefined) {
      const keepNew = entry.name === id && other !== id;
      const [kept, left] = keepNew ? [entry.name, other] : [other, entry.name];
      warn(
        `study ${left} left out: ${join(root, left, 'study.json')} has the id ${JSON.stringify(id)} of the study in ${join(root, kept)} (a copy?); give it an id of its own to serve both`,
      );
      const dropped = keepNew ? open.get(id)! : s;
      await dropped.ratingLog.close();
      await dropped.itemLog?.close();
      if (!keepNew) continue;
    }
    open.set(id, s);
    folderOf.set(id, entry.name);
  }
  const find = (id: string): OpenStudy => {
    const s = open.get(id);
    if (s === undefined) throw new StudyError(`no study ${JSON.stringify(id)}`, 404);
    return s;
  };
  // One change at a time per study, in arrival order.
  const queued = <T>(s: OpenStudy, run: () => Promise<T>): Promise<T> => {
    const next = s.queue.then(run, run);
    s.queue = next.catch(() => undefined);
    return next;
  };
  return {
    dir: root,
    list: () => [...open.values()].map((s) => s.study).sort((a, b) => a.createdAt.localeCompare(b.createdAt)),
    get: (id) => find(id).study,
    ratings: (id) => find(id).ratings,
    revision: (id) => find(id).revision,
    async create(input) {
      if (input.kind !== 'live' && input.items.length === 0)
        throw new StudyError('the two runs share no rows with a reply in both');
      const slug = input.name
        .toLowerCase()
        .replace(/[^a-z0-9]+/g, '-')
        .replace(/^-|-$/g, '')
        .slice(0, 40);
      // The folder is made on its own (not recursively), so an id drawn twice (same name, same 24 random
      // bits) finds the other study's folder there and draws again instead of writing over its study.json.
      let id = '';
      let sdir = '';
      for (let attempt = 1; ; attempt++) {
        id = `${slug === '' ? 'study' : slug}-${randomBytes(3).toString('hex')}`;
        sdir = join(root, id);
        try {
          await fs.mkdir(sdir);
          break;
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'EEXIST' && attempt < 8) continue;
          throw new StudyError(`the study was not created: cannot write ${sdir}: ${failureReason(err)}`, 500);
        }
      }
      const study: StudyFile = {
        schema: 'gtalign.study/1',
        ...(input.kind === undefined ? {} : { kind: input.kind }),
        id,
        name: input.name,
        createdAt: new Date().toISOString(),
        seed: input.seed ?? randomBytes(4).readUInt32LE(0),
        arms: input.arms,
        // A live study's turns live in items.jsonl, appended as raters write them.
        items: input.kind === 'live' ? [] : input.items,
      };
      const file = join(sdir, 'study.json');
      let s: OpenStudy;
      try {
        await writeFileAtomic(file, `${JSON.stringify(study, null, 1)}\n`, fs);
        await syncDir(fs, sdir);
        await syncDir(fs, root);
        s = await readStudy(fs, sdir);
      } catch (err) {
        // A study its owner was told failed must not appear at the next start, nor leave an empty folder
        // (the folder is this call's own: it made it above).
        await rm(sdir, { recursive: true, force: true }).catch(() => undefined);
        if (err instanceof StudyError) throw err;
        throw new StudyError(`the study was not created: cannot write ${file}: ${failureReason(err)}`, 500);
      }
      open.set(id, s);
      return s.study;
    },
    rate(id, answer) {
      const s = find(id);
      return queued(s, async () => {
        const existing = s.ratings.find((r) => r.rater === answer.rater && r.item === answer.item);
        if (existing !== undefined) return { stored: false, rating: existing };
        const rating: Rating = { ...answer, at: new Date().toISOString() };
        try {
          await s.ratingLog.append(rating);
        } catch (err) {
          throw storageError(err);
        }
        s.ratings.push(rating);
        s.keys.add(key(rating));
        s.revision++;
        return { stored: true, rating };
      });
    },
    addItem(id, item, check) {
      const s = find(id);
      return queued(s, async () => {
        if (s.itemLog === undefined) throw new StudyError(`${id} is not a live study`, 409);
        check?.(s.study);
        try {
          await s.itemLog.append(item);
        } catch (err) {
          throw storageError(err);
        }
        s.study.items.push(item);
        s.revision++;
        return item;
      });
    },
    async close() {
      for (const s of open.values()) {
        await s.queue;
        await s.ratingLog.close();
        await s.itemLog?.close();
      }
    },
  };
}

const CSV_COLUMNS = [
  'study',
  'rater',
  'item',
  'data_source',
  'conversation',
  'turn',
  'left',
  'satisfaction_A',
  'satisfaction_B',
  'preference',
  'W_A',
  'W_B',
  'action_A',
  'action_B',
  'question',
  'reply_A',
  'reply_B',
  'comment',
  'at',
] as const;

/** Text a spreadsheet would run as a formula: `=`, `+`, `-`, `@`, a tab or a carriage return first. */
const FORMULA_START = /^[=+\-@\t\r]/;

function csvCell(value: unknown): string {
  let text = value === null || value === undefined ? '' : String(value);
  // The CSV is for spreadsheets, which run a cell such as `=HYPERLINK(…)` from a rater's comment or a
  // model's reply: such text gets a leading apostrophe (shown as text, not run). Numbers (a negative W)
  // are left as they are; the JSONL export keeps every text exactly.
  if (typeof value === 'string' && FORMULA_START.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** Rows of the export, one per rating, with the item joined in: the question, both replies, their W and action. */
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
      conversation: item?.live?.conversation ?? null,
      turn: item?.live?.turn ?? null,
      left: r.left,
      satisfaction_A: r.satisfaction.A,
      satisfaction_B: r.satisfaction.B,
      preference: r.preference,
      W_A: item?.W.A ?? null,
      W_B: item?.W.B ?? null,
      action_A: item?.actions?.A ?? null,
      action_B: item?.actions?.B ?? null,
      question: item?.question ?? null,
      reply_A: item?.replies.A ?? null,
      reply_B: item?.replies.B ?? null,
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
