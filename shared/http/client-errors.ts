import { type IncomingMessage, type Server, type ServerResponse, STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
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

/**
 * The answer to the last request whose headers were read on each connection; Node drops it from the socket once
 * it is sent, so it is kept here.
 */
const lastResponses = new WeakMap<Duplex, ServerResponse>();

/** The method a request line starts with (`HEAD /`), if the bytes start one. */
function methodAt(bytes: unknown): string | undefined {
  if (!Buffer.isBuffer(bytes)) return undefined;
  return /^([A-Z-]{1,20}) /.exec(bytes.subarray(0, 24).toString('latin1'))?.[1];
}

/** The answer to the last request while that request's body is still arriving. */
function underway(socket: Duplex): ServerResponse | undefined {
  const response = lastResponses.get(socket);
  return response && !response.req.complete ? response : undefined;
}

/**
 * Follows each connection's last request: for answerClientError, so that no second answer follows one already
 * begun for a request whose body is still arriving (it would corrupt the connection), and to let a connection
 * closed after such an answer linger (lingerAfterLastAnswer). Only the `request` event is listened to: a `data`
 * listener on the socket would take every request's bytes off Node's native parsing path, at a cost to every
 * request, so the method of a request whose headers overflow is read only from the packet the parser failed on.
 */
export function followExchanges(server: Server): void {
  server.on('request', (request: IncomingMessage, response: ServerResponse) => {
    lastResponses.set(request.socket, response);
    if (announcesBody(request) && !lingering.has(request.socket)) lingerAfterLastAnswer(request.socket);
  });
}

/** Connections whose close after a last answer lingers (lingerAfterLastAnswer). */
const lingering = new WeakSet<Socket>();

function announcesBody(request: IncomingMessage): boolean {
  const length = request.headers['content-length'];
  return (length !== undefined && length !== '0') || request.headers['transfer-encoding'] !== undefined;
}

/**
 * Node closes a connection after its last answer (the client sent `Connection: close`, or the answer did) with
 * `destroySoon`, as soon as the answer is written. When the request's body is still arriving (an early 400, 401,
 * 404 or 413 to an upload), that close resets the connection, and the reset can reach the client before the
 * answer does: such a connection lingers instead, as after a client error.
 */
function lingerAfterLastAnswer(socket: Socket): void {
  lingering.add(socket);
  const destroySoon = socket.destroySoon;
  socket.destroySoon = () => {
    if (underway(socket)) linger(socket);
    else destroySoon.call(socket);
  };
}

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
  const response = underway(socket);
  answered.add(socket);
  // No second answer once one has begun for the request under way (a 405 sent before its body arrived): that
  // one is left to be read, as below.
  if (response?.headersSent) {
    linger(socket);
    return;
  }
  const [status, detail] = CLIENT_ERRORS[error.code ?? ''] ?? [400, 'The request is malformed.'];
  const body = JSON.stringify(problem(status, detail));
  // An answer to HEAD has no body (RFC 9110). Headers spanning several packets fail on a packet that does not
  // name the method, and a timeout on none: such a HEAD gets the body, which its client drops with the closed
  // connection.
  const method = response ? response.req.method : methodAt(error.rawPacket);
  const answer =
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: ${PROBLEM_CONTENT_TYPE}\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\nx-request-id: ${newRequestId()}\r\n` +
    `Connection: close\r\n\r\n${method === 'HEAD' ? '' : body}`;
  if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    // Closed as soon as the answer is out: the parser took no fault with the request, so bytes read on could
    // complete it and have it handled after its 408 (a slow client sends little, so there is little to reset).
    socket.end(answer, () => socket.destroy());
    return;
  }
  linger(socket, answer);
}

/**
 * Half-closed after the answer, and closed only once the client has read it (or after LINGER_MS): closing at
 * once while the client is still sending makes the kernel reset the connection, and the reset can reach the
 * client before the answer does. What it still sends meanwhile is read and dropped.
 */
function linger(socket: Duplex, answer?: string): void {
  socket.end(answer);
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
