/**
 * Whether a turn ever got the model: a view of a one-sequence model (one with `exclusive`) that says when
 * the turn's work starts holding it. A turn whose deadline passes while it still waits in that queue ran
 * nothing and paid for nothing, so it is answered differently from one the model was too slow to finish.
 */
import type { ChatModel } from '../llm/types.js';

export function onEngineTaken(model: ChatModel, taken: () => void): ChatModel {
  const { exclusive } = model;
  if (exclusive === undefined) return model;
  const view: ChatModel = {
    id: model.id,
    capabilities: model.capabilities,
    generate: (request) => model.generate(request),
    stream: (request) => model.stream(request),
    exclusive: <T>(work: () => Promise<T>, signal?: AbortSignal): Promise<T> =>
      exclusive.call(
        model,
        () => {
          taken();
          return work();
        },
        signal,
      ) as Promise<T>,
    close: () => model.close(),
  };
  if (model.about !== undefined) Object.assign(view, { about: model.about });
  if (model.randomWeights === true) Object.assign(view, { randomWeights: true });
  return view;
}
