import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { allFunctions } from '../../functions/registry.ts';
import { SCHEMAS_DIR } from '../support/schemas.ts';
import { CONTRACT_FUNCTIONS, CONTRACT_PREFIXES, functionFolders } from './support/functions.ts';
import {
  type AuthorizationPolicySpec,
  deniedBy,
  firstMatchingRoute,
  type VirtualServiceSpec,
} from './support/istio.ts';
import { type Manifest, render } from './support/manifests.ts';

const LOCAL_GATEWAY = 'knative-local-gateway.istio-system.svc.cluster.local';
const USER_ID = '0b7c6f3e-1d2a-4c5b-9e8f-7a6b5c4d3e2f';

function spec<T>(manifests: Manifest[], kind: string, name: string): T {
  const found = manifests.find((m) => m.kind === kind && m.metadata.name === name);
  if (!found) throw new Error(`no ${kind} ${name}`);
  return found.spec as T;
}

const overlays = { dev: render('knative/overlays/dev'), prod: render('knative/overlays/prod') };

describe.each(Object.entries(overlays))('the %s route table', (_, manifests) => {
  const routes = spec<VirtualServiceSpec>(manifests, 'VirtualService', 'api');
  const policy = spec<AuthorizationPolicySpec>(manifests, 'AuthorizationPolicy', 'api-require-jwt');
  const serviceNames = new Set(manifests.filter((m) => m.kind === 'Service').map((m) => m.metadata.name));

  /** The function a request reaches through the gateway; 'not-found' for the 404 route; undefined if none. */
  function destination(method: string, path: string): string | undefined {
    const route = firstMatchingRoute(routes, method, path);
    if (!route) return undefined;
    if (route.directResponse) return route.directResponse.status === 404 ? 'not-found' : 'direct';
    const authority = route.rewrite?.authority ?? '';
    return (
      /^([a-z0-9-]+)\.function-set\.svc\.cluster\.local$/.exec(authority)?.[1] ?? `bad authority ${authority}`
    );
  }
  const needsToken = (method: string, path: string) => deniedBy(policy, method, path, undefined);

  it('sends every route through knative-local-gateway with the Host of an existing function', () => {
    for (const route of routes.http.filter((r) => !r.directResponse)) {
      expect(route.route?.map((r) => r.destination)).toEqual([{ host: LOCAL_GATEWAY, port: { number: 80 } }]);
      const fn = /^([a-z0-9-]+)\.function-set\.svc\.cluster\.local$/.exec(
        route.rewrite?.authority ?? '',
      )?.[1];
      expect(fn && serviceNames.has(fn), `${route.name} -> ${route.rewrite?.authority}`).toBe(true);
    }
  });

  // Paths where a careless prefix match goes wrong, with where they must land ('not-found': the gateway's
  // problem+json 404; undefined: no route at all, so the gateway never exposes them).
  const tricky: [string, string, string | undefined][] = [
    ['GET', '/api/health', 'health'],
    ['GET', '/api/health/', 'health'],
    ['GET', '/api/health/live', 'health'],
    ['GET', '/api/health/live/', 'health'],
    ['GET', '/api/health?verbose=1', 'health'],
    ['GET', '/api/healthz', 'not-found'],
    ['GET', '/api/healthy/live', 'not-found'],
    ['GET', '/api/metrics', 'health'],
    ['GET', '/api/metrics/', 'health'],
    ['GET', '/api/metricsx', 'not-found'],
    ['POST', '/api/users', 'users'],
    ['POST', '/api/users/', 'users'],
    ['GET', '/api/users/me', 'users'],
    ['GET', `/api/users/${USER_ID}/`, 'users'],
    ['GET', '/api/usersx', 'not-found'],
    ['GET', '/api/items', 'items'],
    ['GET', '/api/items/?skip=0&limit=10', 'items'],
    ['GET', '/api/itemsx', 'not-found'],
    ['POST', '/api/auth/token', 'auth'],
    ['GET', '/api/auth/jwks.json', 'auth'],
    ['GET', '/api/authz', 'not-found'],
    ['GET', '/api/openapi.json', 'docs'],
    ['GET', '/api/openapi.json/', 'docs'],
    ['GET', '/api/openapi.jsonx', 'not-found'],
    ['GET', '/api/docs', 'docs'],
    ['GET', '/api/docs/', 'docs'],
    ['GET', '/api/docs/oauth2-redirect.html', 'docs'],
    ['GET', '/api/redoc', 'docs'],
    ['GET', '/api/redocs', 'not-found'],
    ['GET', '/api', 'not-found'],
    ['GET', '/api/', 'not-found'],
    ['GET', '/healthz', undefined],
    ['GET', '/metrics', undefined],
    ['GET', '/', undefined],
  ];
  it.each(tricky)('%s %s -> %s', (method, path, expected) => {
    expect(destination(method, path)).toBe(expected);
  });

  it("routes every endpoint of CONTRACT.md's table to its function, and asks a token exactly where it says", () => {
    const contract = readFileSync(resolve(SCHEMAS_DIR, 'CONTRACT.md'), 'utf8');
    const rows = [
      ...contract.matchAll(/^\| `(\/api[^`]*)` \| (GET|POST|PUT|PATCH|DELETE) \| (\w+) \| ([^|]+?) \|/gm),
    ];
    expect(rows.length).toBeGreaterThanOrEqual(20);
    for (const [, template, method, fn, auth] of rows) {
      const path = template!.replace(/\{[a-z_]+\}/g, USER_ID);
      const bare = path.endsWith('/') ? path.slice(0, -1) : path;
      for (const variant of new Set([path, bare, `${bare}/`])) {
        expect(destination(method!, variant), `${method} ${variant}`).toBe(fn);
        expect(needsToken(method!, variant), `${method} ${variant} (auth: ${auth})`).toBe(auth !== 'none');
      }
    }
  });

  it('lets CORS preflights and public routes through without a token', () => {
    expect(needsToken('OPTIONS', '/api/items/')).toBe(false);
    expect(needsToken('OPTIONS', '/api/users/me')).toBe(false);
    expect(needsToken('POST', '/api/users/me')).toBe(true);
    expect(needsToken('POST', '/api/items/')).toBe(true);
    expect(deniedBy(policy, 'GET', '/api/items/', 'function-set/some-user-id')).toBe(false);
  });

  const byFunction = (prefixes: Record<string, string[]>) =>
    Object.entries(prefixes).flatMap(([fn, list]) => list.map((prefix) => [fn, prefix] as const));

  describe.each([
    ['the contract table', () => byFunction(CONTRACT_PREFIXES)],
    [
      'functions/registry.ts',
      () => byFunction(Object.fromEntries(allFunctions.map((f) => [f.name, f.prefixes]))),
    ],
  ])('routes each prefix of %s to its function, and nothing longer', (_, entries) => {
    it('P, P/, P/x go to the function; Px does not', () => {
      for (const [fn, prefix] of entries()) {
        for (const path of [prefix, `${prefix}/`, `${prefix}/anything/deeper`, `${prefix}?q=1`]) {
          expect(destination('GET', path), path).toBe(fn);
        }
        expect(destination('GET', `${prefix}x`)).not.toBe(fn);
        expect(destination('GET', `${prefix}-v2/`)).not.toBe(fn);
      }
    });
  });

  it('has a route for no function outside the contract, and none missing', () => {
    const routed = routes.http.filter((r) => !r.directResponse).map((r) => r.name);
    expect([...routed].sort()).toEqual([...CONTRACT_FUNCTIONS].sort());
  });
});

describe('the function definitions', () => {
  it('declare exactly the contract prefixes', () => {
    for (const fn of allFunctions) expect(fn.prefixes, fn.name).toEqual(CONTRACT_PREFIXES[fn.name]);
  });

  it('are all listed in functions/registry.ts', () => {
    expect(allFunctions.map((f) => f.name).sort()).toEqual(functionFolders());
  });
});
