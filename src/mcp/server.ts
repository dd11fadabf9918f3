/**
 * The gtalign MCP server on the official MCP TypeScript SDK: five tools with input and output schemas
 * (every result carries `structuredContent` and the same JSON as text), and two resources.
 *
 * - `analyze_game`: a matrix → Pareto frontier, equilibria (pure and mixed), the rule's choice.
 * - `steer`: a matrix and a pricing policy (preset name or object) → edits, steered matrix, both choices.
 * - `decide`: a question and history → the user type, action and matrix from the configured backend
 *   (stage 1 of a turn and the decision; no answer is written): "should I clarify first?".
 * - `respond`: a whole GTAlign turn → the `<response>` text and the turn record.
 * - `score_reward`: an output, ground truth, data source (and the judge's verdict) → the welfare reward with
 *   every component.
 * - Resources `gtalign://presets` (the pricing presets) and `gtalign://policy-schema` (a policy's JSON Schema).
 *
 * A tool whose arguments cannot be used, or whose backend fails, answers `isError: true` with the message.
 */

import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { GtalignError } from '../errors.js';
import { PRESET_NAMES, PRESETS } from '../steering/presets.js';
import { VERSION } from '../version.js';
import { toolProgress } from './progress.js';
import {
  analyzeGameInput,
  analyzeGameOutput,
  decideInput,
  decideOutput,
  policySchema,
  respondInput,
  respondOutput,
  scoreRewardInput,
  scoreRewardOutput,
  steerInput,
  steerOutput,
} from './schemas.js';
import {
  analyzeGameTool,
  decideTool,
  respondTool,
  scoreRewardTool,
  steerTool,
  type ToolContext,
  ToolInputError,
} from './tools.js';

export interface GtalignMcpOptions extends ToolContext {
  /** Where unexpected failures go (default stderr). */
  log?: (line: string) => void;
}

export const TOOL_NAMES = ['analyze_game', 'steer', 'decide', 'respond', 'score_reward'] as const;

function ok(value: Record<string, unknown>): CallToolResult {
  return { content: [{ type: 'text', text: JSON.stringify(value) }], structuredContent: value };
}

/** Creates the server with its tools and resources (connect it to a transport). */
export function createGtalignMcpServer(options: GtalignMcpOptions): McpServer {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const server = new McpServer(
    { name: 'gtalign', version: VERSION },
    {
      instructions:
        'GTAlign game-theoretic tools: solve and steer the 2x3 user/assistant payoff game, decide whether to ' +
        'clarify or answer, run a GTAlign turn, and score outputs with the mutual-welfare reward.',
    },
  );

  /** Runs a tool body: a result with structuredContent, or an error result with the message. */
  const run = async (name: string, body: () => unknown): Promise<CallToolResult> => {
    try {
      return ok((await body()) as Record<string, unknown>);
    } catch (err) {
      const known = err instanceof ToolInputError || err instanceof GtalignError;
      if (!known) {
        log(
          `gtalign mcp: ${name} failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`,
        );
      }
      const message = err instanceof Error ? err.message : String(err);
      return { isError: true, content: [{ type: 'text', text: `${name}: ${message}` }] };
    }
  };

  server.registerTool(
    'analyze_game',
    {
      title: 'Analyze a payoff game',
      description:
        'Pareto frontier, pure and mixed Nash equilibria, argmax of user·LLM, and the choice by a selection ' +
        'rule, for a payoff matrix (default game: user DQ/VQ × assistant DA/CQ/AQ).',
      inputSchema: analyzeGameInput,
      outputSchema: analyzeGameOutput,
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    (args) => run('analyze_game', () => analyzeGameTool(args)),
  );

  server.registerTool(
    'steer',
    {
      title: 'Steer a payoff matrix under a pricing policy',
      description:
        'Compiles a pricing policy (a preset such as api or paper-api, or a policy object) into per-cell ' +
        'payoff edits, applies them (rounded to two decimals as in a turn) and selects the cell before and after.',
      inputSchema: steerInput,
      outputSchema: steerOutput,
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    (args) => run('steer', () => steerTool(args)),
  );

  server.registerTool(
    'decide',
    {
      title: 'Decide: answer, clarify, or both?',
      description:
        'Asks the configured model for its reasoning and payoff matrix on the question (stage 1 of a GTAlign ' +
        'turn), applies the policy and selects the cell: the user type (DQ/VQ), the action (DA answer, CQ ' +
        'clarify, AQ answer + follow-up) and the matrix. Writes no answer.',
      inputSchema: decideInput,
      outputSchema: decideOutput,
      annotations: { readOnlyHint: true, openWorldHint: true },
    },
    (args, extra) => run('decide', () => decideTool(options, args, extra.signal)),
  );

  server.registerTool(
    'respond',
    {
      title: 'Answer with a GTAlign turn',
      description:
        'A whole GTAlign turn on the configured model: reasoning and matrix, steering, selection, and the ' +
        'reply that carries out the chosen action (the same turn continues from the steered matrix).',
      inputSchema: respondInput,
      outputSchema: respondOutput,
      annotations: { readOnlyHint: true, openWorldHint: true },
    },
    (args, extra) => run('respond', () => respondTool(options, args, extra.signal, toolProgress(extra))),
  );

  server.registerTool(
    'score_reward',
    {
      title: 'Score an output with the mutual-welfare reward',
      description:
        'The GTAlign reward of a four-block output exactly as the reference computes it: U, L, the aggregate, ' +
        "and every component. Give the judge's verdict (on the task's scale) unless the output is unscorable.",
      inputSchema: scoreRewardInput,
      outputSchema: scoreRewardOutput,
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    (args) => run('score_reward', () => scoreRewardTool(args)),
  );

  server.registerResource(
    'presets',
    'gtalign://presets',
    {
      title: 'Pricing-policy presets',
      description: `The steering presets (${PRESET_NAMES.join(', ')}) as policy objects`,
      mimeType: 'application/json',
    },
    (uri) => ({
      contents: [{ uri: uri.href, mimeType: 'application/json', text: JSON.stringify(PRESETS, null, 2) }],
    }),
  );

  server.registerResource(
    'policy-schema',
    'gtalign://policy-schema',
    {
      title: 'Pricing-policy JSON Schema',
      description: 'The shape of a steering policy: a preset name, a pricing policy, a fixed edit or none',
      mimeType: 'application/schema+json',
    },
    (uri) => ({
      contents: [
        {
          uri: uri.href,
          mimeType: 'application/schema+json',
          text: JSON.stringify(z.toJSONSchema(policySchema), null, 2),
        },
      ],
    }),
  );

  return server;
}
