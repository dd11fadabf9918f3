/**
 * Whether two conversation runs had the same simulated users. A paired comparison of two assistants
 * holds the users fixed: when the users differ, the difference between the runs is the users' as much as
 * the assistants'. Compared:
 *
 * - the settings config.json records under `generation.conversation` (eval-conversation.ts): the seed
 *   (`userSeed`: which meaning each user holds, follow-up draws, sampling), the turn limit (`turns`), the
 *   model playing the user (`user`: its kind and model), its token limit and temperature (`userMaxTokens`,
 *   `userTemperature`), the simulator's fingerprint (`simulator`, src/sim/fingerprint.ts), and the
 *   definition of each persona both runs name (`personas`: a persona file can redefine a name);
 * - the intent each user held, from the records of the shared conversations (`intent`): this also tells
 *   runs apart whose config.json is missing.
 *
 * γ (`discount`) is not a user setting: conversation-compare.ts leaves the discounted measures out when
 * it differs. A setting a run does not record (a folder without config.json, a run from before gtalign
 * recorded it) is unknown, neither same nor different.
 */
import { canonicalJson } from '../reward/canonical-json.js';
import type { RunRecord } from './types.js';

export interface UserSettingDifference {
  /** The key under config.json's `generation.conversation` (`personas.NAME` for one persona), or `intent`. */
  setting: string;
  /** A's and B's values (absent for `intent`, which counts conversations). */
  a?: unknown;
  b?: unknown;
  /** The difference in words, e.g. `seed 1 vs 7`. */
  text: string;
}

export interface SimulatedUsersComparison {
  /** true: every setting recorded by both runs and equal; false: some differ; null: none differ, some unknown. */
  same: boolean | null;
  differences: UserSettingDifference[];
  /** Settings a run does not record, and which runs (`a`, `b`). */
  unknown: Array<{ setting: string; missing: Array<'a' | 'b'> }>;
  /** The differences and the unknowns in sentences, for the comparison's notes (none when `same`). */
  notes: string[];
}

/** One side of the comparison: a run's name and its config.json (undefined: the folder has none). */
export interface UsersSide {
  name: string;
  config?: Record<string, unknown> | undefined;
}

/** Settings compared value for value, with how each is said. */
const SETTINGS: ReadonlyArray<{ key: string; label: string; show: (v: unknown) => string }> = [
  { key: 'userSeed', label: 'seed', show: plain },
  { key: 'user', label: 'user model', show: userModel },
  { key: 'turns', label: 'max turns', show: plain },
  { key: 'userMaxTokens', label: 'user max tokens', show: plain },
  { key: 'userTemperature', label: 'user temperature', show: plain },
  { key: 'simulator', label: 'simulator', show: plain },
];

const PERSONA_FIELDS = ['description', 'maxAnswers', 'insists', 'followUp'] as const;

const asObject = (v: unknown): Record<string, unknown> | undefined =>
  typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;

const same = (a: unknown, b: unknown): boolean => canonicalJson(a) === canonicalJson(b);

function plain(v: unknown): string {
  return typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? String(v) : brief(v);
}

