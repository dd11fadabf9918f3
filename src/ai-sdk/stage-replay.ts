/**
 * Stage replies a failed turn already paid for, kept for the AI SDK's retry of the same call. The AI SDK
 * retries a model call that failed with a retryable error (`maxRetries`: a 429, a 5xx, a lost connection)
 * by calling the model again with the same options. For a GTAlign turn whose stage 2 failed that way, the
 * retry would pay for stage 1 again and get a different matrix; instead the stage requests the failed
 * attempt completed are answered from here, once each, when the retry sends exactly the same request.
 *
 * A request is known by its model and its JSON (the abort signal aside, which the SDK may make anew per
 * attempt); a later call that is not a retry but sends the same request after such a failure gets the
 * kept reply too, which is what retrying by hand wants. Only the latest few replies are kept, so a call
 * that is never retried costs a bounded amount of memory.
 */
import type { GenerateResult } from '../llm/types.js';

/** A stage request that got its reply in a turn that failed afterwards. */
export interface CompletedStage {
  /** The request as sent, as JSON without its abort signal (`requestKey`). */
  key: string;
  result: GenerateResult;
  /** The wrapped model's warnings about the call. */
  warnings: ReadonlyArray<unknown>;
  /** Whether the call reported its input and output tokens. */
  reported: { input: boolean; output: boolean };
}

export interface StageReplays {
  /** The kept reply to this request, removed as it is taken (undefined when there is none). */
  take(key: string): CompletedStage | undefined;
  /** Keeps the stages of a turn that failed with an error the AI SDK retries. */
  keep(stages: ReadonlyArray<CompletedStage>): void;
}

/** Stage replies kept at most (the oldest go first); a failed turn keeps one, its stage 1. */
const KEPT_STAGES = 8;

/**
 * The key of a stage request: the model it goes to (one middleware may wrap several) and the request's
 * JSON, without the abort signal; undefined for a request that is not JSON (provider options an app's own
 * model takes as objects), which is then never replayed.
 */
export function requestKey(
  model: { provider: string; modelId: string },
  call: { abortSignal?: AbortSignal },
): string | undefined {
  const { abortSignal: _signal, ...rest } = call;
  try {
    return JSON.stringify([model.provider, model.modelId, rest]);
  } catch {
    return undefined;
  }
}

/** Whether the AI SDK retries a call that failed with `error` (`APICallError` and `GatewayError` say so). */
export function isRetryable(error: unknown): boolean {
  return (
    typeof error === 'object' && error !== null && (error as { isRetryable?: unknown }).isRetryable === true
  );
}

export function createStageReplays(): StageReplays {
  // Insertion order is age: a key kept again moves to the end.
  const kept = new Map<string, CompletedStage>();
  return {
    take(key) {
      const stage = kept.get(key);
      kept.delete(key);
      return stage;
    },
    keep(stages) {
      for (const stage of stages) {
        kept.delete(stage.key);
        kept.set(stage.key, stage);
      }
      while (kept.size > KEPT_STAGES) kept.delete(kept.keys().next().value as string);
    },
  };
}
