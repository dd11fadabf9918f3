/**
 * The effective configuration as `gtalign config show` prints it: each setting's value and where it
 * came from. Secrets are masked.
 */
import type { AnySetting, Group } from './setting.js';
import type { Source } from './source.js';

export interface ShownSetting {
  key: string;
  /** `--max-tokens`, or undefined for a setting read from the environment only. */
  flag: string | undefined;
  env: string[];
  /** The value (masked when secret); null when unset. */
  value: unknown;
  /** The value as text, as the help prints it (masked when secret); '' when unset. */
  text: string;
  source: Source;
}

/** A secret's last four characters, when it is long enough for them to give nothing away. */
export function mask(secret: string): string {
  return secret.length >= 16 ? `****${secret.slice(-4)}` : '****';
}

export function showSettings(
  groups: readonly Group[],
  lookup: (s: AnySetting) => { value: unknown; source: Source },
): Array<{ title: string; settings: ShownSetting[] }> {
  return groups.map((g) => ({
    title: g.title,
    settings: g.settings.map((s) => {
      const { value, source } = lookup(s);
      const masked = value === undefined ? null : s.secret ? mask(String(value)) : value;
      const text = masked === null ? '' : s.secret ? String(masked) : s.type.show(masked as never);
      return {
        key: s.key,
        flag: s.flag === false ? undefined : `--${s.name}`,
        env: [...(s.env ?? [])],
        value: masked,
        text,
        source,
      };
    }),
  }));
}
