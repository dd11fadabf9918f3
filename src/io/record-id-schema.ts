/** The rule of record-id.ts as a zod schema, for the readers that validate with zod. */
import { z } from 'zod';
import { numericIdProblem } from './record-id.js';

/** A number an id is made of: one JSON.parse kept as the input wrote it. */
export const exactIdNumber = z.number().superRefine((n, ctx) => {
  const problem = numericIdProblem(n);
  if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
});
