/**
 * Chat-model backends behind one interface. The local backend loads node-llama-cpp only when used. The
 * tiny-GGUF writer (tests and the offline demo) is not part of the API: it lives in gguf-writer.ts.
 */
export { createLocalModel, type LocalModelOptions } from './local.js';
export { createOpenAIModel, type OpenAIModelOptions, type OpenAIVendor } from './openai.js';
export * from './types.js';
