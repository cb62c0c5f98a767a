// Throughput baseline: Fastify with one JSON route and nothing else.
import Fastify from 'fastify';

const app = Fastify();
app.get('/hello', async () => ({ status: 'ok' }));
await app.listen({ host: '0.0.0.0', port: Number(process.env.PORT) });
