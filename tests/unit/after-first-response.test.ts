import Fastify from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { afterFirstResponse } from '../../shared/http/after-first-response.ts';

describe('afterFirstResponse', () => {
  const apps: ReturnType<typeof Fastify>[] = [];
  afterEach(async () => {
    await Promise.all(apps.splice(0).map((app) => app.close()));
  });

  async function serve(work: () => void) {
    const app = Fastify();
    apps.push(app);
    let runsWhileAnswering: number | undefined;
    let runs = 0;
    afterFirstResponse(app, () => {
      runs++;
      work();
    });
    app.get('/', async () => {
      runsWhileAnswering ??= runs;
      return { runs };
    });
    const url = await app.listen({ port: 0, host: '127.0.0.1' });
    return { url, runs: () => runs, runsWhileAnswering: () => runsWhileAnswering };
  }

  it('runs the work once, after the first answer has gone out', async () => {
    const server = await serve(() => {});
    const first = await fetch(`${server.url}/`);
    expect(await first.json()).toEqual({ runs: 0 });
    expect(server.runsWhileAnswering()).toBe(0);
    await expect.poll(server.runs).toBe(1);
    for (let i = 0; i < 3; i++) await (await fetch(`${server.url}/`)).arrayBuffer();
    expect(server.runs()).toBe(1);
  });

  it('runs it anyway when no request comes', async () => {
    const server = await serve(() => {});
    await expect.poll(server.runs, { timeout: 10_000 }).toBe(1);
  });
});
