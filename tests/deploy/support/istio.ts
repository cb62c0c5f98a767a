/**
 * Just enough of Istio's (Envoy's) matching semantics to answer "where does this request go?" and "does the
 * gateway demand a token?" from the rendered manifests, the way the proxy would.
 */

export interface StringMatch {
  exact?: string;
  prefix?: string;
  regex?: string;
}

export interface HttpMatch {
  uri?: StringMatch;
  method?: StringMatch;
  ignoreUriCase?: boolean;
  [field: string]: unknown;
}

export interface HttpRoute {
  name?: string;
  match?: HttpMatch[];
  rewrite?: { authority?: string; uri?: string };
  route?: { destination: { host: string; port?: { number: number } } }[];
  directResponse?: { status: number };
}

export interface VirtualServiceSpec {
  hosts: string[];
  gateways?: string[];
  http: HttpRoute[];
}

function stringMatches(match: StringMatch, value: string, ignoreCase = false): boolean {
  const subject = ignoreCase ? value.toLowerCase() : value;
  if (match.exact !== undefined) return subject === (ignoreCase ? match.exact.toLowerCase() : match.exact);
  if (match.prefix !== undefined)
    return subject.startsWith(ignoreCase ? match.prefix.toLowerCase() : match.prefix);
  // Envoy's safe_regex must match the whole value (RE2 full match).
  if (match.regex !== undefined) return new RegExp(`^(?:${match.regex})$`, ignoreCase ? 'i' : '').test(value);
  return true;
}

function matchFields(match: HttpMatch): string[] {
  return Object.keys(match).filter((key) => key !== 'name' && key !== 'ignoreUriCase');
}

/** One HTTPMatchRequest: every condition it sets must hold. Exact and regex URI matches ignore the query string. */
function requestMatches(match: HttpMatch, method: string, pathWithQuery: string): boolean {
  const unsupported = matchFields(match).filter((field) => field !== 'uri' && field !== 'method');
  if (unsupported.length > 0) throw new Error(`the test matcher does not model ${unsupported.join(', ')}`);
  const path = pathWithQuery.split('?')[0] ?? pathWithQuery;
  if (match.uri) {
    const subject = match.uri.prefix !== undefined ? pathWithQuery : path;
    if (!stringMatches(match.uri, subject, match.ignoreUriCase)) return false;
  }
  if (match.method && !stringMatches(match.method, method)) return false;
  return true;
}

/** The first route (in order) that takes the request, as Istio evaluates a VirtualService; undefined: none. */
export function firstMatchingRoute(
  spec: VirtualServiceSpec,
  method: string,
  pathWithQuery: string,
): HttpRoute | undefined {
  return spec.http.find(
    (route) => !route.match || route.match.some((m) => requestMatches(m, method, pathWithQuery)),
  );
}

// --- AuthorizationPolicy -----------------------------------------------------------------------------------

interface Operation {
  paths?: string[];
  notPaths?: string[];
  methods?: string[];
  notMethods?: string[];
  hosts?: string[];
  notHosts?: string[];
  ports?: string[];
  notPorts?: string[];
}

interface Source {
  requestPrincipals?: string[];
  notRequestPrincipals?: string[];
  [field: string]: unknown;
}

interface Rule {
  from?: { source: Source }[];
  to?: { operation: Operation }[];
  when?: unknown[];
}

export interface AuthorizationPolicySpec {
  action?: 'ALLOW' | 'DENY' | 'AUDIT' | 'CUSTOM';
  rules?: Rule[];
}

/** Istio's path and principal patterns: exact, "prefix*", "*suffix", or "*". */
function patternMatches(pattern: string, value: string): boolean {
  if (pattern === '*') return true;
  if (pattern.endsWith('*')) return value.startsWith(pattern.slice(0, -1));
  if (pattern.startsWith('*')) return value.endsWith(pattern.slice(1));
  return value === pattern;
}

const anyMatches = (patterns: string[], value: string) => patterns.some((p) => patternMatches(p, value));

function operationMatches(op: Operation, method: string, path: string): boolean {
  for (const field of ['hosts', 'notHosts', 'ports', 'notPorts'] as const) {
    if (op[field]) throw new Error(`the test matcher does not model operation.${field}`);
  }
  if (op.paths && !anyMatches(op.paths, path)) return false;
  if (op.notPaths && anyMatches(op.notPaths, path)) return false;
  if (op.methods && !op.methods.includes(method)) return false;
  if (op.notMethods?.includes(method)) return false;
  return true;
}

function sourceMatches(source: Source, principal: string | undefined): boolean {
  const unsupported = Object.keys(source).filter(
    (k) => k !== 'requestPrincipals' && k !== 'notRequestPrincipals',
  );
  if (unsupported.length > 0)
    throw new Error(`the test matcher does not model source.${unsupported.join(', ')}`);
  // Without a verified JWT there is no request principal: it matches no pattern, not even "*".
  if (
    source.requestPrincipals &&
    (principal === undefined || !anyMatches(source.requestPrincipals, principal))
  ) {
    return false;
  }
  if (
    source.notRequestPrincipals &&
    principal !== undefined &&
    anyMatches(source.notRequestPrincipals, principal)
  ) {
    return false;
  }
  return true;
}

function ruleMatches(rule: Rule, method: string, path: string, principal: string | undefined): boolean {
  if (rule.when) throw new Error('the test matcher does not model rule.when');
  const fromOk = !rule.from || rule.from.some((f) => sourceMatches(f.source, principal));
  const toOk = !rule.to || rule.to.some((t) => operationMatches(t.operation, method, path));
  return fromOk && toOk;
}

/**
 * Whether a DENY policy refuses the request. Istio matches AuthorizationPolicy paths on the path without its
 * query string.
 */
export function deniedBy(
  policy: AuthorizationPolicySpec,
  method: string,
  pathWithQuery: string,
  principal: string | undefined,
): boolean {
  if (policy.action !== 'DENY') throw new Error('only DENY policies are modelled');
  const path = pathWithQuery.split('?')[0] ?? pathWithQuery;
  return (policy.rules ?? []).some((rule) => ruleMatches(rule, method, path, principal));
}
