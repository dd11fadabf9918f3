/**
 * gtalign's main flows: answer with a GTAlign turn, solve and steer its game, score it, evaluate runs,
 * serve it. Each layer has the rest of its API at a subpath of its own (`gtalign/game`, `gtalign/chain`,
 * `gtalign/steering`, `gtalign/llm`, `gtalign/reward`, `gtalign/assistant`, `gtalign/data`,
 * `gtalign/eval`, `gtalign/server`, `gtalign/ai-sdk`). Importing it loads no optional dependency
 * (node-llama-cpp is loaded on use).
 */
export { type GtalignMiddlewareOptions, gtalignMiddleware } from './ai-sdk/middleware.js';
export { createSession, type Session, type SessionOptions } from './assistant/session.js';
export { runTurn, type TurnOptions, type TurnResult } from './assistant/turn.js';
export { type PayoffParseResult, parsePayoff } from './chain/payoff.js';
export { loadRows } from './data/load.js';
export { type EvalOptions, type EvalResult, evaluate } from './eval/run.js';
export { analyzeGame, type GameAnalysis } from './game/analyze.js';
export type { Payoff, PayoffMatrix } from './game/spec.js';
export { type Detection, detectVendor } from './llm/detect.js';
export { createLocalModel, type LocalModelOptions } from './llm/local.js';
export { createOpenAIModel, type OpenAIModelOptions, type OpenAIVendor } from './llm/openai.js';
export type { ChatModel } from './llm/types.js';
export { scoreBatch } from './reward/batch.js';
export { createJudge, type Judge } from './reward/judge.js';
export { scoreWithVerdict } from './reward/score.js';
export { startProxyServer } from './server/proxy.js';
export { startRewardServer } from './server/reward.js';
export type { SteeringPolicy } from './steering/policy.js';
export { resolvePolicy } from './steering/presets.js';
export { VERSION } from './version.js';
