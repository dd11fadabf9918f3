/**
 * Simulated users: personas, hidden intents from data rows, the persona's rules and the user's model, and
 * the simulator's fingerprint.
 */
export * from './fingerprint.js';
export * from './intent.js';
export * from './persona.js';
export * from './simulator.js';
