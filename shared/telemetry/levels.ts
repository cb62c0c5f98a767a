import type { LevelWithSilent } from 'pino';

/** LOG_LEVEL's values: pino's level names (a logger writes lines of its level and above); `silent` writes none. */
export const LEVEL_NAMES: [LevelWithSilent, ...LevelWithSilent[]] = [
  'trace',
  'debug',
  'info',
  'warn',
  'error',
  'fatal',
  'silent',
];
export type Level = LevelWithSilent;
