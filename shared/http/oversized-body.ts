import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';

/** Past this many declared bytes, or this long, the connection is closed without reading on. */
const MAX_DRAINED_BYTES = 16 * 1024 * 1024;
const MAX_DRAIN_MS = 5_000;

/**
 * An onRequest hook for bodies declared larger than `limit` (Content-Length): the 413 is sent once the body has
 * been read and thrown away, not while the client is still sending it. Answering at once and closing the
 * connection (what Fastify does when its parser refuses a body) makes a client that is still writing see a
 * broken pipe or a reset instead of the answer: fetch and most HTTP libraries report a network error, never
 * the 413. Reading on is bounded (MAX_DRAINED_BYTES, MAX_DRAIN_MS): past either, the 413 goes out with
 * `Connection: close` as before. Bodies without a Content-Length are still cut off by the parser's limit.
 */
export function refuseOversizedBodies(
  limit: number,
  refuse: (request: FastifyRequest, reply: FastifyReply) => void,
) {
  return (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => {
    const declared = Number(request.headers['content-length']);
    if (!(declared > limit)) return done();
    let timer: NodeJS.Timeout | undefined;
    const answer = (close: boolean) => {
      clearTimeout(timer);
      if (reply.sent || request.raw.destroyed) return;
      if (close) reply.header('connection', 'close');
      refuse(request, reply);
    };
    if (declared > MAX_DRAINED_BYTES) return answer(true);
    timer = setTimeout(() => answer(true), MAX_DRAIN_MS).unref();
    request.raw.once('end', () => answer(false));
    request.raw.once('error', () => clearTimeout(timer));
    request.raw.resume();
  };
}
