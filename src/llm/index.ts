/**
 * Chat-model backends behind one interface: the OpenAI-compatible model (its transport, vendor dialects and
 * wire format are separate modules) and the embedded local engine, which loads node-llama-cpp only when
 * used. The tiny-GGUF writer (tests and the offline demo) is not part of the API: it lives in gguf-writer.ts.
 */
export { chatCompletionsUrl } from './chat-completions.js';
export {
  DEFAULT_DETECT_TIMEOUT_MS,
  type Detection,
  type DetectOptions,
  describeDetection,
  detectVendor,
  detectVendorOnce,
  type ProbeRecord,
  serverOrigin,
} from './detect.js';
export { type DialectOptions, type OpenAIVendor, VENDOR_CAPABILITIES, VENDORS } from './dialect.js';
export { createLocalModel, type LocalModelOptions } from './local.js';
export { createOpenAIModel, type OpenAIModelOptions } from './openai.js';
export { backoffMs, type RetryPolicy, retrying } from './retry.js';
export {
  createTransport,
  type Exchange,
  isTransientFailure,
  type Transport,
  type TransportOptions,
} from './transport.js';
export * from './types.js';
