/** HTTP servers: the OpenAI-compatible GTAlign proxy and the reward server for RL trainers. */

export { type GtalignObject, gtalignObject } from '../assistant/turn-json.js';
export { createKeyChecker, type KeyChecker, keysFromEnv } from './auth.js';
export type { BackgroundResponses } from './background-responses.js';
export { ConversationFolder } from './conversation-folder.js';
export {
  ConversationStore,
  type Conversations,
  type StoredConversation,
  type StoredItem,
} from './conversation-store.js';
export { HttpError, type OpenAIErrorBody } from './errors.js';
export { DEFAULT_HOST, type ListenOptions, type RunningServer } from './listen.js';
export { createMetricsRegistry, type MetricsRegistry } from './metrics.js';
export {
  createProxyApp,
  type ProxyApp,
  type ProxyLimits,
  type ProxyOptions,
  startProxyServer,
} from './proxy.js';
export { ResponseFolder } from './response-folder.js';
export type { ResponseObject, ResponseUsage } from './responses.js';
export {
  createRewardApp,
  DEFAULT_END_TOKENS,
  type RewardApp,
  type RewardServerOptions,
  startRewardServer,
} from './reward.js';
