import { type IncomingMessage, type ServerResponse, STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { PROBLEM_CONTENT_TYPE, problem } from './problem.ts';
import { newRequestId, requestIdOf } from './request-id.ts';

const CLIENT_ERRORS: Record<string, [number, string]> = {
  HPE_HEADER_OVERFLOW: [431, 'The request headers are too large.'],
  ERR_HTTP_REQUEST_TIMEOUT: [408, 'The request took too long to arrive.'],
};

/** How long a connection answered here may linger for its client to read the answer. */
const LINGER_MS = 2_000;

/** Sockets answered here: Node's parser reports each further chunk they send as another error. */
const answered = new WeakSet<Duplex>();

/** An answer to HEAD has no body (RFC 9110): the bytes Node's parser read are all that tell the method. */
const isHead = (rawPacket: unknown) =>
  Buffer.isBuffer(rawPacket) && rawPacket.subarray(0, 5).toString('latin1') === 'HEAD ';

/**
 * Fastify's `clientErrorHandler`. Requests Node's HTTP parser rejects (headers over its limit, a garbled request
 * line) never reach Fastify's handlers; Fastify's default answer is plain JSON. They get problem+json like every
 * other error.
 */
export function answerClientError(
  error: NodeJS.ErrnoException & { rawPacket?: unknown },
  socket: Duplex,
): void {
  if (error.code === 'ECONNRESET' || socket.destroyed || answered.has(socket)) return;
  if (!socket.writable) {
    socket.destroy(error);
    return;
  }
  const [status, detail] = CLIENT_ERRORS[error.code ?? ''] ?? [400, 'The request is malformed.'];
  const body = JSON.stringify(problem(status, detail));
  answered.add(socket);
  // Half-closed after the answer, and closed only once the client has read it (or after LINGER_MS): closing
  // at once while the client is still sending makes the kernel reset the connection, and the reset can reach
  // the client before the answer does. What it still sends meanwhile is read and dropped.
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: ${PROBLEM_CONTENT_TYPE}\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nx-request-id: ${newRequestId()}\r\n` +
      `Connection: close\r\n\r\n${isHead(error.rawPacket) ? '' : body}`,
  );
  setTimeout(() => socket.destroy(), LINGER_MS).unref();
}

/**
 * The HTTP server's `checkExpectation` listener. Node answers an `Expect` other than 100-continue with a bare
 * 417 unless someone listens: this one is problem+json with a request id, like every other answer.
 */
export function refuseExpectation(request: IncomingMessage, response: ServerResponse): void {
  const instance = (request.url ?? '/').split('?')[0];
  const detail = `The expectation "${request.headers.expect}" cannot be met; only 100-continue is supported.`;
  const body = JSON.stringify(problem(417, detail, { instance }));
  response.writeHead(417, {
    'content-type': PROBLEM_CONTENT_TYPE,
    'content-length': Buffer.byteLength(body),
    'x-request-id': requestIdOf(request),
    connection: 'close',
  });
  response.end(body);
}
