/** The environment as the configuration reads it: `process.env`, or a test's own. */
export type Env = Readonly<Record<string, string | undefined>>;

/** The first of `names` that is set; an empty variable counts as unset (so `X= cmd` switches it off). */
export function firstSet(env: Env, names: readonly string[]): { name: string; value: string } | undefined {
  for (const name of names) {
    const value = env[name];
    if (value !== undefined && value !== '') return { name, value };
  }
  return undefined;
}
