import { describe, expect, it } from 'vitest';
import { startTestServer } from '../support/app.ts';
import { slowFunction } from '../support/slow-function.ts';

const order: string[] = [];
const slow = slowFunction(() => order.push('handled'));

describe('graceful shutdown', () => {
  it('finishes a request in flight, refuses new connections, then runs shutdown hooks and closes the pool', async () => {
    const server = await startTestServer([slow]);
    server.ctx.onClose(() => {
      order.push('hook');
    });
    // Touch the database so there is a pool to close.
    await server.ctx.db.selectFrom('user').select('id').limit(1).execute();
    const pool = server.ctx.database!.pool!;

    const inFlight = server
      .api('/api/slow?ms=400')
      .then(async (r) => ({ status: r.status, body: await r.json() }));
    await new Promise((r) => setTimeout(r, 100));
    const stopped = server.stop().then(() => order.push('stopped'));

    await new Promise((r) => setTimeout(r, 50));
    await expect(
      fetch(`${server.url}/api/slow?ms=0`, { headers: { connection: 'close' } }),
    ).rejects.toThrow();

    expect(await inFlight).toEqual({ status: 200, body: { done: true } });
    await stopped;
    expect(order).toEqual(['handled', 'hook', 'stopped']);
    expect(pool.totalCount).toBe(0);
    expect((pool as unknown as { ending: boolean }).ending).toBe(true);
  });
});
