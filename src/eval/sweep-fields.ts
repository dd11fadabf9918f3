// A leaf module, so that the settings can list the fields without loading the sweep (and the policy schema).

/** Pricing-policy fields a sweep can vary. */
export const SWEEPABLE_FIELDS = [
  'pricePerMillionInput',
  'pricePerMillionOutput',
  'computeCostPerMillion',
  'computeCostPerMillionInput',
  'utilityPerCurrency',
  'userTimeCostPerTurn',
] as const;
export type SweepableField = (typeof SWEEPABLE_FIELDS)[number];
