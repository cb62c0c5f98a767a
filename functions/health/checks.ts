import { sql } from 'kysely';
import type { AppContext } from '../../shared/http/context.ts';

export type CheckResult = 'ok' | 'down' | 'disabled';

const CHECK_TIMEOUT_MS = 2_000;

function withTimeout<T>(promise: Promise<T>, ms: number, fallback: T): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<T>((resolve) => {
    timer = setTimeout(() => resolve(fallback), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export async function checkDatabase(ctx: AppContext): Promise<CheckResult> {
  const probe = sql`select 1`.execute(ctx.db).then(
    () => 'ok' as const,
    () => 'down' as const,
  );
  return withTimeout(probe, CHECK_TIMEOUT_MS, 'down');
}

export async function checkCache(ctx: AppContext): Promise<CheckResult> {
  if (ctx.cache.kind === 'memory') return 'disabled';
  return withTimeout(
    ctx.cache.ping().catch(() => 'down' as const),
    CHECK_TIMEOUT_MS,
    'down',
  );
}
