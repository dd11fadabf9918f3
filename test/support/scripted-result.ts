/** What an in-process scripted model answers: the scripted text cut at the request's stop strings. */
import type { GenerateRequest, GenerateResult } from '../../src/llm/types.js';

export function scriptedResult(
  request: GenerateRequest,
  text: string,
  finishReason: GenerateResult['finishReason'] = 'stop',
): GenerateResult {
  let cut = text;
  let stoppedBy: string | undefined;
  for (const stop of request.stop ?? []) {
    const at = cut.indexOf(stop);
    if (at >= 0) {
      cut = cut.slice(0, at);
      stoppedBy = stop;
    }
  }
  return {
    text: cut,
    finishReason,
    ...(stoppedBy === undefined ? {} : { stoppedBy }),
    usage: { promptTokens: 10, cachedPromptTokens: 0, completionTokens: 5 },
    durationMs: 1,
  };
}
