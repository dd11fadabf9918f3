/** The Vercel AI SDK middleware: a GTAlign turn behind `wrapLanguageModel` (AI SDK 6 and 7). */
export {
  type GtalignMiddleware,
  type GtalignMiddlewareOptions,
  gtalignMiddleware,
  type SpecificationVersion,
} from './middleware.js';
