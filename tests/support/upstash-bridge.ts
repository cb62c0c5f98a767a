import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { RedisConnection, RedisErrorReply, type RedisReply, RedisStatus } from './redis.ts';

/**
 * A test-only server that speaks the Upstash REST protocol in front of the machine's real Redis, the way
 * serverless-redis-http does in the cluster:
 *   POST /            one command as a JSON array          → {"result": …} or 400 {"error": …}
 *   POST /pipeline    an array of commands, run in order   → [{"result": …} | {"error": …}, …]
 *   POST /multi-exec  an array of commands, one MULTI/EXEC → the same array, or 400 {"error": …}
 * with `Authorization: Bearer <token>` (401 {"error":"Unauthorized"} otherwise), and results base64-encoded
 * when the request says `Upstash-Encoding: base64` (as @upstash/redis does by default): strings are encoded,
 * numbers and nulls are not, nor the "OK" status that the client passes through as is.
 *
 * Every key is stored under a prefix of its own (one per bridge), so test runs never see each other's keys on
 * the shared Redis, and `close()` deletes them all. Only commands whose key positions the bridge knows are
 * accepted; anything else is an error, so a new command in the cache code is noticed here, not mis-prefixed.
 */

type Arg = string | number;

const ALL_KEYS = new Set(['DEL', 'UNLINK', 'EXISTS', 'MGET', 'TOUCH']);
const FIRST_KEY = new Set([
  'GET',
  'SET',
  'SETEX',
  'PSETEX',
  'SETNX',
  'GETDEL',
  'GETEX',
  'INCR',
  'INCRBY',
  'DECR',
  'DECRBY',
  'EXPIRE',
  'PEXPIRE',
  'EXPIREAT',
  'TTL',
  'PTTL',
  'PERSIST',
  'TYPE',
  'STRLEN',
]);
const NO_KEYS = new Set(['PING', 'ECHO', 'TIME']);

class BadCommand extends Error {}

function prefixKeys(command: unknown, prefix: string): Arg[] {
  if (!Array.isArray(command) || command.length === 0)
    throw new BadCommand('ERR the command must be a non-empty JSON array');
  if (!command.every((arg) => typeof arg === 'string' || typeof arg === 'number'))
    throw new BadCommand('ERR command arguments must be strings or numbers');
  const [name, ...args] = command as Arg[];
  const upper = String(name).toUpperCase();
  if (NO_KEYS.has(upper)) return [upper, ...args];
  if (ALL_KEYS.has(upper)) return [upper, ...args.map((key) => `${prefix}${key}`)];
  if (FIRST_KEY.has(upper) && args.length > 0) return [upper, `${prefix}${args[0]}`, ...args.slice(1)];
  if ((upper === 'EVAL' || upper === 'EVALSHA') && args.length >= 2) {
    const keys = Number(args[1]);
    return [
      upper,
      args[0] as Arg,
      keys,
      ...args.slice(2, 2 + keys).map((k) => `${prefix}${k}`),
      ...args.slice(2 + keys),
    ];
  }
  throw new BadCommand(`ERR ${upper} is not supported by the test Upstash bridge`);
}

type Json = string | number | null | Json[];

function encodeResult(reply: RedisReply, base64: boolean): Json {
  if (reply === null || typeof reply === 'number') return reply;
  if (reply instanceof RedisStatus)
    return base64 && reply.value !== 'OK' ? Buffer.from(reply.value).toString('base64') : reply.value;
  if (Buffer.isBuffer(reply)) return base64 ? reply.toString('base64') : reply.toString('utf8');
  if (reply instanceof RedisErrorReply) return reply.message;
  return reply.map((item) => encodeResult(item, base64));
}

function entry(reply: RedisReply, base64: boolean): { result: Json } | { error: string } {
  return reply instanceof RedisErrorReply
    ? { error: reply.message }
    : { result: encodeResult(reply, base64) };
}

async function readJson(request: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new BadCommand('ERR failed to parse the request body as JSON');
  }
}

function send(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

export interface UpstashBridge {
  url: string;
  token: string;
  /** The Redis key prefix of this bridge: `redis.call('TTL', bridge.key('fs:…'))` reads what the app wrote. */
  prefix: string;
  key(key: string): string;
  /** A direct connection to the same Redis, for assertions behind the app's back. */
  redis: RedisConnection;
  /** UPSTASH_REDIS_REST_URL/TOKEN for an app or a bundle. */
  env: { UPSTASH_REDIS_REST_URL: string; UPSTASH_REDIS_REST_TOKEN: string };
  /** How many HTTP requests the bridge has answered. */
  requests(): number;
  close(): Promise<void>;
}

export async function startUpstashBridge(): Promise<UpstashBridge> {
  const token = randomBytes(16).toString('hex');
  const prefix = `fs-test:${process.pid}:${randomBytes(4).toString('hex')}:`;
  const redis = await RedisConnection.connect();
  const commands = await RedisConnection.connect();
  let answered = 0;

  const handle = async (request: IncomingMessage, response: ServerResponse) => {
    const path = (request.url ?? '/').split('?')[0];
    if (request.method !== 'POST') return send(response, 405, { error: 'Method not allowed' });
    if (request.headers.authorization !== `Bearer ${token}`)
      return send(response, 401, { error: 'Unauthorized' });
    const base64 = String(request.headers['upstash-encoding'] ?? '').toLowerCase() === 'base64';
    const body = await readJson(request);
    if (path === '/') {
      const [reply] = await commands.send([prefixKeys(body, prefix)]);
      const result = entry(reply as RedisReply, base64);
      return send(response, 'error' in result ? 400 : 200, result);
    }
    if (path !== '/pipeline' && path !== '/multi-exec') return send(response, 404, { error: 'Not found' });
    if (!Array.isArray(body) || body.length === 0)
      throw new BadCommand('ERR the body must be a non-empty array of commands');
    const list = body.map((command) => prefixKeys(command, prefix));
    if (path === '/pipeline') {
      const replies = await commands.send(list);
      return send(
        response,
        200,
        replies.map((reply) => entry(reply, base64)),
      );
    }
    const replies = await commands.send([['MULTI'], ...list, ['EXEC']]);
    const exec = replies[replies.length - 1] as RedisReply;
    if (exec instanceof RedisErrorReply || !Array.isArray(exec))
      return send(response, 400, {
        error: exec instanceof RedisErrorReply ? exec.message : 'ERR transaction aborted',
      });
    return send(
      response,
      200,
      exec.map((reply) => entry(reply, base64)),
    );
  };

  const server = createServer((request, response) => {
    handle(request, response)
      .catch((error: unknown) => {
        if (error instanceof BadCommand) send(response, 400, { error: error.message });
        else send(response, 500, { error: 'ERR internal error in the test bridge' });
      })
      .finally(() => {
        answered += 1;
      });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url,
    token,
    prefix,
    key: (key) => `${prefix}${key}`,
    redis,
    env: { UPSTASH_REDIS_REST_URL: url, UPSTASH_REDIS_REST_TOKEN: token },
    requests: () => answered,
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await redis.deleteMatching(`${prefix}*`);
      await Promise.all([redis.close(), commands.close()]);
    },
  };
}
