import type { FastifyInstance } from 'fastify';

/** How long after its first answer an instance turns to its own work. */
const AFTER_FIRST_RESPONSE_MS = 250;
/** How long an instance nobody has asked anything waits before it does its own work. */
const IDLE_START_MS = 1_000;

/**
 * Runs `work` shortly after this instance has answered its first request, or IDLE_START_MS after it is ready if
 * none came: what an instance does for itself (delivering what a previous one left in an outbox, which loads the
 * database driver and queries) neither delays the request that woke it from zero nor those the activator queued
 * behind it. The server's `request` event is listened to once, so later requests pay nothing for it.
 */
export function afterFirstResponse(app: FastifyInstance, work: () => void): void {
  let timer: NodeJS.Timeout | undefined;
  app.addHook('onReady', async () => {
    let scheduled = false;
    const runAfter = (ms: number) => {
      if (scheduled) return;
      scheduled = true;
      clearTimeout(timer);
      timer = setTimeout(work, ms).unref();
    };
    timer = setTimeout(() => runAfter(0), IDLE_START_MS).unref();
    app.server.once('request', (_request, response) =>
      response.once('close', () => runAfter(AFTER_FIRST_RESPONSE_MS)),
    );
  });
  // Closing before then leaves that work to the next instance, as a crash would.
  app.addHook('onClose', async () => clearTimeout(timer));
}
