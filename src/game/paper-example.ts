import type { PayoffMatrix } from './spec.js';

/** The paper's worked example (GTALIGN.md §5), "When did dinosaurs first appear?", and its matrix. */
export const DINOSAUR_QUESTION = 'When did dinosaurs first appear?';
export const DINOSAUR_MATRIX: PayoffMatrix = {
  DQ_AQ: { LLM: 1.0, user: 2.5 },
  DQ_CQ: { LLM: 1.3, user: 2.7 },
  DQ_DA: { LLM: 1.6, user: 2.8 },
  VQ_AQ: { LLM: 1.4, user: 2.3 },
  VQ_CQ: { LLM: 1.7, user: 2.9 },
  VQ_DA: { LLM: 1.9, user: 2.4 },
};
