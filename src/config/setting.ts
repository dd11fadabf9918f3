/**
 * A setting: one value a command takes, declared once with everything the loader, the help and
 * `gtalign config show` need. Settings come in groups (Backend, Judge, …); a command lists the groups
 * it takes, and its values are typed from that list.
 */
import type { Env } from './env.js';
import type { ValueType } from './value-types.js';

export interface Setting<N extends string = string, V = unknown> {
  /** The flag without its dashes (`max-tokens`); the command's values are keyed by it. */
  readonly name: N;
  /** Where the config file holds it: `generation.maxTokens`. */
  readonly key: string;
  readonly type: ValueType<NonNullable<V>>;
  /** Environment variables, the first one set wins. */
  readonly env?: readonly string[];
  /**
   * When the variables apply, judged from the command's other values (by key); otherwise they are left
   * aside and the file or the default decides ($GTALIGN_MODEL names a local file, never a server's model).
   */
  readonly envWhen?: (valueAt: (key: string) => unknown) => boolean;
  /** A value, or computed from the environment (a cache folder). None: the setting may be unset. */
  readonly default?: V | ((env: Env) => V);
  /** The help's words for a default that is not a plain value (`CPU count`). */
  readonly defaultText?: string;
  /** The help line; further lines after `\n`. */
  readonly help: string;
  /** The value's placeholder in the help: `N`, `FILE`. */
  readonly arg?: string;
  /** False: no flag; the value comes from the environment only (API keys: never on a command line). */
  readonly flag?: false;
  /** Masked wherever it is shown, and refused in the config file. */
  readonly secret?: true;
  /** Types the value; never set at run time. */
  readonly _value?: V;
}

export type AnySetting = Setting<string, unknown>;

type Spec<N extends string, T> = Omit<Setting<N, T>, 'type' | 'default' | '_value'> & {
  readonly type: ValueType<T>;
};

/** Declares a setting; with a default its value is always there, without one it may be undefined. */
export function setting<const N extends string, T>(
  spec: Spec<N, T> & { readonly default: NoInfer<T> | ((env: Env) => NoInfer<T>) },
): Setting<N, T>;
export function setting<const N extends string, T>(spec: Spec<N, T>): Setting<N, T | undefined>;
export function setting(spec: Spec<string, unknown>): AnySetting {
  return spec as AnySetting;
}

/** The same setting with another default for one command (`eval sweep` starts from the `api` policy). */
export function withDefault<N extends string, T>(
  s: Setting<N, T | undefined> | Setting<N, T>,
  value: T,
  help?: string,
): Setting<N, NonNullable<T>> {
  return { ...s, default: value, ...(help === undefined ? {} : { help }) } as Setting<N, NonNullable<T>>;
}

/** The same setting under another flag and help for one command (same key, same variables). */
export function asFlag<N extends string, V>(s: Setting<string, V>, name: N, help?: string): Setting<N, V> {
  return { ...s, name, ...(help === undefined ? {} : { help }) } as Setting<N, V>;
}

/** The same setting with the help words of one command. */
export function describedAs<N extends string, V>(s: Setting<N, V>, help: string): Setting<N, V> {
  return { ...s, help };
}

export interface Group<S extends readonly AnySetting[] = readonly AnySetting[]> {
  /** The help's section title. */
  readonly title: string;
  readonly settings: S;
}

export function group<const S extends readonly AnySetting[]>(title: string, settings: S): Group<S> {
  return { title, settings };
}

type ValueOf<S> = S extends Setting<string, infer V> ? V : never;

/** The values of a command that takes `groups`, keyed by flag name. */
export type ValuesOf<G extends readonly Group[]> = {
  [S in G[number]['settings'][number] as S['name']]: ValueOf<S>;
};

/** A setting's default as a value. */
export function defaultOf(s: AnySetting, env: Env): unknown {
  return typeof s.default === 'function' ? (s.default as (env: Env) => unknown)(env) : s.default;
}
