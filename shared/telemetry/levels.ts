/**
 * The log levels, pino's names and numbers (LOG_LEVEL takes the names): a logger writes lines of its level and
 * above; `silent` writes none. One list for the config's check and the logger's.
 */
export const LEVELS = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60, silent: Infinity };
export type Level = keyof typeof LEVELS;
export const LEVEL_NAMES = Object.keys(LEVELS) as [Level, ...Level[]];
