/** The formats `data export` writes (a leaf module, so that the settings can name them without loading the writers). */
export const EXPORT_FORMATS = ['verl', 'openrlhf', 'skyrl', 'areal', 'nemo-rl', 'jsonl'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];
