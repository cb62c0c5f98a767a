// The floor of a cold start: node:http answering JSON on 0.0.0.0:$PORT, as the functions listen.
import { createServer } from 'node:http';

createServer((_request, response) => {
  response.setHeader('content-type', 'application/json; charset=utf-8');
  response.end('{"status":"ok"}');
}).listen(Number(process.env.PORT), '0.0.0.0');
