import pino, { type DestinationStream, type Logger } from 'pino';
import { redactSecrets } from './redact.ts';

export type { Logger } from 'pino';

/**
 * JSON lines on stdout, one logger per process; `function` names the function on every line. Secrets are
 * replaced by "[redacted]" wherever they appear in a logged object (see redact.ts).
 */
export function createLogger(functionName: string, level: string, destination?: DestinationStream): Logger {
  const options: pino.LoggerOptions = {
    level,
    base: { function: functionName },
    messageKey: 'message',
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: {
      level: (label) => ({ level: label }),
      // Before the serializers run, so an error's own properties and its cause are cleaned too.
      log: (object) => redactSecrets(object),
    },
  };
  // stdout unless told otherwise (tests read the lines they write).
  const logger = destination ? pino(options, destination) : pino(options);
  // pino applies no formatter to a child's bindings, so they are cleaned on the way in. Children inherit this
  // method through their prototype, so a child's child (Fastify's request loggers) is covered too.
  const child = logger.child;
  logger.child = function redactedChild(this: Logger, bindings, childOptions) {
    return child.call(this, redactSecrets(bindings), childOptions);
  } as typeof logger.child;
  return logger;
}
