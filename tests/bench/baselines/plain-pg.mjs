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

// The statement the items function runs for a user's page (Kysely's compiled text of repository.ts listItems):
// the page and the count in one round trip.
const LIST =
  'select "total"."count", "page".* from (select count(*) as "count" from "item" where "owner_id" = $1) as "total" ' +
  'left join lateral (select * from "item" where "owner_id" = $2 order by "created_at" desc, "id" limit $3 offset $4) ' +
  'as "page" on true order by "page"."created_at" desc, "page"."id"';

app.get('/items/', async (request) => {
  const owner = request.query.owner;
  const limit = Number(request.query.limit ?? 100);
  const { rows } = await pool.query(LIST, [owner, owner, limit, 0]);
  const data = rows.filter((row) => row.id !== null).map(({ count: _, ...item }) => item);
  return { data, count: Number(rows[0].count) };
});

await app.listen({ host: '0.0.0.0', port: Number(process.env.PORT) });
