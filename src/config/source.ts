/** Where a setting's value came from; later sources win: default < file < environment < flag. */
export type Source =
  | { kind: 'default' }
  | { kind: 'file'; path: string }
  | { kind: 'env'; name: string }
  | { kind: 'flag' };

const RANK: Record<Source['kind'], number> = { default: 0, file: 1, env: 2, flag: 3 };

export function rank(source: Source): number {
  return RANK[source.kind];
}

/** `default`, `file PATH`, `env NAME` or `flag`. */
export function describeSource(source: Source): string {
  switch (source.kind) {
    case 'file':
      return `file ${source.path}`;
    case 'env':
      return `env ${source.name}`;
    default:
      return source.kind;
  }
}

/**
 * A setting as a message names it, by where its value came from: `--turns`, `$GTALIGN_BACKEND`,
 * `sim.turns in FILE`, or `--turns (default)`.
 */
export function settingAsGiven(flag: string, key: string, source: Source): string {
  switch (source.kind) {
    case 'flag':
      return `--${flag}`;
    case 'env':
      return `$${source.name}`;
    case 'file':
      return `${key} in ${source.path}`;
    default:
      return `--${flag} (default)`;
  }
}
