/** Typed failures of one GTAlign turn, carrying what a user needs to see: the stage and the model's text. */

import { type ErrorCode, GtalignError } from '../errors.js';
export type TurnErrorKind =
  /** The options cannot work with this backend (e.g. `continue` on a backend that cannot continue). */
  | 'options'
  /** Stage 1 did not produce a payoff block that parses and validates (after the retry, when there was one). */
  | 'payoff'
  /** Stage 2 produced no `<response>` block. */
  | 'response';

export class TurnError extends GtalignError {
  // Bad options are the caller's to fix; the rest is the model's output.
  get code(): ErrorCode {
    return this.kind === 'options' ? 'usage' : 'model';
  }

  constructor(
    readonly kind: TurnErrorKind,
    message: string,
    readonly details: {
      /** The stage that failed: `stage1`, `stage1-retry`, `stage2`, `reask`. */
      stage?: string;
      /** The model's text for that stage, as received. */
      text?: string;
      /** What was wrong, one entry per problem (payoff paths and positions included). */
      problems?: string[];
      /** The failed stage's output ended at its token limit, or at the model's context. */
      cutAt?: 'tokens' | 'context';
    } = {},
  ) {
    super(message);
    this.name = 'TurnError';
  }
}

/** A short, one-line excerpt of model text for an error message (the full text is in `details.text`). */
export function textExcerpt(text: string, max = 400): string {
  const json = JSON.stringify(text);
  return json.length > max ? `${json.slice(0, max)}…" (${text.length} chars)` : json;
}
