/**
 * Runs the benchmarks in bench/ and prints their figures. Not part of the test suite.
 * `npm run bench` runs all; `npm run bench -- reward assistant` runs the named ones.
 */
import { runAssistantBench } from './assistant.js';
import { runChainBench } from './chain.js';
import { runCliStartBench } from './cli-start.js';
import { runEvalBench } from './eval.js';
import { runGameBench } from './game.js';
import { runMathCheckBench } from './math-check.js';
import { runRewardBench } from './reward.js';
import { runRewardVsReferenceBench } from './reward-vs-reference.js';
import { runServerBench } from './server.js';
import { runServerHostileBench } from './server-hostile.js';
import { runStudioAnalysisBench } from './studio-analysis.js';
import { runSuiteBench } from './suite.js';
import { runTrainerAdaptersBench } from './trainer-adapters.js';

const BENCHES: Record<string, () => void | Promise<void>> = {
  game: runGameBench,
  chain: runChainBench,
  reward: runRewardBench,
  'reward-vs-reference': runRewardVsReferenceBench,
  'math-check': runMathCheckBench,
  assistant: runAssistantBench,
  eval: runEvalBench,
  server: runServerBench,
  'server-hostile': runServerHostileBench,
  'trainer-adapters': runTrainerAdaptersBench,
  'cli-start': runCliStartBench,
  'studio-analysis': runStudioAnalysisBench,
  // Last: it runs the whole test suite (minutes, both cores).
  suite: runSuiteBench,
};

const wanted = process.argv.slice(2);
const unknown = wanted.filter((w) => !(w in BENCHES));
if (unknown.length > 0) {
  console.error(`unknown benchmark(s): ${unknown.join(', ')} (known: ${Object.keys(BENCHES).join(', ')})`);
  process.exit(2);
}
console.log(`node ${process.version}, ${process.platform}/${process.arch}`);
for (const [name, run] of Object.entries(BENCHES)) {
  if (wanted.length === 0 || wanted.includes(name)) await run();
}
