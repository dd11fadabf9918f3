/**
 * The gtalign MCP server (official MCP TypeScript SDK): the solver, steering, the decision, a whole turn and
 * the reward as tools, the presets and the policy schema as resources; over stdio or streamable HTTP.
 * Importing this module loads the SDK; the CLI imports it only for `gtalign mcp`.
 */
export {
  MCP_PATH,
  type McpHttpOptions,
  type RunningMcpServer,
  randomToken,
  startMcpHttpServer,
} from './http.js';
export { createGtalignMcpServer, type GtalignMcpOptions, TOOL_NAMES } from './server.js';
export { serveStdio } from './stdio.js';
export {
  analyzeGameTool,
  decideTool,
  respondTool,
  scoreRewardTool,
  steerTool,
  type ToolContext,
  ToolInputError,
  type TurnDefaults,
} from './tools.js';
