import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DatabaseHandle } from '../../shared/db/index.ts';
import { TEST_SECRET_KEY, testConfig } from '../support/app.ts';
import { createScratchDatabase, type ScratchDatabase } from '../support/database.ts';
import {
  ONE_CLIENT_LOAD_ENV,
  type Outcome,
  report,
  runWorkers,
  send,
  sleep,
  statusCounts,
} from '../support/load.ts';
import { type OtlpReceiver, startOtlpReceiver } from '../support/otlp-receiver.ts';
import {
  loggedMessages,
  type RunningBundle,
  SHUTDOWN_CUT_SHORT,
  SHUTDOWN_FINISHED,
  startBundle,
} from '../support/process.ts';
import { createTestUser, type TestUser, testDatabase } from '../support/users.ts';

// A rollout: SIGTERM to the items bundle while clients keep creating items. Every request the process
// accepted is answered (no reset), it exits 0 once its shutdown has run to the end, every acknowledged item is stored,
// its CloudEvent reached the sink and the spans of the answered requests reached the collector, both
// flushed at shutdown (the batch delay is a minute, so nothing leaves before SIGTERM by itself).
const WORKERS = 8;
const GRACE_MS = 10_000;

let scratch: ScratchDatabase;
let database: DatabaseHandle;
let sink: Server;
let collector: OtlpReceiver;
let bundle: RunningBundle;
let user: TestUser;
const events: { id: string; type: string; subject: string }[] = [];

beforeAll(async () => {
  scratch = await createScratchDatabase();
  const config = testConfig({ DATABASE_URL: scratch.url });
  database = testDatabase(config);
  user = await createTestUser(database.db, config);
  sink = createServer((request, response) => {
    request.resume().on('end', () => {
      events.push({
        id: String(request.headers['ce-id']),
        type: String(request.headers['ce-type']),
        subject: String(request.headers['ce-subject']),
      });
      response.writeHead(202).end();
    });
  });
  sink.listen(0, '127.0.0.1');
  await once(sink, 'listening');
  const sinkAddress = sink.address();
  collector = await startOtlpReceiver();
  bundle = await startBundle(
    'items',
    {
      DATABASE_URL: scratch.url,
      SECRET_KEY: TEST_SECRET_KEY,
      // The shutdown's last line ("stopped") is at info.
      LOG_LEVEL: 'info',
      DATA_DIR: tmpdir(),
      K_SINK: `http://127.0.0.1:${typeof sinkAddress === 'object' && sinkAddress ? sinkAddress.port : 0}/`,
      OTEL_EXPORTER_OTLP_ENDPOINT: collector.endpoint,
      OTEL_BSP_SCHEDULE_DELAY: '60000',
      OTEL_BSP_MAX_QUEUE_SIZE: '100000',
      ...ONE_CLIENT_LOAD_ENV,
    },
    { cwd: tmpdir() },
  );
}, 60_000);

afterAll(async () => {
  await bundle?.stop('SIGKILL');
  sink?.close();
  await collector?.close();
  await database?.close();
  await scratch?.drop();
});

describe('rollout: SIGTERM under steady load', () => {
  it('answers everything it accepted, exits 0 after a complete shutdown, and flushes events and spans', async () => {
    const outcomes: (Outcome & { afterSignal: boolean; title: string })[] = [];
    let signalled = false;
    const exited = once(bundle.child, 'exit') as Promise<[number | null]>;
    // Closed once its output has been read to the end, last log line included.
    const closed = once(bundle.child, 'close');
    let exitedAt = 0;
    void exited.then(() => {
      exitedAt = Date.now();
    });
    const traffic = runWorkers(
      WORKERS,
      async (worker, i) => {
        const afterSignal = signalled;
        const title = `rollout ${worker}-${i}`;
        const outcome = await send(`${bundle.url}/api/items/`, {
          method: 'POST',
          headers: { ...user.auth, 'content-type': 'application/json' },
          body: JSON.stringify({ title }),
        });
        outcomes.push({ ...outcome, afterSignal, title });
        if (outcome.status === 0) await sleep(20);
      },
      // Clients keep going until the process is gone, as a router would until the endpoint is removed.
      { signal: AbortSignal.timeout(3_000 + GRACE_MS) },
    );

    await sleep(3_000);
    const signalledAt = Date.now();
    signalled = true;
    bundle.child.kill('SIGTERM');
    const [code] = await exited;
    const exitMs = exitedAt - signalledAt;
    // Stop the clients now that nothing listens.
    await Promise.race([traffic, sleep(2_000)]);

    expect(code).toBe(0);
    // It stopped on its own, every shutdown step done, rather than at its deadline (which keeps it in the
    // grace period whatever happens, so the time it took is printed below, not asserted).
    await closed;
    expect(loggedMessages(bundle)).toContain(SHUTDOWN_FINISHED);
    expect(loggedMessages(bundle)).not.toContain(SHUTDOWN_CUT_SHORT);

    // Answered, or never accepted: refused once the listener closed, or sent on an idle keep-alive connection
    // the server was closing at that instant (HTTP/1.1's inherent race; the client may retry). A request the
    // server did accept is never cut off: no reset request left a row behind.
    const dropped = outcomes.filter((o) => o.status === 0 && o.error !== 'ECONNREFUSED');
    for (const o of dropped) expect(o.afterSignal, `${o.error} before SIGTERM`).toBe(true);
    const processedButCut = dropped.length
      ? await database.db
          .selectFrom('item')
          .select('title')
          .where(
            'title',
            'in',
            dropped.map((o) => o.title),
          )
          .execute()
      : [];
    expect(processedButCut).toEqual([]);
    const answered = outcomes.filter((o) => o.status !== 0);
    for (const o of answered) {
      if (o.status === 201) continue;
      // A request arriving on an open connection while the server closes gets a 503 problem+json.
      expect(o.status, JSON.stringify(o.body)).toBe(503);
      expect(o.problemJson).toBe(true);
      expect(o.afterSignal).toBe(true);
    }
    const created = answered.filter((o) => o.status === 201).map((o) => (o.body as { id: string }).id);
    expect(created.length).toBeGreaterThan(0);

    // Every acknowledged item is stored, once.
    const stored = await database.db.selectFrom('item').select('id').execute();
    const storedIds = new Set(stored.map((row) => row.id));
    const lost = created.filter((id) => !storedIds.has(id));
    expect(lost).toEqual([]);
    expect(stored.length).toBe(created.length);

    // Its event reached the sink before the process exited (the outbox was flushed, none left behind).
    const delivered = new Set(
      events.filter((e) => e.type === 'com.example.items.created').map((e) => e.subject),
    );
    const undelivered = created.filter((id) => !delivered.has(id));
    expect(undelivered).toEqual([]);
    const pending = await database.db
      .selectFrom('outbox_event')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .where('delivered_at', 'is', null)
      .executeTakeFirstOrThrow();
    expect(Number(pending.n)).toBe(0);

    // The server span of every answered request was exported by the shutdown flush.
    const serverSpans = collector.spans.filter(
      (s) => s.kind === 'SPAN_KIND_SERVER' && s.attributes['http.route'] === '/api/items/',
    );
    expect(serverSpans.length).toBe(answered.length);

    report('rollout: SIGTERM under load (items bundle)', {
      requests: outcomes.length,
      statuses: statusCounts(outcomes),
      acknowledged_writes: created.length,
      lost_writes: lost.length,
      events_delivered: delivered.size,
      spans_exported: serverSpans.length,
      reset_unprocessed: dropped.length,
      exit_code: code,
      exit_ms: exitMs,
    });
  }, 60_000);
});
