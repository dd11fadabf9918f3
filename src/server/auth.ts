/**
 * Bearer API keys. Keys are compared as SHA-256 digests with `timingSafeEqual`, every configured key is
 * checked (no early exit), so the time a check takes says nothing about how much of a key was right.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

export interface KeyChecker {
  /** True when keys are configured (requests must then carry one). */
  readonly enabled: boolean;
  /** Checks an `Authorization` header value. */
  check(authorization: string | undefined): boolean;
}

const digest = (text: string): Buffer => createHash('sha256').update(text, 'utf8').digest();

/** The key of an `Authorization: Bearer KEY` header value, or undefined. */
export function bearerToken(authorization: string | undefined): string | undefined {
  if (authorization === undefined) return undefined;
  return /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization)?.[1];
}

/** A checker for these keys; with no keys every request passes. Empty keys are ignored. */
export function createKeyChecker(keys: readonly string[] = []): KeyChecker {
  const digests = keys.filter((k) => k !== '').map(digest);
  if (digests.length === 0) return { enabled: false, check: () => true };
  return {
    enabled: true,
    check(authorization) {
      const key = bearerToken(authorization);
      if (key === undefined) return false;
      const given = digest(key);
      let ok = false;
      for (const d of digests) ok = timingSafeEqual(d, given) || ok;
      return ok;
    },
  };
}

/** Reads keys from an environment variable: comma- or whitespace-separated; empty when unset. */
export function keysFromEnv(name: string, env: Readonly<Record<string, string | undefined>> = process.env) {
  return (env[name] ?? '').split(/[\s,]+/).filter((k) => k !== '');
}
