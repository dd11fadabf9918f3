/** The named steering policies (a leaf module, so that the settings can list them without loading the policy schema). */
export const PRESET_NAMES = ['none', 'subscription', 'api', 'paper-api', 'paper-subscription'] as const;
export type PresetName = (typeof PRESET_NAMES)[number];
