import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';

export interface RawRequest {
  method: string;
  /** Sent as written: malformed percent-encodings and all. */
  path: string;
  headers?: Record<string, string>;
  /** Any method may carry one (fetch refuses a GET with a body). */
  body?: string | Buffer;
}

export interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/**
 * One HTTP/1.1 request on its own connection, through node:http rather than fetch: the path goes out exactly as
 * given and any method can carry a body, as the odd clients a server must stand do.
 */
export function rawRequest(
  base: string,
  { method, path, headers = {}, body }: RawRequest,
): Promise<RawResponse> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    let answered = false;
    // node:http frames a GET's or DELETE's body only when told its length.
    const sent =
      body === undefined ? headers : { 'content-length': String(Buffer.byteLength(body)), ...headers };
    const request = httpRequest(
      { host: hostname, port, method, path, headers: sent, agent: false },
      (response) => {
        answered = true;
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () =>
          resolve({
            status: response.statusCode ?? 0,
            headers: response.headers,
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        );
        response.on('error', reject);
      },
    );
    // The server may answer before it has read a large body and close; the answer is what is asserted.
    request.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EPIPE' && error.code !== 'ECONNRESET') reject(error);
    });
    request.on('close', () => {
      if (!answered) reject(new Error(`${method} ${path}: the connection closed without an answer`));
    });
    request.end(body);
  });
}
