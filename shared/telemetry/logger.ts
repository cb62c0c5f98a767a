import pino, { type Logger } from 'pino';

export type { Logger } from 'pino';

/**
 * Anything that could carry a secret is redacted before a line is written, wherever it appears in the
 * logged object: headers, bodies and errors alike.
 */
export const REDACT_PATHS = [
  'password',
  '*.password',
  '*.*.password',
  'current_password',
  '*.current_password',
  'new_password',
  '*.new_password',
  'hashed_password',
  '*.hashed_password',
  '*.*.hashed_password',
  'access_token',
  '*.access_token',
  'token',
  '*.token',
  'secret',
  '*.secret',
  'authorization',
  '*.authorization',
  'headers.authorization',
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.cookie',
];

/** JSON lines on stdout, one logger per process; `function` names the function on every line. */
export function createLogger(functionName: string, level: string): Logger {
  return pino({
    level,
    base: { function: functionName },
    messageKey: 'message',
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
  });
}
