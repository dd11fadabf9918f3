/**
 * The kinds of setting values and their one set of parsing rules. A flag and an environment variable
 * give text; the config file gives JSON, where a string goes through the same text rules (so `"512"`
 * and `512` are the same) and numbers and booleans are checked directly.
 */

export type Parsed<T> =
  | { ok: true; value: T }
  | {
      ok: false;
      /** What is wrong, e.g. `must be a positive integer`. */
      problem: string;
      /** The problems inside an object, by field path: reported one by one, with no `, got …`. */
      issues?: ReadonlyArray<{ path: string; message: string }>;
      /** Reported as `unknown --flag 'value' (one of …)`, the wording of name lists. */
      unknownOf?: readonly string[];
    };

export interface ValueType<T> {
  /** What `util.parseArgs` reads: a value, or a bare switch. */
  readonly flagKind: 'string' | 'boolean';
  /** The flag may repeat; the value is the list of all of them. */
  readonly multiple?: true;
  /** Paths in the config file are taken relative to the file's folder. */
  readonly path?: true;
  /**
   * With `path`: the names that are not paths (presets). In the config file such a name, or a bare word
   * (no `/`, `\\` or `.`) that names no file in the file's folder, stays as written.
   */
  readonly names?: readonly string[];
  /** A flag or variable names a JSON file whose content is the value (the file may hold it inline). */
  readonly jsonFile?: true;
  fromText(text: string): Parsed<T>;
  fromJson(value: unknown): Parsed<T>;
  show(value: T): string;
  /**
   * Loads what checking a value needs, when that is heavy (a schema library that light commands should
   * not pay for at start-up); the loader awaits it before it checks a value of this type.
   */
  prepare?(): Promise<void>;
}

const ok = <T>(value: T): Parsed<T> => ({ ok: true, value });
const bad = <T>(problem: string): Parsed<T> => ({ ok: false, problem });

/** JSON strings go through the text rules; anything else through `check`. */
function scalar<T>(
  fromText: (text: string) => Parsed<T>,
  check: (value: unknown) => Parsed<T>,
  show: (value: T) => string = String,
): ValueType<T> {
  return {
    flagKind: 'string',
    fromText,
    fromJson: (value) => (typeof value === 'string' ? fromText(value) : check(value)),
    show,
  };
}

export function text(): ValueType<string> {
  return scalar(ok, () => bad('must be a string'));
}

/** A model's name or file: never empty (an empty name would be sent to a server, or opened as a file). */
export function modelName(): ValueType<string> {
  const check = (t: string): Parsed<string> => (t.trim() === '' ? bad('must not be empty') : ok(t));
  return scalar(check, () => bad('must be a string'));
}

export function path(): ValueType<string> {
  return { ...text(), path: true };
}

/** A name among `names` (a preset) or the path of a file. */
export function nameOrPath(names: readonly string[]): ValueType<string> {
  return { ...text(), path: true, names };
}

/**
 * A repeatable flag; in the file, a list of strings (or one string). With `commas`, each value may also
 * list several, comma-separated (`--data-source a,b --data-source c`).
 */
export function texts(options: { path?: true; commas?: true } = {}): ValueType<string[]> {
  const split = (t: string): string[] =>
    options.commas
      ? t
          .split(',')
          .map((x) => x.trim())
          .filter((x) => x !== '')
      : [t];
  return {
    flagKind: 'string',
    multiple: true,
    ...(options.path ? { path: true as const } : {}),
    fromText: (t) => ok(split(t)),
    fromJson(value) {
      if (typeof value === 'string') return ok(split(value));
      if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return ok(value.flatMap(split));
      return bad('must be a list of strings');
    },
    show: (v) => v.join(options.commas ? ',' : ' '),
  };
}

const TRUE = ['true', '1', 'yes', 'on'];
const FALSE = ['false', '0', 'no', 'off'];

/** A switch: present or not on the command line; true/false (1/0, yes/no, on/off) elsewhere. */
export function boolean(): ValueType<boolean> {
  const fromText = (t: string): Parsed<boolean> => {
    const v = t.trim().toLowerCase();
    if (TRUE.includes(v)) return ok(true);
    if (FALSE.includes(v)) return ok(false);
    return bad('must be true or false');
  };
  return {
    flagKind: 'boolean',
    fromText,
    fromJson: (value) =>
      typeof value === 'boolean'
        ? ok(value)
        : typeof value === 'string'
          ? fromText(value)
          : bad('must be true or false'),
    show: String,
  };
}

