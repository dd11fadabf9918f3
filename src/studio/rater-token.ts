/**
 * A rater's own access token: an HMAC of the study and rater ids under the studio's secret. It opens the
 * rating page and the rating routes of that one study for that one rater, nothing else: with the owner's
 * token in the link, a rater could open the owner's pages and exports (which name the run behind each
 * reply, so the study was not blind), list and create studies, and rate as any other rater. The CLI keeps
 * the secret in the study folder, so a rater's link works again after the studio restarts.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { link, readFile, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** The secret's file in the study folder (readable by its owner only). */
export const RATER_SECRET_FILE = '.rater-secret';
const SECRET = /^[0-9a-f]{64}$/;

export function newRaterSecret(): string {
  return randomBytes(32).toString('hex');
}

export function raterToken(secret: string, study: string, rater: string): string {
  return createHmac('sha256', secret).update(`gtalign studio rater\0${study}\0${rater}`).digest('hex');
}

/** Whether `given` is the token of this rater of this study (compared in constant time). */
export function isRaterToken(
  secret: string,
  study: string,
  rater: string,
  given: string | undefined,
): boolean {
  if (given === undefined) return false;
  const want = Buffer.from(raterToken(secret, study, rater), 'utf8');
  const got = Buffer.from(given, 'utf8');
  return got.length === want.length && timingSafeEqual(got, want);
}

/**
 * The secret kept in `dir`, made on first use (mode 0600). It is written whole to a file of its own and
 * then linked into place, which fails if the name exists, so two studios starting on one folder agree on
 * one secret and neither reads a half-written file. A file that holds something else is an error naming
 * it, not silently replaced: replacing it would end every rater link given out.
 */
export async function studioRaterSecret(dir: string): Promise<string> {
  const path = join(dir, RATER_SECRET_FILE);
  const draft = `${path}.${process.pid}.${randomBytes(4).toString('hex')}`;
  await writeFile(draft, `${newRaterSecret()}\n`, { flag: 'wx', mode: 0o600 });
  try {
    await link(draft, path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  } finally {
    await unlink(draft);
  }
  const kept = (await readFile(path, 'utf8')).trim();
  if (!SECRET.test(kept))
    throw new Error(
      `${path} does not hold a rater secret (64 hexadecimal digits); remove it to make a new one (the rater links given out so far stop working)`,
    );
  return kept;
}
