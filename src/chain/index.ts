/** The four-block format: parsers (whole text, streaming, strict reference verdict), payoff repair, prompts and prompt profiles, grammars. */
export { type AnalyzeChoice, type CellMention, findCellMentions, readAnalyzeChoice } from './analyze.js';
export { solverAnalysis } from './analyze-write.js';
export {
  BLOCK_NAMES,
  type Block,
  type BlockExtraction,
  type BlockName,
  type ChainProblem,
  type ChainProblemKind,
  closeTag,
  extractBlocks,
  isWellFormed,
  openTag,
} from './blocks.js';
export {
  extractAnalyze,
  extractPayoffText,
  extractResponse,
  extractThinking,
  REFERENCE_FORMAT_REGEX,
  type ReferenceFormatCheck,
  reasoningPart,
  referenceFormatCheck,
  referenceFormatOk,
  referenceStructureOk,
} from './format.js';
export {
  buildFormatRegExp,
  buildGbnf,
  buildRegex,
  type GrammarOptions,
  type TextBlockName,
} from './grammar.js';
export {
  type PayoffError,
  type PayoffParseResult,
  parsePayoff,
  parsePythonJson,
  parsePythonLiteral,
} from './payoff.js';
export {
  modelKeyOrder,
  quantizeMatrix,
  renderMatrix,
  renderNumber,
  replacePayoffContent,
} from './payoff-edit.js';
export {
  buildInstructionPrompt,
  buildMessages,
  type ConversationTurn,
  DEFAULT_ACTION_DESCRIPTIONS,
  DEFAULT_USER_TYPE_DESCRIPTIONS,
  type PromptMessage,
  type PromptOptions,
} from './prompt.js';
export {
  buildProfileMessages,
  type HistoryLayout,
  isMultiTurnRow,
  type PromptProfile,
  type PromptProfileName,
  type PromptTemplate,
  PromptTemplateError,
  type PromptWording,
  parsePromptTemplate,
  promptTemplateSchema,
  QUESTION_MARKER,
  renderTemplate,
  type TemplateRow,
  templateFromRows,
} from './prompt-profile.js';
export { REASK_INSTRUCTIONS, reaskInstruction } from './reask.js';
export {
  type BlockEvent,
  type BlockStream,
  type ByteBlockStream,
  createBlockStream,
  createByteBlockStream,
  streamBlocks,
} from './stream.js';
