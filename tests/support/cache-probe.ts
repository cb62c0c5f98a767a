import * as v from 'valibot';
import { requireUser } from '../../shared/auth/current-user.ts';
import { assertLoginAllowed, recordLoginFailure } from '../../shared/cache/rate-limit.ts';
import type { FunctionDefinition } from '../../shared/http/app.ts';
import { unauthorized } from '../../shared/http/errors.ts';
import { defineRoute } from '../../shared/http/route.ts';

/**
 * A function made for the cache tests: an authenticated route (the token's user goes through the shared
 * cache) and a login that always fails, used the way the auth function uses the login limits.
 */
export const cacheProbe: FunctionDefinition = {
  name: 'probe',
  prefixes: ['/api/probe'],
  routes: [
    defineRoute({
      method: 'GET',
      url: '/api/probe/me',
      operationId: 'probe_me',
      summary: 'The caller, as the current-user hook sees it',
      auth: requireUser,
      responses: { 200: { description: 'the caller' } },
      async handler({ user }) {
        return { id: user.id, full_name: user.full_name, is_active: user.is_active };
      },
    }),
    defineRoute({
      method: 'POST',
      url: '/api/probe/login',
      operationId: 'probe_login',
      summary: 'A login whose password is always wrong',
      body: v.strictObject({ username: v.string() }),
      responses: {},
      async handler({ ctx, body, request }) {
        await assertLoginAllowed(ctx, body.username, request.ip);
        await recordLoginFailure(ctx, body.username, request.ip);
        throw unauthorized('Incorrect email or password.');
      },
    }),
  ],
};
