/** The mutual welfare reward: reference-exact scoring, judges, batch scoring. */
export { aggregate, cobbDouglas, linear, weightedCobbDouglas } from './aggregate.js';
export {
  BatchAbortedError,
  type BatchItem,
  type BatchOptions,
  type BatchResult,
  type BatchStats,
  type FailedResult,
  newBatchStats,
  type ScoredResult,
  scoreBatch,
  type VerdictSource,
} from './batch.js';
export { characterBleu, characterBleuDetail } from './bleu.js';
export { DATA_SOURCE_FAMILY, isDataSource, type TaskFamily } from './components.js';
export {
  AGGREGATOR_NAMES,
  type AggregatorName,
  configId,
  DATA_SOURCES,
  type DataSource,
  DEFAULT_REWARD_CONFIG,
  parseRewardConfig,
  type RewardConfig,
  rewardConfigSchema,
} from './config.js';
export { outputLine, parseScoreLine } from './jsonl.js';
export {
  createJudge,
  type Judge,
  type JudgeOptions,
  type JudgeStats,
  type JudgeVerdict,
  type ModelJudgeOptions,
  newJudgeStats,
} from './judge.js';
export { createLocalJudge, type LocalJudge, type LocalJudgeOptions } from './judge-local.js';
export { extractFinalAnswer, mathAnswersEquivalent, mathAnswersMatch } from './math-check.js';
export { checkMatrixReasoning, chosenCell } from './matrix-check.js';
export { scoreChunk, scoreLinesOffline } from './offline-pool.js';
export { buildJudgeMessages, type JudgeFamily, judgeFamilyOf } from './rubrics.js';
export {
  analyzeSample,
  finishSample,
  type PendingVerdict,
  type RewardRecord,
  type RewardSample,
  type SampleAnalysis,
  scoreWithVerdict,
} from './score.js';
export { type StreamOptions, scoreJsonlStream } from './stream.js';
export { codePointLength, pythonSplitCount } from './text.js';
export { extractVerdict } from './verdict.js';
export { verdictConstraint, verdictConstraints } from './verdict-grammar.js';