/** A decimal number as a user writes one (`3`, `-0.5`, `1e-6`); NaN for anything else. */
const DECIMAL = /^\s*[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?\s*$/;
// Number() also reads `0x10` as 16, `0b1` and `0o7`: a flag's value is read as the decimal it looks like.
const decimal = (t: string): number => (DECIMAL.test(t) ? Number(t) : Number.NaN);

/** An integer in [min, max]; the message says the range the way a reader expects it. */
export function integer(options: { min: number; max?: number }): ValueType<number> {
  const { min, max } = options;
  const problem =
    max !== undefined
      ? `must be an integer from ${min} to ${max}`
      : min === 1
        ? 'must be a positive integer'
        : `must be an integer ≥ ${min}`;
  const check = (n: number): Parsed<number> =>
    Number.isSafeInteger(n) && n >= min && (max === undefined || n <= max) ? ok(n) : bad(problem);
  return scalar(
    (t) => check(decimal(t)),
    (v) => (typeof v === 'number' ? check(v) : bad(problem)),
  );
}

export function positiveInt(options: { max?: number } = {}): ValueType<number> {
  return integer({ min: 1, ...options });
}

/** A finite number ≥ min (or > min with `above`), at most `max`. */
export function number(options: { min: number; max?: number; above?: true }): ValueType<number> {
  const { min, max, above } = options;
  const problem =
    max !== undefined
      ? `must be a number from ${min} to ${max}`
      : `must be a number ${above ? '>' : '≥'} ${min}`;
  const check = (n: number): Parsed<number> =>
    Number.isFinite(n) && (above ? n > min : n >= min) && (max === undefined || n <= max)
      ? ok(n)
      : bad(problem);
  return scalar(
    (t) => check(decimal(t)),
    (v) => (typeof v === 'number' ? check(v) : bad(problem)),
  );
}

/**
 * One of `values`. `unknownWording` reports a bad value as `unknown --rule 'x' (one of …)`, as the
 * commands taking a name from a long list always have.
 */
export function oneOf<const T extends string>(
  values: readonly T[],
  options: { unknownWording?: true } = {},
): ValueType<T> {
  const fromText = (t: string): Parsed<T> =>
    (values as readonly string[]).includes(t)
      ? ok(t as T)
      : {
          ok: false,
          problem: `must be one of ${values.join(', ')}`,
          ...(options.unknownWording ? { unknownOf: values } : {}),
        };
  return scalar(fromText, () => bad(`must be one of ${values.join(', ')}`));
}

/** An http(s) URL. */
export function httpUrl(): ValueType<string> {
  const fromText = (t: string): Parsed<string> => {
    let url: URL | undefined;
    try {
      url = new URL(t);
    } catch {
      url = undefined;
    }
    return url !== undefined && (url.protocol === 'http:' || url.protocol === 'https:')
      ? ok(t)
      : bad('must be an http(s) URL');
  };
  return scalar(fromText, () => bad('must be an http(s) URL'));
}

/** A SHA-256 digest as 64 hexadecimal digits (either case; kept in lower case). */
export function sha256Hex(): ValueType<string> {
  const fromText = (t: string): Parsed<string> =>
    /^[0-9a-fA-F]{64}$/.test(t.trim())
      ? ok(t.trim().toLowerCase())
      : bad('must be a SHA-256 digest: 64 hexadecimal digits');
  return scalar(fromText, () => bad('must be a SHA-256 digest: 64 hexadecimal digits'));
}

/**
 * A JSON object checked by `validate`. On the command line (and in the file, as a string) it is the path
 * of a JSON file holding the object; in the file it may also be the object itself.
 */
/** Checks a JSON object setting's content: every problem with its field path. */
export type ObjectValidator = (
  value: unknown,
) => { ok: true } | { ok: false; errors: Array<{ path: string; message: string }> };

export function jsonObject<T extends object>(validate: ObjectValidator): ValueType<T> {
  const fromJson = (value: unknown): Parsed<T> => {
    if (typeof value !== 'object' || value === null || Array.isArray(value))
      return bad('must be a JSON object');
    const r = validate(value);
    if (r.ok) return ok(value as T);
    return { ok: false, problem: 'is not a valid configuration', issues: r.errors };
  };
  return {
    flagKind: 'string',
    jsonFile: true,
    path: true,
    // The loader reads the file; text reaching here is not a path that was read.
    fromText: () => bad('must name a JSON file'),
    fromJson,
    show: (v) => JSON.stringify(v),
  };
}

/** {@link jsonObject} whose validator is imported by {@link ValueType.prepare}, on first need. */
export function lazyJsonObject<T extends object>(load: () => Promise<ObjectValidator>): ValueType<T> {
  let validate: ObjectValidator | undefined;
  const type = jsonObject<T>((value) => {
    if (validate === undefined)
      throw new Error('internal: a setting value was checked before its type was prepared');
    return validate(value);
  });
  return {
    ...type,
    async prepare() {
      validate ??= await load();
    },
  };
}
