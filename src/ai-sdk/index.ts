/** The Vercel AI SDK middleware: a GTAlign turn behind `wrapLanguageModel`. */
export { type GtalignMiddlewareOptions, gtalignMiddleware } from './middleware.js';
