import type { FastifyReply } from 'fastify';
import type { AppContext } from './context.ts';

/**
 * Work a request starts that its response does not wait for: the account-dependent part of a password
 * recovery, a relay pass after a commit. A server just runs it, and its shutdown waits for it (shared/http/
 * app.ts). Lambda freezes the environment once the handler returns, so the Lambda handler settles it before
 * returning (shared/http/lambda.ts): there it still completes, though the caller waits for it too.
 */

const running = new WeakMap<AppContext, Set<Promise<void>>>();

/** Tracks `work` until it settles; a failure is logged, never thrown at anyone. */
export function runInBackground(ctx: AppContext, what: string, work: Promise<unknown>): void {
  let tasks = running.get(ctx);
  if (!tasks) {
    tasks = new Set();
    running.set(ctx, tasks);
  }
  const task = work.then(
    () => undefined,
    (error: unknown) => ctx.log.error({ err: error }, `${what} failed`),
  );
  tasks.add(task);
  void task.finally(() => tasks.delete(task));
}

/**
 * Runs `work` once the response has gone out (or the client went away), so nothing it does, nor how long it
 * takes, shows in the answer. Registered at once, so a shutdown or a Lambda return in between still waits for it.
 */
export function afterResponse(
  ctx: AppContext,
  reply: FastifyReply,
  what: string,
  work: () => Promise<unknown>,
): void {
  const sent = new Promise<void>((resolve) => {
    if (reply.raw.writableFinished || reply.raw.destroyed) resolve();
    else reply.raw.once('close', () => resolve());
  });
  runInBackground(ctx, what, sent.then(work));
}

/** Resolves when every tracked task has settled, including those the settling ones started. */
export async function settleBackground(ctx: AppContext): Promise<void> {
  const tasks = running.get(ctx);
  while (tasks && tasks.size > 0) await Promise.all(tasks);
}
