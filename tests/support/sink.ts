import { once } from 'node:events';
import { createServer, type Server } from 'node:http';

export interface ReceivedEvent {
  id: string;
  type: string;
  subject: string;
  body: unknown;
}

export interface EventSink {
  url: string;
  /** Every delivery, repeats included, in arrival order. */
  received: ReceivedEvent[];
  close(): Promise<void>;
}

/**
 * A CloudEvents receiver over real HTTP (binary mode, as Knative's broker takes them), for the tests where the
 * relay runs in another process or a delivery must cross a real socket. It accepts everything with a 202.
 */
export async function startEventSink(): Promise<EventSink> {
  const received: ReceivedEvent[] = [];
  const server: Server = createServer((request, response) => {
    let text = '';
    request.setEncoding('utf8');
    request.on('data', (chunk: string) => (text += chunk));
    request.on('end', () => {
      received.push({
        id: String(request.headers['ce-id']),
        type: String(request.headers['ce-type']),
        subject: String(request.headers['ce-subject']),
        body: text ? JSON.parse(text) : undefined,
      });
      response.writeHead(202).end();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}/`,
    received,
    close: async () => {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}
