/**
 * Whether a value read from the look-ahead cache is a finished rollout of at most `horizon` future turns.
 * The cache is a folder of JSON files anyone can edit, copy between versions or truncate: an entry of
 * another shape is a miss (rolled out again and written anew), never a reward of NaN or null.
 */
import type { Rollout } from './lookahead.js';

const isCount = (v: unknown): boolean => Number.isSafeInteger(v) && (v as number) >= 0;
const isNumber = (v: unknown): boolean => typeof v === 'number' && Number.isFinite(v);

function isTurn(t: unknown): boolean {
  if (typeof t !== 'object' || t === null) return false;
  const turn = t as Record<string, unknown>;
  const user = turn.user as Record<string, unknown> | null | undefined;
  return (
    typeof turn.action === 'string' &&
    typeof turn.output === 'string' &&
    isNumber(turn.W) &&
    isNumber(turn.U) &&
    isNumber(turn.L) &&
    (turn.verdict === undefined || turn.verdict === null || isNumber(turn.verdict)) &&
    typeof user === 'object' &&
    user !== null &&
    (user.mode === 'answer' || user.mode === 'insist') &&
    typeof user.text === 'string'
  );
}

export function isRollout(value: unknown, horizon: number): value is Rollout {
  if (typeof value !== 'object' || value === null) return false;
  const r = value as Record<string, unknown>;
  return (
    Array.isArray(r.turns) &&
    r.turns.length <= horizon &&
    r.turns.every(isTurn) &&
    typeof r.end === 'string' &&
    isCount(r.policy_calls) &&
    isCount(r.user_calls)
  );
}
