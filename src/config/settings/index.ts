/**
 * The registry: every setting of every command. A settings file may hold any of them (a key that is in
 * none is an error), and `gtalign config show` without a command lists them all.
 */
import type { AnySetting } from '../setting.js';
import { type Group, group } from '../setting.js';
import { BACKEND } from './backend.js';
import { DATA_SETTINGS } from './data.js';
import { EVAL_SETTINGS } from './eval.js';
import { GAME_SETTINGS } from './game.js';
import { GENERATION } from './generation.js';
import { JUDGE } from './judge.js';
import { MCP } from './mcp.js';
import { MODELS_SETTINGS, TINY_SETTINGS } from './models.js';
import { OUTPUT_SETTINGS } from './output.js';
import { PROMPT_SETTINGS } from './prompt.js';
import { REWARD } from './reward.js';
import { REWARD_SCORE_SETTINGS, REWARD_SERVE_SETTINGS } from './scoring.js';
import {
  MAX_BACKGROUND,
  MAX_MESSAGES,
  MAX_TURNS,
  REASONING,
  STORED_RESPONSES,
  STORED_RESPONSES_DIR,
  UPSTREAM,
} from './serve.js';
import { SERVER } from './server.js';
import { SIM } from './sim.js';
import { STEERING } from './steering.js';
import { STUDIO } from './studio.js';

export const ALL_GROUPS: readonly Group[] = [
  BACKEND,
  STEERING,
  PROMPT_SETTINGS,
  GENERATION,
  JUDGE,
  REWARD,
  SERVER,
  group('Serve', [
    ...UPSTREAM.settings,
    REASONING,
    MAX_MESSAGES,
    STORED_RESPONSES,
    STORED_RESPONSES_DIR,
    MAX_BACKGROUND,
    MAX_TURNS,
  ]),
  group('Reward score', REWARD_SCORE_SETTINGS),
  group('Reward serve', REWARD_SERVE_SETTINGS),
  MCP,
  STUDIO,
  group('Eval', EVAL_SETTINGS),
  SIM,
  group('Data', DATA_SETTINGS),
  group('Models', MODELS_SETTINGS),
  group('Offline model', TINY_SETTINGS),
  group('Game', GAME_SETTINGS),
  group('Output', OUTPUT_SETTINGS),
];

export const ALL_SETTINGS: readonly AnySetting[] = ALL_GROUPS.flatMap((g) => g.settings);
