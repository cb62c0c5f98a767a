import { setTimeout as sleep } from 'node:timers/promises';
import * as v from 'valibot';
import type { FunctionDefinition } from '../../shared/http/app.ts';
import { defineRoute } from '../../shared/http/route.ts';

/**
 * A function with one route, `GET /api/slow?ms=…`, that answers `{ done: true }` after that many milliseconds:
 * a request in flight for as long as a test needs. `onHandled` runs as it answers.
 */
export function slowFunction(onHandled?: () => void): FunctionDefinition {
  return {
    name: 'slow',
    prefixes: ['/api/slow'],
    routes: [
      defineRoute({
        method: 'GET',
        url: '/api/slow',
        operationId: 'slow',
        summary: 'answers after ?ms',
        query: v.object({ ms: v.pipe(v.string(), v.transform(Number)) }),
        responses: {},
        async handler({ query }) {
          await sleep(query.ms);
          onHandled?.();
          return { done: true };
        },
      }),
    ],
  };
}
