/**
 * A turn whose stage 2 restarted the reply (the server did not continue the trailing assistant message
 * that `prefill` sends) says how to fix that with the middleware: the turn's own fix names what gtalign's
 * OpenAI client sends (`chat_template_kwargs`, which the AI SDK's provider does not) and the CLI's flags.
 */
import { TurnError, textExcerpt } from '../assistant/errors.js';

/** `error` itself, or the same TurnError with the fix in the middleware's terms when stage 2 restarted. */
export function restartForPrefill(error: unknown): unknown {
  // The restart is the one stage-2 response error that lists problems (see restartOf in assistant/turn.ts).
  if (
    !(error instanceof TurnError) ||
    error.kind !== 'response' ||
    error.details.stage !== 'stage2' ||
    error.details.problems === undefined
  ) {
    return error;
  }
  const how = error.details.problems[0] ?? 'it starts over';
  return new TurnError(
    'response',
    `stage 2 restarted the reply instead of continuing the assistant turn (${how}): the server behind the ` +
      'model did not continue the trailing assistant message that prefill sends, as chat templates of ' +
      'thinking models (Qwen3 style) often do not. Fix: give prefill the provider options that make the ' +
      'server continue it without thinking (vLLM, SGLang: { providerOptions: { <provider name>: { ' +
      'continue_final_message: true, add_generation_prompt: false, chat_template_kwargs: { enable_thinking: ' +
      `false } } } }), or leave prefill out so that stage 2 re-asks. Reply: ${textExcerpt(error.details.text ?? '')}`,
    error.details,
  );
}
