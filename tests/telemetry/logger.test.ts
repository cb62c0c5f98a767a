import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { createLogger, formatMessage, type Logger } from '../../shared/telemetry/logger.ts';
import { redactSecrets } from '../../shared/telemetry/redact.ts';

// shared/telemetry/logger.ts writes the lines pino wrote before it replaced pino (to keep pino out of a cold
// start): the same keys in the same order, the same JSON for odd values, the same error format. pino, configured
// as the functions configured it, is the reference here.

function reference(lines: string[]) {
  const log = pino(
    {
      level: 'info',
      base: { function: 'fn' },
      messageKey: 'message',
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }), log: (object) => redactSecrets(object) },
    },
    { write: (line: string) => lines.push(line) },
  );
  const child = log.child;
  log.child = function redactedChild(this: pino.Logger, bindings, options) {
    return child.call(this, redactSecrets(bindings), options);
  } as typeof log.child;
  return log as unknown as Logger;
}

// Made once, so that both loggers are given the very same errors (and stacks).
const error = Object.assign(new Error('boom', { cause: new Error('root') }), {
  code: 'E1',
  token: 't',
  status: 500,
});
const direct = new Error('direct');
const circular: Record<string, unknown> = { a: 1 };
circular.self = circular;

/** Every way the functions, Fastify and the tests log. */
function logEverything(log: Logger) {
  log.info('plain');
  log.info(
    {
      a: 1,
      b: undefined,
      c: () => 1,
      d: 'quote " and newline \n',
      n: Number.NaN,
      inf: Number.POSITIVE_INFINITY,
      big: 10n,
      nested: { k: [1, { password: 'p' }] },
      date: new Date(0),
    },
    'with an object',
  );
  log.warn({ err: error }, 'err key');
  log.error({ err: error });
  log.error(direct);
  log.error(direct, 'with a message');
  log.info({ msg: 'a msg field' });
  log.info({ message: 'a message field' });
  log.info('format %s, %d, %i, %f, %j, %o and %% with %s', 'str', 42.5, 42.5, '1.5', { j: 1 }, 'o');
  log.info({ x: 1 }, 'format %s', 'y', 'extra dropped');
  log.info('missing %s %d');
  log.debug('below the level');
  const child = log.child({ request_id: 'r1', authorization: 'secret', level: 'ignored' });
  child.info({ status: 200 }, 'child line');
  const quieter = child.child({ more: true }, { level: 'warn' });
  quieter.info('below the child level');
  quieter.warn('child of a child');
  const serializing = log.child(
    {},
    { serializers: { req: (r: { method: string }) => ({ method: r.method }) } },
  );
  serializing.info({ req: { method: 'GET', url: '/x', headers: {} } }, 'serialized');
  log.info({ circular }, 'circular');
  log.info({ sym: Symbol('s'), u: undefined, arr: [undefined, () => 1] }, 'odd values');
  log.info(42 as unknown as string);
  log.info(null, 'null object');
  log.info({ time: 'override', level: 'x', function: 'other' }, 'colliding keys');
  log.level = 'debug';
  log.debug('now at debug');
  log.fatal({ signal: 'SIGTERM' }, 'fatal');
}

const normalized = (lines: string[]) => lines.map((line) => line.replace(/"time":"[^"]+"/, '"time":"T"'));

describe('the functions logger', () => {
  it('writes exactly what pino, configured as the functions configured it, wrote', () => {
    const ours: string[] = [];
    const theirs: string[] = [];
    logEverything(createLogger('fn', 'info', { write: (line) => ours.push(line) }));
    logEverything(reference(theirs));
    expect(ours.length).toBeGreaterThan(20);
    expect(normalized(ours)).toEqual(normalized(theirs));
    for (const line of ours) expect(line.endsWith('}\n') && JSON.parse(line)).toBeTruthy();
  });

  it('answers Fastify what a pino logger answers', () => {
    const log = createLogger('fn', 'warn', { write: () => {} });
    expect(log.isLevelEnabled('error')).toBe(true);
    expect(log.isLevelEnabled('info')).toBe(false);
    expect(log.levels.values.warn).toBe(40);
    expect(log.child({}, { level: 'debug' }).isLevelEnabled('debug')).toBe(true);
    expect(() => createLogger('fn', 'loud')).toThrow(/unknown log level "loud"/);
  });

  it('formats messages as pino does', () => {
    expect(formatMessage('a %s b', ['x', 'y'])).toBe('a x b');
    expect(formatMessage('%j', ['s'])).toBe("'s'");
    expect(formatMessage({ a: 1 }, [])).toEqual({ a: 1 });
    expect(formatMessage({ a: 1 }, [2])).toBe('{"a":1} 2');
    expect(formatMessage(7, [])).toBe(7);
  });
});
