/**
 * Arbitrary request bodies for the fuzz tests of the HTTP routes and the MCP tools: valid values with one
 * change anywhere in them (a value replaced by any JSON, deleted, or an unknown key added), and any JSON.
 */
import fc from 'fast-check';

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Every place in a value, as a path of keys and indexes (the root is the empty path). */
function places(value: Json, at: (string | number)[] = []): (string | number)[][] {
  const here = [at];
  if (Array.isArray(value)) for (const [i, v] of value.entries()) here.push(...places(v, [...at, i]));
  else if (value !== null && typeof value === 'object')
    for (const [k, v] of Object.entries(value)) here.push(...places(v, [...at, k]));
  return here;
}

type Change = { how: 'replace'; value: Json } | { how: 'delete' } | { how: 'add'; key: string; value: Json };

/** `valid` with one change at `path` (a copy). */
function changed(valid: Json, path: (string | number)[], change: Change): Json {
  const copy = structuredClone(valid);
  if (path.length === 0) return change.how === 'replace' ? change.value : copy;
  let parent = copy as Record<string | number, Json>;
  for (const key of path.slice(0, -1)) parent = parent[key] as Record<string | number, Json>;
  const last = path.at(-1)!;
  if (change.how === 'replace') parent[last] = change.value;
  else if (change.how === 'delete') {
    if (Array.isArray(parent)) parent.splice(Number(last), 1);
    else delete parent[last];
  } else {
    const target = parent[last];
    if (target !== null && typeof target === 'object' && !Array.isArray(target))
      target[change.key] = change.value;
  }
  return copy;
}

const anyJson = fc.jsonValue({ maxDepth: 3 }) as fc.Arbitrary<Json>;
const change: fc.Arbitrary<Change> = fc.oneof(
  fc.record({ how: fc.constant('replace' as const), value: anyJson }),
  fc.record({ how: fc.constant('delete' as const) }),
  fc.record({ how: fc.constant('add' as const), key: fc.string({ maxLength: 12 }), value: anyJson }),
);

/** A valid body with one change somewhere, or any JSON at all. */
export function bodies(valid: Json): fc.Arbitrary<Json> {
  const all = places(valid);
  return fc.oneof(
    {
      weight: 3,
      arbitrary: fc.tuple(fc.nat(all.length - 1), change).map(([i, c]) => changed(valid, all[i]!, c)),
    },
    { weight: 1, arbitrary: anyJson },
  );
}
