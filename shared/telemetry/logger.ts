import pino, { type DestinationStream, type Logger } from 'pino';
import { redactSecrets } from './redact.ts';

export type { Logger } from 'pino';

/** A line waits at most this long for others to join it, and a batch is written once it holds this many. */
const FLUSH_MS = 100;
const BATCH_CHARS = 8192;

/**
 * stdout for a long-running server: lines are gathered and written 8 KiB at a time, or FLUSH_MS after the first
 * line of a batch. pino's default hands every line on its own to libuv's thread pool: a system call and two
 * thread switches per request (≈ 8 % of the CPU profile of GET /api/items/{id}, tests/bench/RESULTS.md). A batch
 * is written synchronously, as Node writes to a pipe on Linux anyway: one 8 KiB write(2) costs the event loop
 * less than handing it to the pool (≈ 6-16 µs against ≈ 30 µs measured here).
 * Nothing is lost when the process exits, however it exits (stopOnSignals, process.exit, an uncaught error):
 * the batch is written first. A SIGKILL or a crash of the runtime itself can lose the last FLUSH_MS.
 * Not for Lambda, which freezes the process between invocations with lines still in the batch.
 */
export function bufferedStdout(): DestinationStream & { flush(done?: () => void): void } {
  // sonic-boom does the writing: partial writes, EAGAIN on a non-blocking pipe, EPIPE once the reader is gone.
  const stdout = pino.destination({ dest: 1, sync: true });
  let batch = '';
  let timer: NodeJS.Timeout | undefined;
  const flush = () => {
    clearTimeout(timer);
    timer = undefined;
    if (batch === '') return;
    const lines = batch;
    batch = '';
    stdout.write(lines);
  };
  process.once('exit', flush);
  return {
    write(line: string) {
      batch += line;
      if (batch.length >= BATCH_CHARS) flush();
      // Armed by a line only, so an idle process never wakes up for the log.
      else timer ??= setTimeout(flush, FLUSH_MS).unref();
    },
    flush(done) {
      flush();
      done?.();
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
  // Unless told otherwise (the server's bufferedStdout, tests that read their lines): stdout, each line written
  // at once. pino's default queues lines for the thread pool, and Lambda freezes the process when the handler
  // returns, with queued lines late or lost.
  const logger = pino(options, destination ?? pino.destination({ dest: 1, sync: true }));
  // pino applies no formatter to a child's bindings, so they are cleaned on the way in. Children inherit this
  // method through their prototype, so a child's child (Fastify's request loggers) is covered too.
  const child = logger.child;
  logger.child = function redactedChild(this: Logger, bindings, childOptions) {
    return child.call(this, redactSecrets(bindings), childOptions);
  } as typeof logger.child;
  return logger;
}
