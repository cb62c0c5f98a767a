import { connect, type Socket } from 'node:net';

/**
 * A tiny RESP2 client over node:net for the tests: enough to run commands against the machine's real Redis
 * (127.0.0.1:6379) without a client library. Replies keep the distinctions the Upstash bridge needs: a
 * status ("+OK") is not a bulk string, and an error reply is a value, not an exception.
 */

export class RedisStatus {
  constructor(readonly value: string) {}
}

export class RedisErrorReply {
  constructor(readonly message: string) {}
}

export type RedisReply = RedisStatus | RedisErrorReply | Buffer | number | null | RedisReply[];

const CRLF = Buffer.from('\r\n');

/** Parses one reply at `offset`; undefined when the buffer does not hold all of it yet. */
function parseReply(buffer: Buffer, offset: number): [RedisReply, number] | undefined {
  const end = buffer.indexOf(CRLF, offset);
  if (end < 0) return undefined;
  const line = buffer.toString('utf8', offset + 1, end);
  const next = end + 2;
  switch (String.fromCharCode(buffer[offset] as number)) {
    case '+':
      return [new RedisStatus(line), next];
    case '-':
      return [new RedisErrorReply(line), next];
    case ':':
      return [Number(line), next];
    case '$': {
      const length = Number(line);
      if (length < 0) return [null, next];
      if (buffer.length < next + length + 2) return undefined;
      return [buffer.subarray(next, next + length), next + length + 2];
    }
    case '*': {
      const count = Number(line);
      if (count < 0) return [null, next];
      const items: RedisReply[] = [];
      let at = next;
      for (let i = 0; i < count; i++) {
        const item = parseReply(buffer, at);
        if (!item) return undefined;
        items.push(item[0]);
        at = item[1];
      }
      return [items, at];
    }
    default:
      throw new Error(`unexpected RESP type byte ${buffer[offset]}`);
  }
}

function encodeCommand(args: (string | number | Buffer)[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const arg of args) {
    const bytes = Buffer.isBuffer(arg) ? arg : Buffer.from(String(arg));
    parts.push(Buffer.from(`$${bytes.length}\r\n`), bytes, CRLF);
  }
  return Buffer.concat(parts);
}

interface Pending {
  resolve(reply: RedisReply): void;
  reject(error: Error): void;
}

export class RedisConnection {
  private buffer: Buffer = Buffer.alloc(0);
  private readonly pending: Pending[] = [];

  private constructor(private readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => this.receive(chunk));
    const fail = (error: Error) => {
      for (const waiter of this.pending.splice(0)) waiter.reject(error);
    };
    socket.on('error', fail);
    socket.on('close', () => fail(new Error('redis connection closed')));
  }

  static connect(url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'): Promise<RedisConnection> {
    const { hostname, port } = new URL(url);
    return new Promise((resolve, reject) => {
      const socket = connect({ host: hostname, port: Number(port || 6379) });
      socket.once('connect', () => {
        socket.removeAllListeners('error');
        resolve(new RedisConnection(socket));
      });
      socket.once('error', (error) =>
        reject(new Error(`the cache tests need a Redis at ${url} (set REDIS_URL): ${error.message}`)),
      );
    });
  }

  private receive(chunk: Buffer): void {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    let offset = 0;
    for (;;) {
      const parsed = parseReply(this.buffer, offset);
      if (!parsed) break;
      offset = parsed[1];
      this.pending.shift()?.resolve(parsed[0]);
    }
    this.buffer = this.buffer.subarray(offset);
  }

  /**
   * Sends commands in one write and resolves with their replies in order. Redis runs one connection's
   * commands in the order received, so a MULTI … EXEC sent this way cannot interleave with anyone else's.
   */
  send(commands: (string | number | Buffer)[][]): Promise<RedisReply[]> {
    const replies = commands.map(
      () =>
        new Promise<RedisReply>((resolve, reject) => {
          this.pending.push({ resolve, reject });
        }),
    );
    this.socket.write(Buffer.concat(commands.map(encodeCommand)));
    return Promise.all(replies);
  }

  /** One command; an error reply throws. Bulk strings come back as text. */
  async call(...args: (string | number)[]): Promise<string | number | null | RedisReply[]> {
    const [reply] = await this.send([args]);
    if (reply instanceof RedisErrorReply) throw new Error(reply.message);
    if (reply instanceof RedisStatus) return reply.value;
    if (Buffer.isBuffer(reply)) return reply.toString('utf8');
    return reply as number | null | RedisReply[];
  }

  /** Deletes every key matching `pattern` (SCAN, never KEYS: the server is shared). */
  async deleteMatching(pattern: string): Promise<number> {
    let cursor = '0';
    let deleted = 0;
    do {
      const [next, keys] = (await this.call('SCAN', cursor, 'MATCH', pattern, 'COUNT', 1000)) as [
        Buffer,
        Buffer[],
      ];
      cursor = next.toString();
      if (keys.length > 0) deleted += (await this.call('DEL', ...keys.map(String))) as number;
    } while (cursor !== '0');
    return deleted;
  }

  async close(): Promise<void> {
    if (this.socket.destroyed) return;
    this.socket.end();
    await new Promise((resolve) => this.socket.once('close', resolve));
  }
}
