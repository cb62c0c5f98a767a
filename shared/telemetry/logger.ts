import { writeSync } from 'node:fs';
import { err as serializeError } from 'pino-std-serializers';
import { configure } from 'safe-stable-stringify';
import { LEVEL_NAMES, LEVELS, type Level } from './levels.ts';
import { redactSecrets } from './redact.ts';

// JSON lines on stdout, written the way pino writes them (the same keys, order and error format, with the
// serializers pino uses), by a logger small enough to cost a cold start nothing: pino, building its levels,
// prototypes and destination when a function starts, was ≈ 5 % of a cold start (tests/bench/RESULTS.md).

/** `log.info(object, message?, ...args)` or `log.info(message, ...args)`; printf-style %s %d %i %f %j %o %O. */
export interface LogFn {
  (object: unknown, message?: string, ...args: unknown[]): void;
  (message: string, ...args: unknown[]): void;
}

type Serializer = (value: never) => unknown;
export interface ChildOptions {
  level?: string;
  /** By key of the logged object, as Fastify passes for `req`, `res` and `err`. */
  serializers?: Record<string, Serializer>;
}

export interface Logger {
  level: string;
  /** What Fastify validates a route's logLevel against. */
  readonly levels: { values: Record<string, number>; labels: Record<number, string> };
  trace: LogFn;
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
  fatal: LogFn;
  silent: LogFn;
  isLevelEnabled(level: string): boolean;
  /** A logger whose lines carry `bindings` too (secrets in them redacted, as in any logged object). */
  child(bindings: Record<string, unknown>, options?: ChildOptions): Logger;
  /** Writes what the destination holds back, then calls `done`. */
  flush(done?: (error?: Error) => void): void;
}

export interface DestinationStream {
  write(line: string): void;
  flush?(done?: () => void): void;
}

// pino's: values JSON cannot take (a cycle, a BigInt) go through safe-stable-stringify, bounded. Made when first
// needed: the bundles load it then (tools/bundle/plugins.mjs), as they load pino's error serializer.
let stringifySafe: ReturnType<typeof configure> | undefined;
function stringify(value: unknown): string | undefined {
  try {
    return JSON.stringify(value);
  } catch {
    try {
      stringifySafe ??= configure({ maximumDepth: 5, maximumBreadth: 100 });
      return stringifySafe(value);
    } catch {
      return '"[unable to serialize, circular reference is too complex to analyze]"';
    }
  }
}

/** One value as JSON, or undefined for what a line leaves out (undefined, functions, symbols). */
function jsonOf(value: unknown): string | undefined {
  switch (typeof value) {
    case 'undefined':
    case 'function':
    case 'symbol':
      return undefined;
    case 'number':
      return Number.isFinite(value) ? String(value) : 'null';
    case 'boolean':
      return String(value);
    case 'string':
      return JSON.stringify(value);
    default:
      return stringify(value);
  }
}

/** pino's printf (quick-format-unescaped): placeholders take the arguments in turn, and extra ones are dropped. */
export function formatMessage(message: unknown, args: unknown[]): unknown {
  if (message !== null && typeof message === 'object') {
    return args.length === 0 ? message : [message, ...args].map((part) => stringify(part)).join(' ');
  }
  if (typeof message !== 'string' || args.length === 0) return message;
  let next = 0;
  return message.replace(/%([sdifjoO%])/g, (placeholder, kind: string) => {
    if (kind === '%') return '%';
    if (next >= args.length) return placeholder;
    const arg = args[next];
    switch (kind) {
      case 's':
        next += 1;
        return String(arg);
      case 'd':
      case 'f':
      case 'i':
        if (arg === null || arg === undefined) return placeholder;
        next += 1;
        return String(kind === 'i' ? Math.floor(Number(arg)) : Number(arg));
      default:
        if (arg === undefined) return placeholder;
        next += 1;
        if (typeof arg === 'string') return `'${arg}'`;
        if (typeof arg === 'function') return arg.name || '<anonymous>';
        return stringify(arg) ?? String(arg);
    }
  });
}

interface Shared {
  destination: DestinationStream;
  /** `,"function":"health"` and each child's bindings after it: JSON made once per logger, not per line. */
  bindings: string;
  serializers: Record<string, Serializer>;
}

const LABELS = Object.fromEntries(LEVEL_NAMES.map((name) => [LEVELS[name], name]));
const LEVEL_PREFIX = Object.fromEntries(LEVEL_NAMES.map((name) => [name, `{"level":"${name}","time":"`]));

/** Keys pino reads as options when they come as bindings, and never writes. */
const NOT_BINDINGS = new Set(['level', 'serializers', 'formatters', 'customLevels']);

function levelOf(name: string): number {
  const value = LEVELS[name as Level];
  if (value === undefined)
    throw new Error(`unknown log level "${name}"; use one of ${LEVEL_NAMES.join(', ')}`);
  return value;
}

class JsonLogger implements Logger {
  readonly levels = { values: LEVELS as Record<string, number>, labels: LABELS };
  #threshold: number;
  #level: string;

  constructor(
    private readonly shared: Shared,
    level: string,
  ) {
    this.#threshold = levelOf(level);
    this.#level = level;
  }

  get level(): string {
    return this.#level;
  }

  set level(name: string) {
    this.#threshold = levelOf(name);
    this.#level = name;
  }

  isLevelEnabled(name: string): boolean {
    const value = LEVELS[name as Level];
    return value !== undefined && value !== Infinity && value >= this.#threshold;
  }

