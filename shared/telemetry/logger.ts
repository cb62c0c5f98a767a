import pino, { type DestinationStream, type Logger as PinoLogger } from 'pino';
import { REDACT_PATHS, REDACTED } from './redact.ts';
import { currentTracing } from './tracing.ts';

export type Logger = PinoLogger;

/** The active span's ids, so any line logged inside a request or an event delivery joins its trace. */
function traceContext(): { trace_id?: string; span_id?: string } {
  const span = currentTracing()?.activeSpanContext();
  // A new object each time: pino merges the logged fields into it.
  return span ? { trace_id: span.traceId, span_id: span.spanId } : {};
}

/**
 * pino, one logger per process: JSON lines on stdout with `level` as its name, an ISO `time`, `function` on
 * every line, `message`, and `trace_id`/`span_id` while a span is active (Fastify adds `request_id` to a
 * request's lines). Secrets are redacted at the paths of redact.ts. Lines are written synchronously, each as it
 * is logged: nothing waits in a buffer, so nothing is lost when the process exits, crashes or Lambda freezes it.
 */
export function createLogger(functionName: string, level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { function: functionName },
      messageKey: 'message',
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: REDACT_PATHS, censor: REDACTED },
      mixin: traceContext,
    },
    destination ?? pino.destination({ fd: 1, sync: true }),
  );
}
