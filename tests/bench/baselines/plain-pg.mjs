// Throughput baseline: Fastify running the SQL of functions/items/repository.ts with plain pg (a pool of the same
// size), without auth, validation, cache, logging or Kysely: what the items function costs on top of its queries.
import Fastify from 'fastify';
import pg from 'pg';

const pool = new pg.Pool({
  connectionString: process.env.DATABASE_URL,
  max: Number(process.env.DB_POOL_MAX ?? 5),
});
const app = Fastify();

app.get('/items/:id', async (request, reply) => {
  const { rows } = await pool.query('select * from "item" where "id" = $1', [request.params.id]);
  if (rows.length === 0) return reply.code(404).send({ detail: 'not found' });
  return rows[0];
});

// The statement the items function runs for a user's first page (Kysely's compiled text of repository.ts
// listItems): the page and the count (from the counters the triggers keep) in one round trip.
const LIST =
  'select "total"."count", "page".* from (select coalesce(sum(case when counter = $1 then n else -n end), 0) as "count" ' +
  'from "row_count" where "counter" in ($2, $3)) as "total" left join lateral (select "item".*, ' +
  '(extract(epoch from "item"."created_at") * 1000000)::bigint::text as "position_at" from "item" ' +
  'where "item"."owner_id" = $4 order by "item"."created_at" desc, "item"."id" desc offset $5 limit $6) as "page" on true ' +
  'order by "page"."created_at" desc, "page"."id" desc';

app.get('/items/', async (request) => {
  const owner = request.query.owner;
  const limit = Number(request.query.limit ?? 100);
  const counter = `item:${owner}`;
  const { rows } = await pool.query(LIST, [counter, counter, '', owner, 0, limit + 1]);
  const data = rows
    .filter((row) => row.id !== null)
    .slice(0, limit)
    .map(({ count: _, position_at: __, ...item }) => item);
  return { data, count: Number(rows[0].count) };
});

await app.listen({ host: '0.0.0.0', port: Number(process.env.PORT) });
