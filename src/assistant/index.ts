/** One GTAlign turn with steering and true continuation, multi-turn sessions, trace tables, local model files. */
export { TurnError, type TurnErrorKind } from './errors.js';
export { formatOutcome, formatStages, formatSteering, formatTrace } from './format.js';
export {
  type DownloadOptions,
  type DownloadResult,
  defaultModelsDir,
  downloadModel,
  findPulledModel,
  ModelDownloadError,
  ModelNotFoundError,
  type ModelSource,
  RECOMMENDED_MODEL,
  resolveModelPath,
} from './models.js';
export { loadPromptTemplate, templateFromDataFile, templateRowOf } from './prompt-source.js';
export { createReasoningStream, type ReasoningStream, reasoningOf } from './reasoning-stream.js';
export { createSession, type Session, type SessionOptions } from './session.js';
export {
  type AnalysisMode,
  type ContinuationMode,
  runTurn,
  type StageName,
  type StageTrace,
  type SteeringTrace,
  type TurnOptions,
  type TurnResult,
  type TurnTrace,
} from './turn.js';
export { createTrimmedEmitter, type GtalignObject, gtalignObject, usageOf } from './turn-json.js';
