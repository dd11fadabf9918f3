/**
 * A turn that failed because a stage reached the call's own `maxOutputTokens` says so: the turn's error
 * names the CLI's `--max-tokens` and the library's `maxTokens`, which an app on the AI SDK never set.
 */
import { TurnError } from '../assistant/errors.js';

/** `error` itself, or the same TurnError with a message naming `maxOutputTokens` when that cut the stage. */
export function namedForCall(error: unknown, maxOutputTokens: number | undefined): unknown {
  if (!(error instanceof TurnError) || error.details.cutAt !== 'tokens' || maxOutputTokens === undefined) {
    return error;
  }
  const where =
    error.kind === 'payoff'
      ? 'stage 1 (the reasoning and payoff matrix) reached it before its matrix'
      : 'stage 2 reached it before the <response> block';
  const named = new TurnError(
    error.kind,
    `maxOutputTokens ${maxOutputTokens} is too low for the GTAlign turn: ${where}; raise it or leave it out (${error.message})`,
    error.details,
  );
  return named;
}
