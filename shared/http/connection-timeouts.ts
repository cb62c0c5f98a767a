import type { ServerOptions } from 'node:http';

/**
 * How long a client may take to send a request. Fastify turns Node's request timeout off (0) and leaves the
 * headers timeout at Node's 60 s, checked every 30 s: a client sending its body a byte at a time (a slow POST)
 * held its connection for ever, and one sending its headers so (slowloris) for up to 90 s. Past either bound
 * Node reports ERR_HTTP_REQUEST_TIMEOUT, which client-errors.ts answers with a 408 before closing.
 */
export interface ConnectionTimeouts {
  /** From a request's first byte to the end of its headers (Node's `headersTimeout`). */
  headersMs: number;
  /** From a request's first byte to the end of its body (Node's `requestTimeout`); the handler's time is not counted. */
  requestMs: number;
  /** How often Node looks for requests past either bound: one is cut between its bound and its bound plus this. */
  checkIntervalMs: number;
}

export const CONNECTION_TIMEOUTS: ConnectionTimeouts = {
  // Headers are a few kilobytes, sent at once by any client and by the proxies in front (Envoy forwards them whole).
  headersMs: 10_000,
  // Knative gives up on a request not answered within its timeoutSeconds (30): a longer upload could not succeed.
  requestMs: 30_000,
  checkIntervalMs: 1_000,
};

/**
 * How long an idle keep-alive connection stays open for the proxy in front (Istio's sidecar, Knative's
 * queue-proxy) to reuse; the bounds above run only while a request is arriving, never between requests.
 */
export const KEEP_ALIVE_TIMEOUT_MS = 75_000;

/** The timeouts as Fastify's server options. */
export function connectionTimeoutOptions(timeouts: ConnectionTimeouts) {
  // The headers timeout and the checking interval reach Node only through the server's constructor, which
  // also refuses a headers timeout longer than the request timeout (Node would silently swap them).
  const http: ServerOptions = {
    headersTimeout: timeouts.headersMs,
    requestTimeout: timeouts.requestMs,
    connectionsCheckingInterval: timeouts.checkIntervalMs,
  };
  // Fastify sets the server's requestTimeout after building it, from its own option (0 unless given).
  return { http, requestTimeout: timeouts.requestMs, keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS };
}