function brief(v: unknown): string {
  const text = JSON.stringify(v) ?? 'none';
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/** `openai "Qwen/Qwen2.5-7B-Instruct"`: the backend kind and the model. */
function userModel(v: unknown): string {
  const o = asObject(v);
  if (o === undefined || typeof o.model !== 'string') return brief(v);
  return `${typeof o.kind === 'string' ? `${o.kind} ` : ''}"${o.model}"`;
}

/** What of the user model is compared: its kind and model (whether it is shared with the assistant is not). */
function userModelKey(v: unknown): unknown {
  const o = asObject(v);
  return o === undefined ? v : { kind: o.kind, model: o.model };
}

function conversationOf(config: Record<string, unknown> | undefined): Record<string, unknown> | undefined {
  return asObject(asObject(config?.generation)?.conversation);
}

/** The personas a run's config.json defines, by name (entries without a name are skipped). */
function personasOf(conversation: Record<string, unknown> | undefined): Map<string, Record<string, unknown>> {
  const out = new Map<string, Record<string, unknown>>();
  const list = conversation?.personas;
  if (!Array.isArray(list)) return out;
  for (const p of list) {
    const o = asObject(p);
    if (o !== undefined && typeof o.name === 'string') out.set(o.name, o);
  }
  return out;
}

function personaDifferences(
  a: Map<string, Record<string, unknown>>,
  b: Map<string, Record<string, unknown>>,
): UserSettingDifference[] {
  const out: UserSettingDifference[] = [];
  for (const [name, pa] of a) {
    const pb = b.get(name);
    if (pb === undefined) continue;
    const fields = PERSONA_FIELDS.filter((f) => !same(pa[f] ?? null, pb[f] ?? null));
    if (fields.length === 0) continue;
    // A description is too long to quote: only that it differs.
    const how = fields.map((f) =>
      f === 'description' ? 'description' : `${f} ${plain(pa[f] ?? null)} vs ${plain(pb[f] ?? null)}`,
    );
    out.push({
      setting: `personas.${name}`,
      a: pa,
      b: pb,
      text: `persona '${name}' defined differently (${how.join(', ')})`,
    });
  }
  return out;
}

/** The intent a record's conversation summary says its user held. */
function intentOf(record: RunRecord): unknown {
  return asObject((record as RunRecord & { conversation?: unknown }).conversation)?.intent;
}

/**
 * Compares the simulated users of two conversation runs: their recorded settings, and the intents held
 * in the shared conversations `sharedA[i]`, `sharedB[i]` (the same id in both).
 */
export function compareSimulatedUsers(
  a: UsersSide,
  b: UsersSide,
  sharedA: readonly RunRecord[],
  sharedB: readonly RunRecord[],
): SimulatedUsersComparison {
  const ca = conversationOf(a.config);
  const cb = conversationOf(b.config);
  const differences: UserSettingDifference[] = [];
  const unknown: SimulatedUsersComparison['unknown'] = [];
  for (const { key, label, show } of SETTINGS) {
    const va = ca?.[key];
    const vb = cb?.[key];
    const missing = [
      ...(va === undefined ? ['a' as const] : []),
      ...(vb === undefined ? ['b' as const] : []),
    ];
    if (missing.length > 0) {
      unknown.push({ setting: key, missing });
      continue;
    }
    const [ka, kb] = key === 'user' ? [userModelKey(va), userModelKey(vb)] : [va, vb];
    if (!same(ka, kb))
      differences.push({ setting: key, a: va, b: vb, text: `${label} ${show(va)} vs ${show(vb)}` });
  }
  const pa = personasOf(ca);
  const pb = personasOf(cb);
  if (pa.size === 0 || pb.size === 0) {
    unknown.push({
      setting: 'personas',
      missing: [...(pa.size === 0 ? ['a' as const] : []), ...(pb.size === 0 ? ['b' as const] : [])],
    });
  } else differences.push(...personaDifferences(pa, pb));
  let held = 0;
  let both = 0;
  sharedA.forEach((ra, i) => {
    const ia = intentOf(ra);
    const ib = intentOf(sharedB[i]!);
    if (ia === undefined || ib === undefined) return;
    both++;
    if (!same(ia, ib)) held++;
  });
  if (held > 0) {
    differences.push({
      setting: 'intent',
      text: `the intent held differs in ${held} of ${both} shared conversations`,
    });
  }
  const notes: string[] = [];
  if (differences.length > 0) {
    notes.push(
      `the simulated users differ (${differences.map((d) => d.text).join('; ')}): the differences between A and B are the users' as much as the assistants', so the paired statistics compare assistant and user together, not the assistants alone; rerun one with the other's simulated-user settings to compare the assistants`,
    );
  }
  if (unknown.length > 0) notes.push(unknownNote(a, b, unknown, ca, cb));
  return {
    same: differences.length > 0 ? false : unknown.length > 0 ? null : true,
    differences,
    unknown,
    notes,
  };
}

/** Which settings cannot be compared, run by run. */
function unknownNote(
  a: UsersSide,
  b: UsersSide,
  unknown: SimulatedUsersComparison['unknown'],
  ca: Record<string, unknown> | undefined,
  cb: Record<string, unknown> | undefined,
): string {
  const side = (which: 'a' | 'b', run: UsersSide, conversation: Record<string, unknown> | undefined) => {
    const label = `${which.toUpperCase()} = ${run.name}`;
    if (run.config === undefined) return `${label} has no config.json`;
    if (conversation === undefined) return `${label}'s config.json records no simulated-user settings`;
    const keys = unknown.filter((u) => u.missing.includes(which)).map((u) => u.setting);
    if (keys.length === 0) return undefined;
    return `${label}'s config.json does not record ${keys.join(', ')} (a run from before gtalign recorded ${keys.length === 1 ? 'it' : 'them'})`;
  };
  const parts = [side('a', a, ca), side('b', b, cb)].filter((p) => p !== undefined);
  return `cannot tell whether the simulated users were the same: ${parts.join('; ')}`;
}
