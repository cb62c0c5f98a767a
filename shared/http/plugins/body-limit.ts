import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import fp from 'fastify-plugin';
import { problem, requestPath, sendProblem } from '../problem.ts';

/** Fastify's `bodyLimit`: the largest body any route reads. */
export const BODY_LIMIT_BYTES = 1024 * 1024;
export const TOO_LARGE_DETAIL = `The request body is larger than ${BODY_LIMIT_BYTES} bytes.`;

export interface BodyLimitOptions {
  /** Bodies declared larger than this many bytes are refused (BODY_LIMIT_BYTES unless given). */
  limit?: number;
  /** Past this many declared bytes the connection is closed without reading on. */
  maxDrainedBytes?: number;
  /** Past this long, too. */
  maxDrainMs?: number;
}

/**
 * A 413 for bodies declared larger than the limit (Content-Length), sent once the body has been read and thrown
 * away, not while the client is still sending it. Answering at once and closing the connection (what Fastify
 * does when its parser refuses a body) makes a client that is still writing see a broken pipe or a reset
 * instead of the answer: fetch and most HTTP libraries report a network error, never the 413. Reading on is
 * bounded: past either bound, the 413 goes out with `Connection: close`. Bodies without a Content-Length are
 * still cut off by the parser's limit (Fastify's `bodyLimit`), which the errors plugin answers alike.
 *
 * @example app.register(bodyLimit, { limit: BODY_LIMIT_BYTES })
 */
export const bodyLimit = fp<BodyLimitOptions>(
  (app, options, done) => {
    const limit = options.limit ?? BODY_LIMIT_BYTES;
    const maxDrainedBytes = options.maxDrainedBytes ?? 16 * 1024 * 1024;
    const maxDrainMs = options.maxDrainMs ?? 5_000;
    const detail = `The request body is larger than ${limit} bytes.`;
    app.addHook(
      'onRequest',
      (request: FastifyRequest, reply: FastifyReply, next: HookHandlerDoneFunction) => {
        const declared = Number(request.headers['content-length']);
        if (!(declared > limit)) return next();
        let timer: NodeJS.Timeout | undefined;
        const answer = (close: boolean) => {
          clearTimeout(timer);
          if (reply.sent || request.raw.destroyed) return;
          if (close) reply.header('connection', 'close');
          sendProblem(reply, problem(413, detail, { instance: requestPath(request) }));
        };
        if (declared > maxDrainedBytes) return answer(true);
        timer = setTimeout(() => answer(true), maxDrainMs).unref();
        request.raw.once('end', () => answer(false));
        request.raw.once('error', () => clearTimeout(timer));
        request.raw.resume();
      },
    );
    done();
  },
  { name: 'body-limit' },
);