  // Methods of the prototype, not closures of each logger: Fastify makes a child logger for every request.
  trace(...args: unknown[]): void {
    this.#log('trace', args);
  }
  debug(...args: unknown[]): void {
    this.#log('debug', args);
  }
  info(...args: unknown[]): void {
    this.#log('info', args);
  }
  warn(...args: unknown[]): void {
    this.#log('warn', args);
  }
  error(...args: unknown[]): void {
    this.#log('error', args);
  }
  fatal(...args: unknown[]): void {
    this.#log('fatal', args);
  }
  silent(): void {}

  child(bindings: Record<string, unknown>, options: ChildOptions = {}): Logger {
    const serializers = options.serializers
      ? { ...this.shared.serializers, ...options.serializers }
      : this.shared.serializers;
    let added = '';
    for (const [key, value] of Object.entries(redactSecrets(bindings))) {
      if (NOT_BINDINGS.has(key)) continue;
      const json = jsonOf(serializers[key] ? serializers[key](value as never) : value);
      if (json !== undefined) added += `,"${key}":${json}`;
    }
    const shared = { ...this.shared, bindings: this.shared.bindings + added, serializers };
    return new JsonLogger(shared, options.level || this.#level);
  }

  flush(done?: (error?: Error) => void): void {
    const { destination } = this.shared;
    if (destination.flush) destination.flush(() => done?.());
    else done?.();
  }

  /** pino's reading of the arguments: an object (or an Error, logged as `err`) first, then the message. */
  #log(level: Level, args: unknown[]): void {
    if (LEVELS[level] < this.#threshold) return;
    const [first, ...rest] = args;
    let object: unknown;
    let message: unknown;
    if (typeof first === 'object') {
      object = first;
      message = first === null && rest.length === 0 ? null : formatMessage(rest.shift(), rest);
    } else {
      message = formatMessage(first === undefined ? rest.shift() : first, rest);
    }
    if (object instanceof Error) {
      if (message === undefined) message = object.message;
      object = { err: object };
    } else if (object !== null && typeof object === 'object') {
      const fields = object as Record<string, unknown>;
      if (message === undefined && fields.message === undefined && fields.err)
        message = (fields.err as { message?: unknown }).message;
    }
    this.shared.destination.write(this.#line(level, object, message));
  }

  #line(level: Level, object: unknown, message: unknown): string {
    let line = `${LEVEL_PREFIX[level]}${new Date().toISOString()}"${this.shared.bindings}`;
    if (object !== null && typeof object === 'object') {
      const fields = redactSecrets(object) as Record<string, unknown>;
      const { serializers } = this.shared;
      for (const key in fields) {
        if (!Object.hasOwn(fields, key) || fields[key] === undefined) continue;
        const serialize = serializers[key];
        const json = jsonOf(serialize ? serialize(fields[key] as never) : fields[key]);
        if (json !== undefined) line += `,${JSON.stringify(key)}:${json}`;
      }
    }
    if (message !== undefined) {
      const json = typeof message === 'function' ? undefined : jsonOf(message);
      if (json !== undefined) line += `,"message":${json}`;
    }
    return `${line}}\n`;
  }
}

/**
 * Writes all of `text` to a file descriptor, synchronously: on a full non-blocking pipe (EAGAIN) it waits for
 * the reader and retries; once the reader is gone (EPIPE) the lines have nowhere to go and are dropped, rather
 * than failing the request that logged them.
 */
function writeAll(fd: number, text: string): void {
  let data: string | Buffer = text;
  let length = Buffer.byteLength(text);
  while (length > 0) {
    let written: number;
    try {
      written = typeof data === 'string' ? writeSync(fd, data) : writeSync(fd, data, 0, length);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN') {
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
        continue;
      }
      if (code === 'EPIPE') return;
      throw error;
    }
    if (written === length) return;
    data = (typeof data === 'string' ? Buffer.from(data) : data).subarray(written);
    length -= written;
  }
}

/** stdout, each line written at once: nothing waits, so nothing is lost when the process freezes or exits. */
export function stdout(): DestinationStream {
  return { write: (line) => writeAll(1, line) };
}

/** A line waits at most this long for others to join it, and a batch is written once it holds this many. */
const FLUSH_MS = 100;
const BATCH_CHARS = 8192;

/**
 * stdout for a long-running server: lines are gathered and written 8 KiB at a time, or FLUSH_MS after the first
 * line of a batch. A write(2) per request line would cost a system call each; one 8 KiB write costs the event
 * loop a few microseconds (≈ 6-16 µs measured here).
 * Nothing is lost when the process exits, however it exits (stopOnSignals, process.exit, an uncaught error):
 * the batch is written first. A SIGKILL or a crash of the runtime itself can lose the last FLUSH_MS.
 * Not for Lambda, which freezes the process between invocations with lines still in the batch.
 */
export function bufferedStdout(): DestinationStream & { flush(done?: () => void): void } {
  let batch = '';
  let timer: NodeJS.Timeout | undefined;
  const flush = () => {
    clearTimeout(timer);
    timer = undefined;
    if (batch === '') return;
    const lines = batch;
    batch = '';
    writeAll(1, lines);
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
 * JSON lines, one logger per process; `function` names the function on every line. Secrets are replaced by
 * "[redacted]" wherever they appear in a logged object or a child's bindings (see redact.ts), before the
 * serializers run, so an error's own properties and its cause are cleaned too. Errors are logged as pino logs
 * them: type, message (with its causes'), stack and own properties.
 */
export function createLogger(functionName: string, level: string, destination?: DestinationStream): Logger {
  return new JsonLogger(
    {
      destination: destination ?? stdout(),
      bindings: `,"function":${JSON.stringify(functionName)}`,
      serializers: { err: (error: Error) => serializeError(error) },
    },
    level,
  );
}
