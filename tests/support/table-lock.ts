import pg from 'pg';

/**
 * Runs `use` while another connection holds `table` in access exclusive mode (released when `use` returns or
 * throws). `waiting()` counts the lock requests queued behind it: the statements that reached the table.
 */
export async function whileLocked<T>(
  databaseUrl: string,
  table: string,
  use: (waiting: () => Promise<number>) => Promise<T>,
): Promise<T> {
  const blocker = new pg.Client({ connectionString: databaseUrl });
  await blocker.connect();
  try {
    await blocker.query('begin');
    await blocker.query(`lock table "${table}" in access exclusive mode`);
    const waiting = async () =>
      (
        await blocker.query<{ n: number }>(
          'select count(*)::int as n from pg_locks where relation = $1::regclass and not granted',
          [`"${table}"`],
        )
      ).rows[0]!.n;
    return await use(waiting);
  } finally {
    await blocker.query('rollback').catch(() => {});
    await blocker.end();
  }
}
