import pino, { type DestinationStream, type Logger } from 'pino';
import { redactSecrets } from './redact.ts';

export type { Logger } from 'pino';

/** A write waits at most this long for more lines to join it. */
const FLUSH_MS = 100;

/**
 * stdout for a long-running server: lines are gathered and written 8 KiB at a time, or FLUSH_MS after the first
 * line of a batch. pino's default writes every line on its own through libuv's thread pool, a system call and
 * two thread switches per request (≈ 8 % of the CPU profile of GET /api/items/{id}, tests/bench/RESULTS.md).
 * Nothing is lost on a clean exit: stopOnSignals flushes before exiting, and pino writes what is left
 * synchronously on process exit. A SIGKILL or a crash of the runtime itself can lose the last FLUSH_MS.
 * Not for Lambda, which freezes the process between invocations with lines still in the buffer.
 */
export function bufferedStdout(): DestinationStream & { flush(done?: (error?: Error) => void): void } {
  const stream = pino.destination({ dest: 1, minLength: 8192, sync: false });
  let timer: NodeJS.Timeout | undefined;
  const flushSoon = () => {
    timer = undefined;
    stream.flush();
  };
  return {
    write(line: string) {
      stream.write(line);
      // Armed by a line only, so an idle process never wakes up for the log.
      if (!timer) timer = setTimeout(flushSoon, FLUSH_MS).unref();
    },
    flush(done) {
      clearTimeout(timer);
      timer = undefined;
      stream.flush(done);
    },
  };
}

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
