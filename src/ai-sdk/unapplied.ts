/**
 * What an AI SDK call asks for that the GTAlign turn does not apply, as call warnings. The AI SDK shows a
 * model's warnings (`result.warnings`, and its console log by default), so an app learns that its system
 * prompt or a setting had no effect instead of finding out from the replies. The turn writes its own
 * instruction prompt (the system behaviour), stops stage 1 at `</payoff>` (an app's stop sequences would
 * cut the four blocks), and sends only the sampling settings both stages share.
 */

/** A call warning as both specifications define it (`SharedV3Warning`, `SharedV4Warning` of `@ai-sdk/provider`). */
export type CallWarning =
  | { type: 'unsupported'; feature: string; details?: string }
  | { type: 'other'; message: string };

/** The parts of a call's options this check reads (fields the v3 and v4 specifications share, and v4's `reasoning`). */
export interface UnappliedOptions {
  prompt: ReadonlyArray<{ role: string }>;
  stopSequences?: string[];
  topK?: number;
  presencePenalty?: number;
  frequencyPenalty?: number;
  reasoning?: string;
}

export function unappliedWarnings(params: UnappliedOptions): CallWarning[] {
  const warnings: CallWarning[] = [];
  const system = params.prompt.filter((m) => m.role === 'system').length;
  if (system > 0) {
    warnings.push({
      type: 'other',
      message: `gtalignMiddleware: ${system} system message(s) not used: the GTAlign instruction prompt is the system behaviour`,
    });
  }
  if (params.stopSequences !== undefined && params.stopSequences.length > 0) {
    warnings.push({
      type: 'unsupported',
      feature: 'stopSequences',
      details: 'gtalignMiddleware: the GTAlign turn sets its own stop sequences (yours would cut its blocks)',
    });
  }
  for (const feature of ['topK', 'presencePenalty', 'frequencyPenalty'] as const) {
    if (params[feature] !== undefined) {
      warnings.push({
        type: 'unsupported',
        feature,
        details: 'gtalignMiddleware: not sent to the model (the turn sends temperature, topP and seed)',
      });
    }
  }
  if (params.reasoning !== undefined && params.reasoning !== 'provider-default') {
    warnings.push({
      type: 'unsupported',
      feature: 'reasoning',
      details: 'gtalignMiddleware: the GTAlign turn reasons in its own <thinking> and <payoff> blocks',
    });
  }
  return warnings;
}
